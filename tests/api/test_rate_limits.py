"""Rate limits: sign-in per address and per e-mail, sign-up per address, the API per credentials and per
address. Past a limit: 429 `rate-limited` with Retry-After; others are unaffected; once the window has
moved past the requests everything passes again, and never twice the limit in one window. Time is moved
with a clock the limiter and the `limits` library both read, never slept. Each test runs with the windows
in the process and in Redis (`shared_state`)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from orbitask.app import create_app
from tests.conftest import PASSWORD, assert_problem, make_settings
from tests.sharedstate import (
    PREFIX,
    SharedState,
    fixture_shared_redis,  # noqa: F401 - a fixture
    fixture_shared_state,  # noqa: F401 - a fixture
)
from tests.unit.test_ratelimit_window import Clock, move_library_time

V1 = "/api/v1"
MINUTE = 1_800_000_000.0  # a multiple of 60: the start of a clock minute
NOW = MINUTE + 20
# Requests spent and refused at NOW: the next is allowed once NOW + 60 has passed, in whole seconds 61.
RETRY_AFTER = 61


class Limited:
    """An app with tiny limits, reachable from several client addresses."""

    def __init__(self, app: Any, state: SharedState, monkeypatch: pytest.MonkeyPatch) -> None:
        self.app = app
        self.state = state
        self.clock = Clock(NOW)
        app.state.runtime.limiter.clock = self.clock
        move_library_time(monkeypatch, self.clock)
        self._clients: dict[str, httpx.AsyncClient] = {}

    def ip(self, address: str) -> httpx.AsyncClient:
        """A client whose requests come from `address`."""
        if address not in self._clients:
            transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
            self._clients[address] = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        return self._clients[address]

    def retry_after_waiting(self) -> None:
        """As a client does that waits for Retry-After."""
        self.clock.now = NOW + RETRY_AFTER

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


@pytest.fixture
def limited(
    tmp_path: Path, template_db: Path, shared_state: SharedState, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    """Build an app with the given limit settings (SQLite: the limiter does not depend on the database)."""

    @asynccontextmanager
    async def build(**limits: int) -> AsyncIterator[Limited]:
        shutil.copy(template_db, tmp_path / "orbitask.db")
        app = create_app(make_settings(tmp_path, **limits, **shared_state.overrides))
        lifespan = LifespanManager(app)
        await lifespan.__aenter__()
        env = Limited(app, shared_state, monkeypatch)
        try:
            yield env
        finally:
            await env.aclose()
            # shut down as after a pass even when the test failed: LifespanManager cancels the app on an
            # error instead, which left its Redis listeners running and the test's event loop never closed
            await lifespan.__aexit__(None, None, None)

    return build


async def register(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(f"{V1}/auth/register", json={"email": email, "password": PASSWORD, "name": "N"})


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(f"{V1}/auth/login", json={"email": email, "password": password})


def assert_limited(r: httpx.Response, limit: str, retry_after: int = RETRY_AFTER) -> None:
    body = assert_problem(r, 429, "rate-limited")
    assert r.headers["Retry-After"] == str(retry_after)
    assert (body["limit"], body["retry_after"]) == (limit, retry_after)
    assert r.headers.get("x-request-id")


async def test_sign_in_is_limited_per_email_address(limited: Callable[..., Any]) -> None:
    async with limited(rate_limit_login_per_minute=3) as env:
        a = env.ip("10.0.0.1")
        assert (await register(a, "ann@example.com")).status_code == 201
        assert (await register(a, "bob@example.com")).status_code == 201
        for _ in range(3):  # a guesser gets three tries for ann
            assert_problem(await login(a, "ann@example.com", "wrong password"), 401, "unauthorized")
        assert_limited(await login(a, "ann@example.com", "wrong password"), "login_email")
        # from another address, and even with the right password: the account is the key
        assert_limited(await login(env.ip("10.0.0.2"), "ANN@example.com"), "login_email")
        # other accounts are unaffected, from the same address
        assert (await login(a, "bob@example.com")).status_code == 200
        env.state.assert_in_use(env.app.state.runtime, "rl")
        env.retry_after_waiting()
        assert (await login(a, "ann@example.com")).status_code == 200


async def test_sign_in_is_limited_per_client_address(limited: Callable[..., Any]) -> None:
    async with limited(rate_limit_login_ip_per_minute=3) as env:
        a, b = env.ip("10.0.0.1"), env.ip("10.0.0.2")
        assert (await register(b, "ann@example.com")).status_code == 201
        for i in range(3):  # one address trying many accounts
            assert_problem(await login(a, f"guess{i}@example.com"), 401, "unauthorized")
        assert_limited(await login(a, "ann@example.com"), "login_ip")
        assert (await login(b, "ann@example.com")).status_code == 200
        if env.state.redis:  # the region's log of the address's attempts; the refused one is not in it
            with env.state.client() as r:
                assert r.llen(f"{PREFIX}rl:login_ip/10.0.0.1/3/60/second") == 3
        env.retry_after_waiting()
        assert (await login(a, "ann@example.com")).status_code == 200


async def test_sign_up_is_limited_per_client_address(limited: Callable[..., Any]) -> None:
    async with limited(rate_limit_signup_per_minute=2) as env:
        a = env.ip("10.0.0.1")
        assert (await register(a, "one@example.com")).status_code == 201
        assert (await register(a, "two@example.com")).status_code == 201
        assert_limited(await register(a, "three@example.com"), "signup_ip")
        assert (await register(env.ip("10.0.0.2"), "four@example.com")).status_code == 201
        # sign-in is a different limit
        assert (await login(a, "one@example.com")).status_code == 200
        env.retry_after_waiting()
        assert (await register(a, "three@example.com")).status_code == 201


async def test_api_is_limited_per_user_and_per_api_token(limited: Callable[..., Any]) -> None:
    async with limited(rate_limit_api_per_minute=5) as env:
        a = env.ip("10.0.0.1")
        ann = {"Authorization": f"Bearer {(await register(a, 'ann@example.com')).json()['access_token']}"}
        bob = {"Authorization": f"Bearer {(await register(a, 'bob@example.com')).json()['access_token']}"}
        made = await a.post(f"{V1}/me/api-tokens", json={"name": "ci"}, headers=ann)  # ann's 1st request
        assert made.status_code == 201, made.text
        api_token = {"Authorization": f"Bearer {made.json()['token']}"}
        for _ in range(4):
            assert (await a.get(f"{V1}/me", headers=ann)).status_code == 200
        assert_limited(await a.get(f"{V1}/me", headers=ann), "api_token")
        assert_limited(await a.get(f"{V1}/workspaces", headers=ann), "api_token")  # every route counts
        # a new access token for ann (signing in counts per address, not per user) is still ann
        fresh = (await login(a, "ann@example.com")).json()["access_token"]
        assert_limited(await a.get(f"{V1}/me", headers={"Authorization": f"Bearer {fresh}"}), "api_token")
        # another user from the same address, and ann's personal API token, have their own counters
        assert (await a.get(f"{V1}/me", headers=bob)).status_code == 200
        assert (await a.get(f"{V1}/me", headers=api_token)).status_code == 200
        # health checks and metrics are never limited
        for path in ("/healthz", "/readyz", f"{V1}/healthz", f"{V1}/readyz", "/metrics"):
            assert (await a.get(path, headers=ann)).status_code == 200, path
        env.retry_after_waiting()
        assert (await a.get(f"{V1}/me", headers=ann)).status_code == 200


async def test_api_is_limited_per_client_address(limited: Callable[..., Any]) -> None:
    async with limited(rate_limit_api_ip_per_minute=4) as env:
        a, b = env.ip("10.0.0.1"), env.ip("10.0.0.2")
        for _ in range(4):
            assert_problem(await a.get(f"{V1}/me"), 401, "unauthorized")
        assert_limited(await a.get(f"{V1}/me"), "api_ip")
        assert_limited(await register(a, "ann@example.com"), "api_ip")
        assert (await a.get("/healthz")).status_code == 200
        assert (await register(b, "ann@example.com")).status_code == 201
        env.retry_after_waiting()
        assert (await login(a, "ann@example.com")).status_code == 200


async def test_limits_of_zero_are_off(limited: Callable[..., Any]) -> None:
    async with limited(rate_limit_login_per_minute=0, rate_limit_api_per_minute=0, rate_limit_api_ip_per_minute=0,
                       login_backoff_after=0) as env:
        a = env.ip("10.0.0.1")
        assert (await register(a, "ann@example.com")).status_code == 201
        for _ in range(25):
            assert_problem(await login(a, "ann@example.com", "wrong password"), 401, "unauthorized")
        # a limit that is off counts nothing; the sign-in and sign-up limits per address still count
        env.state.assert_in_use(env.app.state.runtime, "rl")
        assert {k.split("/")[0] for k in env.state.keys("rl")} <= {"login_ip", "signup_ip"}


async def test_refused_requests_do_no_work(limited: Callable[..., Any]) -> None:
    """A request past the API limit is refused before the app: no write happens."""
    async with limited(rate_limit_api_per_minute=3) as env:
        a = env.ip("10.0.0.1")
        ann = {"Authorization": f"Bearer {(await register(a, 'ann@example.com')).json()['access_token']}"}
        for i in range(3):
            r = await a.post(f"{V1}/workspaces", json={"name": f"W{i}"}, headers=ann)
            assert r.status_code == 201, r.text
        assert_limited(await a.post(f"{V1}/workspaces", json={"name": "W3"}, headers=ann), "api_token")
        env.retry_after_waiting()
        names = {w["name"] for w in (await a.get(f"{V1}/workspaces", headers=ann)).json()["items"]}
        assert "W3" not in names and {"W0", "W1", "W2"} <= names


async def test_an_allowance_spent_as_a_minute_ends_is_not_granted_again_as_the_next_begins(
    limited: Callable[..., Any],
) -> None:
    """No double burst: never more than the limit in any 60 s, whether windows would start on the clock's
    minute or at a client's first request."""
    async with limited(rate_limit_api_ip_per_minute=4) as env:
        a = env.ip("10.0.0.1")
        env.clock.now = MINUTE + 0.5  # one request early in a clock minute
        assert_problem(await a.get(f"{V1}/me"), 401, "unauthorized")
        env.clock.now = MINUTE + 59.5  # the rest of the allowance in its last half second
        for _ in range(3):
            assert_problem(await a.get(f"{V1}/me"), 401, "unauthorized")
        env.clock.now = MINUTE + 61  # a new clock minute, past a minute since the first request: room for one
        assert_problem(await a.get(f"{V1}/me"), 401, "unauthorized")
        assert_limited(await a.get(f"{V1}/me"), "api_ip", retry_after=59)  # the three leave after 119.5
        env.clock.now = MINUTE + 119
        assert_limited(await a.get(f"{V1}/me"), "api_ip", retry_after=1)
        env.clock.now = MINUTE + 120
        for _ in range(3):
            assert_problem(await a.get(f"{V1}/me"), 401, "unauthorized")
        assert_limited(await a.get(f"{V1}/me"), "api_ip", retry_after=2)  # the one at 61 leaves after 121
        env.state.assert_in_use(env.app.state.runtime, "rl")
