"""The `orbitask` command line, run as a real subprocess, and the demo data it seeds, read through the API."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from orbitask.app import create_app
from tests.conftest import make_settings
from tests.servers import orbitask_server

DEMO_PASSWORD = "demo-password-1"
ADA = "ada@demo.orbitask.dev"
GRACE = "grace@demo.orbitask.dev"
SECRET = "cli-test-secret-" + "s" * 40


def cli_env(data_dir: Path, **env: str) -> dict[str, str]:
    """The environment for a CLI run: no inherited ORBITASK_* settings, cheap hashing, the given data dir."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORBITASK_")}
    base.update(
        ORBITASK_DATA_DIR=str(data_dir), ORBITASK_ARGON2_MEMORY_COST="64", ORBITASK_ARGON2_TIME_COST="1",
        COLUMNS="200",  # keep rich from wrapping lines mid-message
    )
    base.update(env)
    return base


def run_cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m orbitask.cli ARGS` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "orbitask.cli", *args], env=cli_env(data_dir, **env), cwd=data_dir,
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A data dir after one `orbitask demo`, and that run's result."""
    data_dir = tmp_path_factory.mktemp("demo")
    return data_dir, run_cli(data_dir, "demo", "--password", DEMO_PASSWORD)


def test_demo_seeds_and_prints_the_users(seeded: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    _, result = seeded
    assert result.returncode == 0, result.stderr
    assert ADA in result.stdout and GRACE in result.stdout
    assert DEMO_PASSWORD in result.stdout
    assert "3 boards" in result.stdout


def test_demo_twice_reports_already_seeded(seeded: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    data_dir, first = seeded
    assert first.returncode == 0, first.stderr
    again = run_cli(data_dir, "demo", "--password", DEMO_PASSWORD)
    assert again.returncode == 0, again.stderr
    assert "already seeded" in again.stdout
    assert ADA in again.stdout and GRACE in again.stdout
    assert "3 boards" in again.stdout


def test_demo_again_with_another_password_says_so(seeded: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    data_dir, first = seeded
    assert first.returncode == 0, first.stderr
    again = run_cli(data_dir, "demo", "--password", "not-the-demo-password")
    assert again.returncode == 0, again.stderr
    assert "already seeded" in again.stdout
    assert "not-the-demo-password" not in again.stdout
    assert "password does not open" in again.stdout


def test_demo_refuses_a_too_short_password(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "demo", "--password", "short")
    assert result.returncode == 2
    assert "password" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_answers_with_the_chosen_services(tmp_path: Path) -> None:
    with orbitask_server(tmp_path, "--services", "auth,boards") as base:
        paths = httpx.get(f"{base}/api/openapi.json").json()["paths"]
        assert "/api/v1/auth/register" in paths and "/api/v1/workspaces/{workspace_id}/boards" in paths
        assert "/api/v1/lists/{list_id}/cards" not in paths  # tasks not mounted
        assert httpx.get(f"{base}/api/v1/readyz").json()["status"] == "ok"


def test_config_show_reads_services_as_a_comma_list(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "config", "show", ORBITASK_SERVICES="auth, tasks")
    assert result.returncode == 0, result.stderr
    assert "['auth', 'tasks']" in result.stdout


def test_config_show_masks_the_secret(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "config", "show", ORBITASK_SECRET_KEY=SECRET, ORBITASK_REGION="eu-west")
    assert result.returncode == 0, result.stderr
    assert "ORBITASK_SECRET_KEY" in result.stdout
    assert "********" in result.stdout
    assert "eu-west" in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_config_show_masks_the_database_password(tmp_path: Path) -> None:
    dsn = "mysql+asyncmy://orbitask:hunter2-db-pass@db.internal:3306/orbitask"
    result = run_cli(tmp_path, "config", "show", ORBITASK_DATABASE_URL=dsn)
    assert result.returncode == 0, result.stderr
    assert "db.internal" in result.stdout
    assert "hunter2-db-pass" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", [["config", "show"], ["serve", "--port", "1"]])
def test_production_refuses_to_start_without_a_secret(tmp_path: Path, command: list[str]) -> None:
    result = run_cli(tmp_path, *command, ORBITASK_ENV="production",
                     ORBITASK_DATABASE_URL="postgresql+psycopg://u:p@localhost/orbitask")
    assert result.returncode != 0
    assert "ORBITASK_SECRET_KEY" in result.stderr
    assert not (tmp_path / "secret.key").exists()


def test_production_refuses_a_weak_secret(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "config", "show", ORBITASK_ENV="production", ORBITASK_SECRET_KEY="changeme",
                     ORBITASK_DATABASE_URL="postgresql+psycopg://u:p@localhost/orbitask")
    assert result.returncode != 0
    assert "ORBITASK_SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_a_database_url(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "config", "show", ORBITASK_ENV="production", ORBITASK_SECRET_KEY=SECRET)
    assert result.returncode != 0
    assert "ORBITASK_DATABASE_URL" in result.stderr


# --- the seeded data, read through the API in-process -------------------------------------------------------


@pytest.fixture
async def demo_client(seeded: tuple[Path, subprocess.CompletedProcess[str]]) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on an app over the database `orbitask demo` seeded."""
    data_dir, result = seeded
    assert result.returncode == 0, result.stderr
    application = create_app(make_settings(data_dir))
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def sign_in(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def get(client: httpx.AsyncClient, headers: dict[str, str], path: str) -> Any:
    r = await client.get("/api/v1" + path, headers=headers)
    assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
    return r.json()


async def demo_workspace(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    workspaces = (await get(client, headers, "/workspaces"))["items"]
    return next(w for w in workspaces if w["name"] == "Orbitask demo")


async def test_demo_workspace_has_three_boards_and_both_users(demo_client: httpx.AsyncClient) -> None:
    ada = await sign_in(demo_client, ADA)
    workspace = await demo_workspace(demo_client, ada)
    assert workspace["role"] == "owner"
    boards = (await get(demo_client, ada, f"/workspaces/{workspace['id']}/boards"))["items"]
    assert sorted(b["name"] for b in boards) == ["Engineering sprint", "Marketing site", "Product launch"]
    members = await get(demo_client, ada, f"/workspaces/{workspace['id']}/members")
    assert {(m["user"]["email"], m["role"]) for m in members} == {(ADA, "owner"), (GRACE, "member")}

    grace = await sign_in(demo_client, GRACE)
    joined = await demo_workspace(demo_client, grace)
    assert joined["id"] == workspace["id"] and joined["role"] == "member"
    assert len((await get(demo_client, grace, f"/workspaces/{workspace['id']}/boards"))["items"]) == 3


async def test_demo_boards_are_full(demo_client: httpx.AsyncClient) -> None:
    ada = await sign_in(demo_client, ADA)
    workspace = await demo_workspace(demo_client, ada)
    boards = (await get(demo_client, ada, f"/workspaces/{workspace['id']}/boards"))["items"]
    now = dt.datetime.now(dt.UTC)
    cards: list[dict[str, Any]] = []
    for board in boards:
        snap = await get(demo_client, ada, f"/boards/{board['id']}")
        assert 3 <= len(snap["lists"]) <= 5
        assert snap["labels"] and all(label["color"] for label in snap["labels"])
        assert {m["user"]["email"] for m in snap["members"]} == {ADA, GRACE}
        label_ids = {label["id"] for label in snap["labels"]}
        for column in snap["lists"]:
            in_list = [c for c in snap["cards"] if c["list_id"] == column["id"]]
            assert 4 <= len(in_list) <= 8, column["name"]
        for card in snap["cards"]:
            assert set(card["label_ids"]) <= label_ids
        cards += snap["cards"]

    def due(card: dict[str, Any]) -> dt.datetime:
        return dt.datetime.fromisoformat(card["due_at"])

    assert len(cards) >= 36
    assert any(c["label_ids"] for c in cards)
    assert any(c["assignee_ids"] for c in cards)
    assert any(c["description"].startswith("#") for c in cards)  # markdown
    assert any(c["checklist_total"] > 0 for c in cards)
    assert any(0 < c["checklist_done"] < c["checklist_total"] for c in cards)
    assert any(c["comment_count"] > 0 for c in cards)
    assert any(c["completed"] for c in cards)
    dated = [c for c in cards if c["due_at"]]
    assert any(due(c) < now and not c["completed"] for c in dated)  # overdue
    assert any(now < due(c) < now + dt.timedelta(days=3) for c in dated)  # due soon


async def test_demo_comments_mention_the_other_user(demo_client: httpx.AsyncClient) -> None:
    ada = await sign_in(demo_client, ADA)
    me = await get(demo_client, ada, "/me")
    workspace = await demo_workspace(demo_client, ada)
    boards = (await get(demo_client, ada, f"/workspaces/{workspace['id']}/boards"))["items"]
    mentions: list[str] = []
    for board in boards:
        snap = await get(demo_client, ada, f"/boards/{board['id']}")
        for card in (c for c in snap["cards"] if c["comment_count"]):
            for comment in (await get(demo_client, ada, f"/cards/{card['id']}/comments"))["items"]:
                mentions += comment["mentions"]
    assert me["id"] in mentions  # Grace mentions @ada
    assert any(m != me["id"] for m in mentions)  # and Ada mentions @grace


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"])
def test_db_commands_migrate_a_server_database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """`orbitask db upgrade|current|check` against a real server named by ORBITASK_DATABASE_URL."""
    server = request.getfixturevalue(f"{backend}_server")
    name = f"cli_{uuid.uuid4().hex[:8]}"
    if backend == "mariadb":
        server.sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    else:
        server.sql(f"CREATE DATABASE {name}")
    env = {"ORBITASK_DATABASE_URL": server.url(name)}
    before = run_cli(tmp_path, "db", "current", **env)
    assert before.returncode == 0, before.stderr
    assert "(head)" not in before.stdout
    upgraded = run_cli(tmp_path, "db", "upgrade", **env)
    assert upgraded.returncode == 0, upgraded.stderr
    after = run_cli(tmp_path, "db", "current", **env)
    assert "(head)" in after.stdout, after.stdout + after.stderr
    checked = run_cli(tmp_path, "db", "check", **env)
    assert checked.returncode == 0, checked.stderr
    assert "agree" in checked.stderr
    assert "orbitask-test-pw" not in upgraded.stdout + upgraded.stderr + after.stdout + after.stderr
