"""The delivery pipeline: a synth step that runs only what deployment needs on pinned runtimes, a staging copy
with a smoke test, a manual approval, then production one region at a time with bake time on its alarms."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.cdk import DEPLOY_AWS, ROOT, Synthesised, import_app, resources, text
from tests.servers import free_port, orbitask_server

BUILDSPEC = DEPLOY_AWS / "buildspec"
PRIMARY, *SECONDARIES = ("us-east-1", "eu-west-1", "ap-southeast-1")
SCRIPT_RE = re.compile(r"deploy/aws/[\w/.-]+\.sh")


def builds(synth: Synthesised) -> dict[str, dict[str, Any]]:
    """Each CodeBuild project of the pipeline: its buildspec (parsed) and environment variables."""
    out = {}
    for logical_id, project in resources(synth, "delivery", "AWS::CodeBuild::Project").items():
        props = project["Properties"]
        env = {v["Name"]: v["Value"] for v in props["Environment"].get("EnvironmentVariables", [])}
        out[logical_id] = {"spec": json.loads(props["Source"]["BuildSpec"]), "env": env,
                           "image": props["Environment"]["Image"], "timeout": props.get("TimeoutInMinutes", 60)}
    return out


def commands(spec: dict[str, Any]) -> list[str]:
    """Every command of a buildspec, phase by phase."""
    return [c for phase in spec["phases"].values() for c in phase.get("commands", [])]


def run_text(spec: dict[str, Any]) -> str:
    """A buildspec's commands and the code (comments left out) of every repository script they run."""
    cmds = commands(spec)
    scripts = [ROOT / path for c in cmds for path in SCRIPT_RE.findall(c)]
    code = [line for s in scripts for line in s.read_text().splitlines() if not line.lstrip().startswith("#")]
    return "\n".join([*cmds, *code])


def pipeline_actions(synth: Synthesised) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The pipeline's stage names in order, and each action by name (with its stage and run order)."""
    (pipeline,) = resources(synth, "delivery", "AWS::CodePipeline::Pipeline").values()
    stages = pipeline["Properties"]["Stages"]
    actions = {a["Name"]: {**a, "stage": s["Name"]} for s in stages for a in s["Actions"]}
    return [s["Name"] for s in stages], actions


def project_of(action: dict[str, Any]) -> str:
    """The logical id of the CodeBuild project a pipeline action runs."""
    return action["Configuration"]["ProjectName"]["Ref"]


def test_no_build_runs_make_test_or_installs_system_packages(synth: Synthesised) -> None:
    everything = {logical_id: run_text(b["spec"]) for logical_id, b in builds(synth).items()}
    for logical_id, ran in everything.items():
        for banned in ("make test", "make ", "apt-get", "apt install", "chromium", "snap install"):
            assert banned not in ran, f"{logical_id} runs {banned!r}"
    _, actions = pipeline_actions(synth)
    synth_step = everything[project_of(actions["Synth"])]
    # the deployment checks and the app's synthesis, from the [aws] extra at the repository's pins
    assert "pip install" in synth_step and "-e '.[aws]'" in synth_step
    assert "pytest tests/deploy" in synth_step and "app.py --image-tag" in synth_step
    assert "npm" not in synth_step  # the web bundle is built where it is published (PublishWeb)


def test_every_build_runs_on_pinned_runtimes_and_cli_versions(synth: Synthesised) -> None:
    import aws_cdk

    delivery = import_app().delivery
    all_builds = builds(synth)
    assert len(all_builds) >= 10
    for logical_id, b in all_builds.items():
        assert b["spec"]["phases"]["install"]["runtime-versions"] == {"python": "3.11", "nodejs": "20"}, logical_id
        assert b["image"] == "aws/codebuild/standard:7.0", logical_id
    installs = "\n".join(c for b in all_builds.values() for c in b["spec"]["phases"]["install"].get("commands", []))
    assert f"aws-cdk@{delivery.CDK_CLI_VERSION}" in installs and f"cdk-assets@{delivery.CDK_ASSETS_VERSION}" in installs
    assert not re.search(r"(aws-cdk|cdk-assets)(@(latest|2|2\.x))?(\s|$)", installs), installs
    # the CLI the pinned aws-cdk-lib is developed against (a new aws-cdk-lib needs its CLI here too)
    jsii = next((Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz"))
    with tarfile.open(jsii) as tar:
        package = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
    assert package["devDependencies"]["aws-cdk"].lstrip("^~") == delivery.CDK_CLI_VERSION
    # the same runtimes as the image the services run
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    assert "python:3.11." in dockerfile and "node:20." in dockerfile


def test_stages_run_staging_then_approval_then_the_writer_region_then_each_secondary(synth: Synthesised) -> None:
    names, actions = pipeline_actions(synth)
    assert names.index("Build") < names.index("Staging") < names.index("Approval") < names.index("Production")
    (approval,) = [a for a in actions.values() if a["stage"] == "Approval"]
    assert approval["ActionTypeId"] == {"Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1"}
    staging = {n: a["RunOrder"] for n, a in actions.items() if a["stage"] == "Staging"}
    # a one-region copy under its own names: BuildImage, migrations, its stacks, then the smoke test
    assert {n for n in staging if n.endswith(".Deploy")} == {"stg-orbitask-global.Deploy",
                                                            f"stg-orbitask-{PRIMARY}.Deploy"}
    assert (staging["BuildImage"] < staging["MigrateStaging"] < staging[f"stg-orbitask-{PRIMARY}.Deploy"]
            < staging["MigrateStagingAfterDeploy"] < staging["SmokeTest"])
    production = {n: a["RunOrder"] for n, a in actions.items() if a["stage"] == "Production"}
    waves = [PRIMARY, *SECONDARIES]
    sequence = ["Migrate", "orbitask-global.Deploy"]
    for region in waves:
        sequence += [f"orbitask-{region}.Deploy", f"orbitask-{region}.Bake"]
    sequence += ["MigrateAfterDeploy", "PublishWeb"]
    assert [production[n] for n in sequence] == sorted(production[n] for n in sequence)
    assert len({production[n] for n in sequence}) == len(sequence)  # one after another, never two at once
    assert not any(n.startswith("orbitask-") for n in staging) and not any(n.startswith("stg-") for n in production)


def test_the_staging_smoke_test_reads_readyz_and_healthz_from_the_staging_region(synth: Synthesised) -> None:
    _, actions = pipeline_actions(synth)
    smoke = builds(synth)[project_of(actions["SmokeTest"])]
    assert smoke["env"]["ORBITASK_URL"] == f"https://{PRIMARY}.staging.api.orbitask.example.com"
    ran = run_text(smoke["spec"])
    assert "curl --fail" in ran and "/readyz" in ran and "/api/v1/healthz" in ran


def smoke(url: str) -> subprocess.CompletedProcess[str]:
    """Run smoke.sh against URL without retries."""
    return subprocess.run(["bash", str(BUILDSPEC / "smoke.sh")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "ORBITASK_URL": url, "ORBITASK_SMOKE_RETRIES": "0"})


def test_the_smoke_test_passes_against_a_running_orbitask_and_fails_without_one(tmp_path: Path) -> None:
    with orbitask_server(tmp_path) as url:
        passed = smoke(url)
    assert passed.returncode == 0, passed.stderr
    assert f"<- {url}/readyz" in passed.stdout and f"<- {url}/api/v1/healthz" in passed.stdout
    failed = smoke(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    assert failed.returncode != 0 and "<-" not in failed.stdout


def test_staging_is_a_one_region_demo_copy_that_production_names_do_not_reach(synth: Synthesised) -> None:
    staging = import_app().delivery.staging_config(synth.cfg)
    assert staging.profile == "demo" and staging.regions == (PRIMARY,) and staging.name == "stg-orbitask"
    assert staging.account == synth.cfg.account and staging.image_tag == synth.cfg.image_tag
    assert staging.domain == "staging.app.orbitask.example.com"
    # production's `orbitask-*` grants and ECR's `orbitask` replication prefix never match a staging name
    assert not staging.name.startswith(synth.cfg.name)
    repositories = {r["Properties"]["RepositoryName"] for r in resources(synth, "delivery", "AWS::ECR::Repository")
                    .values()}
    assert repositories == {"orbitask", "stg-orbitask"}
    _, actions = pipeline_actions(synth)
    build = builds(synth)[project_of(actions["BuildImage"])]
    assert "stage-image.sh" in run_text(build["spec"]) and "ORBITASK_STAGING_REPOSITORY" in build["env"]


@pytest.mark.parametrize("region", [PRIMARY, *SECONDARIES])
def test_each_wave_bakes_on_its_own_regions_alarms(synth: Synthesised, region: str) -> None:
    _, actions = pipeline_actions(synth)
    bake = builds(synth)[project_of(actions[f"orbitask-{region}.Bake"])]
    names = bake["env"]["ORBITASK_ALARMS"].split()
    expected = {f"orbitask-{region}-{a}" for a in ("5xx", "latency-p99", "replication-lag", "failover-errors")}
    assert set(names) == expected
    defined = {a["Properties"].get("AlarmName") for a in resources(synth, region, "AWS::CloudWatch::Alarm").values()}
    assert expected <= defined  # the region's stack defines every alarm the wave waits on
    assert int(bake["env"]["ORBITASK_BAKE_MINUTES"]) >= 10 and bake["timeout"] > int(bake["env"]["ORBITASK_BAKE_MINUTES"])
    assert commands(bake["spec"])[-1] == f"bash deploy/aws/buildspec/bake.sh {region}"
    # its role may read exactly these alarms
    policies = text([p["Properties"]["PolicyDocument"] for p in resources(synth, "delivery", "AWS::IAM::Policy")
                     .values() if "cloudwatch:DescribeAlarms" in text(p)])
    for name in expected:
        assert f"arn:aws:cloudwatch:{region}:123456789012:alarm:{name}" in policies


def bake(tmp_path: Path, states: dict[str, str], alarms: list[str]) -> subprocess.CompletedProcess[str]:
    """Run bake.sh for no bake minutes with an `aws` on PATH that answers describe-alarms with STATES."""
    fake = tmp_path / "aws"
    rows = "\n".join(f"{name}\t{state}" for name, state in states.items())
    fake.write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'cloudwatch describe-alarms' ] || exit 3\nprintf '%s\\n' '{rows}'\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
           "ORBITASK_ALARMS": " ".join(alarms), "ORBITASK_BAKE_MINUTES": "0"}
    return subprocess.run(["bash", str(BUILDSPEC / "bake.sh"), "eu-west-1"], env=env, capture_output=True,
                          text=True, timeout=60)


def test_the_bake_step_fails_on_an_alarm_in_alarm_or_a_missing_alarm(tmp_path: Path) -> None:
    alarms = ["orbitask-eu-west-1-5xx", "orbitask-eu-west-1-latency-p99"]
    ok = bake(tmp_path, {alarms[0]: "OK", alarms[1]: "INSUFFICIENT_DATA"}, alarms)
    assert ok.returncode == 0, ok.stderr
    firing = bake(tmp_path, {alarms[0]: "OK", alarms[1]: "ALARM"}, alarms)
    assert firing.returncode == 1 and "orbitask-eu-west-1-latency-p99" in firing.stderr
    missing = bake(tmp_path, {alarms[0]: "OK"}, alarms)
    assert missing.returncode == 1 and "found 1 of the 2" in missing.stderr


def test_the_pipeline_build_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck is in the [aws] extra: .venv/bin/pip install -e '.[dev,aws]' (make test does this)"
    scripts = sorted(BUILDSPEC.glob("*.sh"))
    assert {s.name for s in scripts} == {"synth.sh", "bake.sh", "smoke.sh", "stage-image.sh"}
    result = subprocess.run([shellcheck, *map(str, scripts)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
