"""With Redis configured, a request's rate limits and its credential's revocation check cost ONE round trip
to Redis together, and a cached board snapshot at most one GET more; the limits still refuse at their
count, as the `limits` library's moving window does, and a revocation still refuses the next request.

Round trips are counted at the client: the app's connection pool makes `Counting` connections, each of
which notes the commands of every write it sends while a test records (a pipeline of N commands is one
write, one round trip). Connection set-up and health-check PINGs are not the request's work and are left
out. A real redis-server (tests/sharedstate.py's, emptied per test) and the app in-process on SQLite.
"""

from __future__ import annotations

import math
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from asgi_lifespan import LifespanManager
from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio.connection import Connection

from orbitask.app import create_app
from orbitask.core import context
from orbitask.core.cache import MemoryCache
from orbitask.core.failopen import RedisGuard
from orbitask.core.ratelimit import Limit, RedisRateLimiter
from orbitask.core.revocation import RedisRevocations
from tests.conftest import PASSWORD, Api, assert_problem, make_settings
from tests.redisserver import RedisServer
from tests.sharedstate import PREFIX, fixture_shared_redis, redis_failures  # noqa: F401 - a fixture
from tests.unit.test_ratelimit_window import Clock, move_library_time

V1 = "/api/v1"
NOW = 1_800_000_020.0
# a request with an access token: the script and its LINDEX per limit (per address, per user), then an
# EXISTS per name that would revoke the token (its id, its sign-in)
LIMITS_AND_CHECK = ["EVALSHA", "LINDEX", "EVALSHA", "LINDEX", "EXISTS", "EXISTS"]

# the writes sent to Redis while a test records, each as its commands' names; None: not recording
SENT: ContextVar[list[list[str]] | None] = ContextVar("sent", default=None)
HOUSEKEEPING = {"PING", "HELLO", "CLIENT", "SELECT", "AUTH"}


def _name(args: tuple[Any, ...]) -> str:
    first = args[0]
    return (first.decode() if isinstance(first, bytes) else str(first)).split()[0].upper()


class Counting(Connection):
    """A redis-py connection that notes what each of its writes carried, for the recording test."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._packed: list[str] = []

    def pack_command(self, *args: Any) -> list[bytes]:  # a pipeline's pack_commands calls it for each command
        self._packed.append(_name(args))
        return super().pack_command(*args)

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        names, self._packed = self._packed, []
        sent = SENT.get()
        if sent is not None and names and not set(names) <= HOUSEKEEPING:
            sent.append(names)
        await super().send_packed_command(command, check_health)


async def round_trips(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, list[list[str]]]:
    """The response, and the writes to Redis made while serving it."""
    sent: list[list[str]] = []
    token = SENT.set(sent)
    try:
        response = await request
    finally:
        SENT.reset(token)
    return response, sent


@pytest.fixture
def limits() -> dict[str, int]:
    """Rate-limit settings of the app under test (a test parametrizes `limits` to change them)."""
    return {}


@pytest.fixture
async def app(
    tmp_path: Path, template_db: Path, shared_redis: RedisServer, limits: dict[str, int]
) -> AsyncIterator[Any]:
    with redis.Redis.from_url(shared_redis.url) as r:
        r.flushall()
    shutil.copy(template_db, tmp_path / "orbitask.db")
    application = create_app(make_settings(tmp_path, redis_url=shared_redis.url, **limits))
    application.state.runtime.redis.connection_pool.connection_class = Counting  # before any connection
    failures = redis_failures()
    async with LifespanManager(application):
        yield application
    # fail open would hide a broken pipeline behind "allowed" and "not revoked"
    assert redis_failures() == failures, "a Redis call failed and was answered fail-open (see the warnings)"


@pytest.fixture
async def api(app: Any) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client)




def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_move_and_a_cached_snapshot_ask_redis_once_for_their_limits_and_revocation_check(
    api: Api, app: Any
) -> None:
    alice = await api.user("alice")
    board = await api.board(alice)
    lst = await api.list(alice, board["id"])
    a, b = await api.card(alice, lst["id"], "a"), await api.card(alice, lst["id"], "b")
    await api.ok(alice, "GET", f"/boards/{board['id']}")  # built and cached, here and in Redis

    r, sent = await round_trips(api.call(alice, "GET", f"/boards/{board['id']}"))
    assert r.status_code == 200 and r.json()["cards"]
    assert sent == [LIMITS_AND_CHECK]  # the body from this process's cache
    app.state.runtime.cache.local = MemoryCache()  # as another process of the region sees it
    r, sent = await round_trips(api.call(alice, "GET", f"/boards/{board['id']}"))
    assert r.status_code == 200 and r.json()["cards"]
    assert sent == [LIMITS_AND_CHECK, ["GET"]]  # and the body from Redis

    r, sent = await round_trips(
        api.call(alice, "POST", f"/cards/{a['id']}/move", json={"list_id": lst["id"], "after_id": b["id"]})
    )
    assert r.status_code == 200, r.text
    assert sent == [LIMITS_AND_CHECK]
    # without credentials: the per-address limit alone
    r, sent = await round_trips(api.client.get(f"{V1}/boards/{board['id']}"))
    assert_problem(r, 401, "unauthorized")
    assert sent == [["EVALSHA", "LINDEX"]]


@pytest.mark.parametrize("limits", [{"rate_limit_api_per_minute": 3}])
async def test_the_limits_still_refuse_at_their_count_from_that_round_trip(api: Api, app: Any) -> None:
    clock = Clock(NOW)
    app.state.runtime.limiter.clock = clock
    alice = await api.user("alice")  # one request with her token (her workspaces)
    for _ in range(2):
        r, sent = await round_trips(api.call(alice, "GET", "/me"))
        assert r.status_code == 200 and sent == [LIMITS_AND_CHECK]
    r, sent = await round_trips(api.call(alice, "GET", "/me"))
    body = assert_problem(r, 429, "rate-limited")
    assert (body["limit"], r.headers["Retry-After"]) == ("api_token", "61")  # all three at NOW: past NOW + 60
    assert sent == [LIMITS_AND_CHECK]
    assert (await api.call(await api.user("bob"), "GET", "/me")).status_code == 200  # others go on
    clock.now = NOW + 61
    assert (await api.call(alice, "GET", "/me")).status_code == 200


async def test_a_revocation_refuses_the_next_request_at_once(
    api: Api, app: Any, shared_redis: RedisServer
) -> None:
    alice = await api.user("alice")
    r = await api.client.post(f"{V1}/auth/login", json={"email": alice.email, "password": PASSWORD})
    elsewhere = bearer(r.json()["access_token"])  # her other sign-in
    assert (await api.client.post(f"{V1}/auth/logout", headers=alice.headers)).status_code == 204

    r, sent = await round_trips(api.client.get(f"{V1}/me", headers=alice.headers))
    assert "revoked" in assert_problem(r, 401, "unauthorized")["detail"]
    assert sent == [LIMITS_AND_CHECK]  # answered by the limits' round trip
    as_cookie = {"Cookie": f"orbitask_access={alice.access_token}"}
    r, sent = await round_trips(api.client.get(f"{V1}/me", headers=as_cookie))
    assert "revoked" in assert_problem(r, 401, "unauthorized")["detail"]
    assert sent == [LIMITS_AND_CHECK]
    assert (await api.client.get(f"{V1}/me", headers=elsewhere)).status_code == 200

    # another process of the region signs bob out: his next request here is refused
    bob = await api.user("bob")
    assert (await api.client.get(f"{V1}/me", headers=bob.headers)).status_code == 200
    claims = app.state.runtime.tokens.verify(bob.access_token)
    with redis.Redis.from_url(shared_redis.url) as other:
        other.set(f"{PREFIX}revoked:fam:{claims['fam']}", b"1", ex=60)
    assert "revoked" in assert_problem(await api.client.get(f"{V1}/me", headers=bob.headers), 401)["detail"]


async def test_after_redis_lost_its_scripts_the_limits_load_the_script_again(
    api: Api, app: Any, shared_redis: RedisServer
) -> None:
    """A restarted Redis has no scripts: the request is sent again once the script is loaded, counted once."""
    alice = await api.user("alice")
    with redis.Redis.from_url(shared_redis.url) as r:
        r.script_flush()
    r, sent = await round_trips(api.call(alice, "GET", "/me"))
    assert r.status_code == 200
    assert sent == [LIMITS_AND_CHECK, ["SCRIPT"], LIMITS_AND_CHECK]
    r, sent = await round_trips(api.call(alice, "GET", "/me"))
    assert r.status_code == 200 and sent == [LIMITS_AND_CHECK]
    with redis.Redis.from_url(shared_redis.url) as r:
        logged = r.llen(f"{PREFIX}rl:api_token/u:{alice.id}/1200/60/second")
    assert logged == 3  # her workspaces and two /me: the refused send logged nothing


async def test_a_revocation_made_by_the_request_is_seen_by_its_later_checks(shared_redis: RedisServer) -> None:
    client = aioredis.Redis.from_url(shared_redis.url)
    revocations = RedisRevocations(RedisGuard(client), f"t{uuid.uuid4().hex[:6]}:")
    limiter = RedisRateLimiter(RedisGuard(client), "rl-test:")
    state, reset = context.begin()
    try:
        await limiter.hit([Limit("api_ip", "10.0.0.1", 10)], along=revocations.riding(["jti:a", "fam:b"]))
        assert not await revocations.any_revoked(["jti:a", "fam:b"])
        await revocations.revoke("fam:b", 60)
        assert await revocations.any_revoked(["jti:a", "fam:b"])
    finally:
        context.end(reset)
        await client.aclose()


async def test_the_windows_answer_as_the_library_moving_window_does(
    shared_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same requests at the same times: the same verdicts, waits and logs as the library's own calls."""
    clock = Clock(NOW)
    move_library_time(monkeypatch, clock)
    client = aioredis.Redis.from_url(shared_redis.url)
    await client.flushall()
    ours = RedisRateLimiter(RedisGuard(client), "ours:", clock)
    library = MovingWindowRateLimiter(RedisStorage(
        "async+redis://", implementation="redispy", key_prefix="lib", connection_pool=client.connection_pool,
    ))
    limit = Limit("api_ip", "10.0.0.1", 3)
    item = RateLimitItemPerSecond(3, 60, namespace="api_ip")
    verdicts = []
    try:
        for t in (0, 1, 1.5, 2, 30, 59.9, 60.2, 61, 61.2, 62, 100, 121.5, 125, 200):
            clock.now = NOW + t
            verdict = await ours.hit([limit])
            allowed = await library.hit(item, "10.0.0.1")
            verdicts.append(verdict.allowed)
            assert verdict.allowed == allowed, t
            if not allowed:
                reset = (await library.get_window_stats(item, "10.0.0.1")).reset_time
                assert verdict.retry_after == max(1, math.floor(reset - clock.now) + 1), t
        key = item.key_for("10.0.0.1")
        assert await client.lrange(f"ours:{key}", 0, -1) == await client.lrange(f"lib:{key}", 0, -1)
    finally:
        await client.aclose()
    assert verdicts.count(False) >= 4  # the sequence did meet the limit, more than once
