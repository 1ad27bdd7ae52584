"""With Redis configured, a Redis crash degrades features but never fails a request.

One process in-process (TestClient) against a real redis-server. Before the crash the Redis
implementations are in use (counters, cache entries, revocations, presence live in Redis);
while Redis is dead, sign-in (rate limits fail open), board snapshots (cache miss path),
writes, sign-out and WebSocket subscriptions (presence empty) all keep answering, each Redis
call failing open (counted, answered with its default) instead of failing the request;
after Redis restarts on the same port, empty, every feature works again without a restart.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from orbitask.app import create_app
from orbitask.core.observability import REDIS_FAILURES
from tests.conftest import PASSWORD, make_settings
from tests.realtime.frames import receive
from tests.realtime.test_gateway import Client
from tests.realtime.test_presence import presence, shared_board
from tests.redisserver import RedisServer

LOGIN_LIMIT = 3
RECOVERY_S = 15.0
FEATURES = ("cache", "presence", "ratelimit", "revocation")  # the Redis guard's operations, by prefix


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http(tmp_path: Path, template_db: Path, redis_server: RedisServer) -> Iterator[TestClient]:
    shutil.copy(template_db, tmp_path / "orbitask.db")
    settings = make_settings(tmp_path, redis_url=redis_server.url, rate_limit_login_per_minute=LOGIN_LIMIT)
    app = create_app(settings)
    # Try Redis on every call instead of pausing after a failure, so each feature's error path runs.
    app.state.runtime.limiter.guard.pause_s = 0
    app.state.presence.sweep_s = 0.5  # announcements published while the listener reconnects are lost
    with TestClient(app) as client:
        yield client


def next_of(ws: Any, kind: str, limit: int = 50) -> dict[str, Any]:
    """The next message of `kind`; other kinds (heartbeats, presence) are passed over, at most `limit`."""
    for _ in range(limit):
        message = receive(ws)
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} within {limit} messages")


def subscribe(ws: Any, board_id: str) -> dict[str, Any]:
    ws.send_json({"type": "subscribe", "board_id": board_id})
    return next_of(ws, "subscribed")


def keys(server: RedisServer, kind: str) -> list[bytes]:
    """Keys Orbitask keeps in Redis for one feature (cache, rl, revoked, presence)."""
    with redis.Redis.from_url(server.url) as r:
        return list(r.scan_iter(f"orbitask:local:{kind}:*"))


def failed_open() -> dict[str, float]:
    """Redis calls answered fail-open so far (orbitask_redis_failures_total), per feature."""
    totals = dict.fromkeys(FEATURES, 0.0)
    for sample in REDIS_FAILURES.collect()[0].samples:
        if sample.name.endswith("_total"):
            feature = sample.labels["op"].split(".")[0]
            totals[feature] = totals.get(feature, 0.0) + sample.value
    return totals


class Calls:
    """HTTP calls that must all answer below 500."""

    def __init__(self, http: TestClient) -> None:
        self.http = http
        self.seen: list[tuple[str, str, int]] = []

    def __call__(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        self.seen.append((method, path, r.status_code))
        return r

    def login(self, email: str) -> Any:
        return self("POST", "/api/v1/auth/login", json={"email": email, "password": PASSWORD})

    def check(self) -> None:
        failed = [s for s in self.seen if s[2] >= 500]
        assert not failed, failed


def test_a_redis_crash_degrades_features_but_never_fails_requests(
    http: TestClient, redis_server: RedisServer
) -> None:
    alice, bob = Client(http, "alice"), Client(http, "bob")
    board = shared_board(alice, bob)
    lst = alice.do("POST", f"/boards/{board}/lists", json={"name": "L"})
    call = Calls(http)
    alice_email = http.get("/api/v1/me", headers=alice.headers).json()["email"]
    bob_email = http.get("/api/v1/me", headers=bob.headers).json()["email"]

    # --- Redis up: every feature lives in Redis ----------------------------------------------
    for _ in range(LOGIN_LIMIT):
        assert call.login(alice_email).status_code == 200
    assert call.login(alice_email).status_code == 429
    assert keys(redis_server, "rl")
    assert call("GET", f"/api/v1/boards/{board}", headers=alice.headers).status_code == 200
    assert keys(redis_server, "cache")
    session = call.login(bob_email).json()
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    assert call("POST", "/api/v1/auth/logout", headers=bearer).status_code == 204
    assert call("GET", "/api/v1/me", headers=bearer).status_code == 401
    assert keys(redis_server, "revoked")
    with http.websocket_connect(f"/api/v1/ws?ticket={alice.ticket()}") as a:
        subscribe(a, board)
        with http.websocket_connect(f"/api/v1/ws?ticket={bob.ticket()}") as b:
            subscribe(b, board)
            presence(b, board, [alice.id, bob.id])
            presence(a, board, [alice.id, bob.id])
            assert keys(redis_server, "presence")

            # --- Redis crashes ------------------------------------------------------------------
            before = failed_open()
            redis_server.kill()
            a.send_json({"type": "ping"})  # open sockets stay up
            next_of(a, "pong")
        a.send_json({"type": "unsubscribe", "board_id": board})
        assert next_of(a, "unsubscribed")["board_id"] == board

    # sign-in: the limit that refused alice a moment ago fails open
    for _ in range(LOGIN_LIMIT + 2):
        assert call.login(alice_email).status_code == 200
    # writes, and snapshots of new versions (nothing cached for them anywhere: the miss path)
    for i in range(3):
        r = call("POST", f"/api/v1/lists/{lst['id']}/cards", json={"title": f"during {i}"}, headers=alice.headers)
        assert r.status_code == 201, r.text
        snap = call("GET", f"/api/v1/boards/{board}", headers=alice.headers)
        assert snap.status_code == 200 and f"during {i}" in snap.text
    assert call("GET", f"/api/v1/boards/{board}/events?after_version=0", headers=alice.headers).status_code == 200
    # sign-out still answers; revocations are not checked meanwhile (documented trade-off)
    fresh = call.login(bob_email).json()
    assert call("POST", "/api/v1/auth/logout", headers={"Authorization": f"Bearer {fresh['access_token']}"},
                json={"refresh_token": fresh["refresh_token"]}).status_code == 204
    # ready, but degraded
    ready = call("GET", "/api/v1/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "degraded", ready.text
    assert ready.json()["checks"]["redis"].startswith("error")
    # sockets: subscribing works, and nobody appears present
    ticket = call("POST", "/api/v1/ws/tickets", headers=alice.headers)
    assert ticket.status_code == 201
    with http.websocket_connect(f"/api/v1/ws?ticket={ticket.json()['ticket']}") as a:
        assert subscribe(a, board)["board_id"] == board
        assert presence(a, board, [])[-1]["users"] == []
    call.check()
    # every feature met the outage and was answered by the guard's fail-open path
    during = failed_open()
    assert [f for f in FEATURES if during[f] <= before[f]] == [], (before, during)

    # --- Redis is back (empty): everything works again --------------------------------------
    redis_server.restart()
    deadline = time.monotonic() + RECOVERY_S
    while call("GET", "/api/v1/readyz").json()["checks"]["redis"] != "ok":
        assert time.monotonic() < deadline, "readyz did not see Redis again"
        time.sleep(0.05)  # polling a restarting dependency, bounded by the deadline
    refused = None
    while refused is None:  # the limit applies again (the guard may skip Redis for a moment first)
        assert time.monotonic() < deadline, "rate limits did not resume"
        r = call.login(alice_email)
        if r.status_code == 429:
            refused = r
        time.sleep(0.02)
    assert refused.json()["type"].endswith("/rate-limited") and int(refused.headers["Retry-After"]) >= 1
    assert call("POST", f"/api/v1/lists/{lst['id']}/cards", json={"title": "after"},
                headers=alice.headers).status_code == 201
    assert call("GET", f"/api/v1/boards/{board}", headers=alice.headers).status_code == 200
    assert keys(redis_server, "cache")
    session = call.login(bob_email).json()
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    assert call("POST", "/api/v1/auth/logout", headers=bearer).status_code == 204
    assert call("GET", "/api/v1/me", headers=bearer).status_code == 401
    with http.websocket_connect(f"/api/v1/ws?ticket={alice.ticket()}") as a, \
            http.websocket_connect(f"/api/v1/ws?ticket={bob.ticket()}") as b:
        subscribe(a, board)
        subscribe(b, board)
        presence(b, board, [alice.id, bob.id], timeout=RECOVERY_S)
        presence(a, board, [alice.id, bob.id], timeout=RECOVERY_S)
    call.check()


def test_events_written_while_redis_was_down_reach_open_sockets_when_it_returns(
    http: TestClient, redis_server: RedisServer
) -> None:
    alice = Client(http, "alice")
    board = alice.do("POST", f"/workspaces/{alice.workspace}/boards", json={"name": "B"})["id"]
    lst = alice.do("POST", f"/boards/{board}/lists", json={"name": "L"})
    with http.websocket_connect(f"/api/v1/ws?ticket={alice.ticket()}") as ws:
        version = subscribe(ws, board)["version"]
        redis_server.kill()
        titles = [alice.do("POST", f"/lists/{lst['id']}/cards", json={"title": f"t{i}"})["title"] for i in range(3)]
        redis_server.restart()
        # No further write: the bus listener's re-subscription makes the socket read the log.
        got = [next_of(ws, "event", limit=8)["event"] for _ in titles]
    assert [e["board_version"] for e in got] == [version + 1, version + 2, version + 3]
    assert [e["payload"]["card"]["title"] for e in got] == titles
