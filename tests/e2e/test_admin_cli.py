"""`orbitask admin users ...` run as real subprocesses against the database and Redis an app serves from:
a disabled account's access token and API token stop at their next request, and enabling lets it sign in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from orbitask.app import create_app
from tests.conftest import PASSWORD, make_settings
from tests.e2e.test_cli import run_cli
from tests.redisserver import RedisServer
from tests.sharedstate import fixture_shared_redis  # noqa: F401 - the fixture

V1 = "/api/v1"


async def test_admin_users_commands(tmp_path: Path, shared_redis: RedisServer) -> None:
    redis_url = shared_redis.url
    settings = make_settings(tmp_path, redis_url=redis_url)
    cli: Any = lambda *args: run_cli(tmp_path, "admin", "users", *args, ORBITASK_REDIS_URL=redis_url)  # noqa: E731

    made = cli("create", "--email", "Ops@Example.com", "--name", "Ops", "--admin")
    assert made.returncode == 0, made.stderr
    assert "/reset-password/" in made.stdout  # a one-time password-set link, not a password
    assert cli("create", "--email", "ops@example.com", "--name", "Ops").returncode == 1  # taken

    app = create_app(settings)
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                       base_url="http://testserver") as client:
        r = await client.post(f"{V1}/auth/register", json={"email": "dee@example.com", "password": PASSWORD,
                                                           "name": "Dee"})
        assert r.status_code == 201, r.text
        access = {"Authorization": f"Bearer {r.json()['access_token']}"}
        token = (await client.post(f"{V1}/me/api-tokens", json={"name": "ci"}, headers=access)).json()["token"]
        api = {"Authorization": f"Bearer {token}"}
        assert (await client.get(f"{V1}/me", headers=access)).status_code == 200

        listed = cli("list")
        assert listed.returncode == 0, listed.stderr
        assert "ops@example.com" in listed.stdout and "dee@example.com" in listed.stdout

        assert cli("disable", "dee@example.com").returncode == 0
        assert (await client.get(f"{V1}/workspaces", headers=access)).status_code == 401  # not /me: it reads the account
        assert (await client.get(f"{V1}/workspaces", headers=api)).status_code == 401
        login = {"email": "dee@example.com", "password": PASSWORD}
        assert (await client.post(f"{V1}/auth/login", json=login)).status_code == 401
        assert "disabled" in cli("list").stdout

        assert cli("enable", "dee@example.com").returncode == 0
        assert (await client.post(f"{V1}/auth/login", json=login)).status_code == 200
        link = cli("reset-link", "dee@example.com")
        assert link.returncode == 0 and "/reset-password/" in link.stdout

    for command in ("disable", "enable", "reset-link"):
        unknown = cli(command, "nobody@example.com")
        assert unknown.returncode == 1 and "No account has the address" in unknown.stderr, unknown.stderr
