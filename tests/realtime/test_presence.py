"""Presence in one process: who is viewing a board, told to its subscribers.

Each test runs with presence in the process (embedded default) and in Redis (`shared_state`: the store,
and the bus that announces changes)."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from starlette.testclient import TestClient

from orbitask.app import create_app
from orbitask.core.failopen import RedisGuard
from orbitask.core.presence import MemoryPresence, Presence, RedisPresence, member_of
from tests.conftest import make_settings
from tests.realtime.frames import receive
from tests.realtime.test_gateway import Client, _until
from tests.sharedstate import PREFIX, SharedState, fixture_shared_redis, fixture_shared_state  # noqa: F401

WAIT_S = 10.0


@pytest.fixture
def http(tmp_path: Path, template_db: Path, shared_state: SharedState) -> Iterator[TestClient]:
    shutil.copy(template_db, tmp_path / "orbitask.db")
    app = create_app(make_settings(tmp_path, **shared_state.overrides))
    # every change must arrive by its announcement: the periodic re-read behind a shared bus (a backstop for
    # lost pub/sub messages, see test_redis_outage) would otherwise hide a lost one after a while
    app.state.presence.sweep_s = 3600
    with TestClient(app) as client:
        shared_state.wait_subscribed("presence")  # announcements made before would be lost
        yield client


def presence(ws: Any, board_id: str, users: list[str], timeout: float = WAIT_S) -> list[dict[str, Any]]:
    """Wait (bounded by a deadline) until the socket's latest presence for the board lists exactly `users`.

    Each round sends a ping and reads up to its pong, so a read never blocks on a message that
    will not come. Returns the presence messages seen.
    """
    seen: list[dict[str, Any]] = []
    latest: list[str] | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws.send_json({"type": "ping"})
        while True:
            message = receive(ws)
            if message["type"] == "pong":
                break
            if message["type"] == "presence" and message["board_id"] == board_id:
                seen.append(message)
                latest = message["users"]
        if latest == sorted(users):
            return seen
    raise AssertionError(f"presence on {board_id} is {latest}, expected {sorted(users)}")


def subscribe(ws: Any, board_id: str) -> dict[str, Any]:
    ws.send_json({"type": "subscribe", "board_id": board_id})
    return _until(ws, "subscribed").message


def shared_board(alice: Client, bob: Client) -> str:
    """A private board of alice's that bob, a guest of her workspace (by invitation), may edit."""
    invitation = alice.do("POST", f"/workspaces/{alice.workspace}/invitations", json={"role": "guest"})
    bob.do("POST", f"/invitations/{invitation['token']}/accept")
    board = alice.do("POST", f"/workspaces/{alice.workspace}/boards", json={"name": "B", "visibility": "private"})
    alice.do("POST", f"/boards/{board['id']}/members", json={"user_id": bob.id, "role": "editor"})
    return board["id"]


def test_two_viewers_see_each_other_and_a_leaver_disappears(http: TestClient, shared_state: SharedState) -> None:
    alice, bob = Client(http, "alice"), Client(http, "bob")
    board = shared_board(alice, bob)
    with http.websocket_connect(f"/api/v1/ws?ticket={alice.ticket()}") as a:
        subscribe(a, board)
        first = presence(a, board, [alice.id])
        assert first[0] == {"type": "presence", "board_id": board, "users": [alice.id]}
        with http.websocket_connect(f"/api/v1/ws?ticket={bob.ticket()}") as b:
            subscribe(b, board)
            presence(b, board, [alice.id, bob.id])
            presence(a, board, [alice.id, bob.id])
            shared_state.assert_in_use(http.app.state.runtime, "presence")  # type: ignore[attr-defined]
            if shared_state.redis:  # one sorted set per board, a member per socket
                with shared_state.client() as r:
                    members = r.zrange(f"{PREFIX}presence:{board}", 0, -1)
                assert sorted(m.decode().split("/")[0] for m in members) == sorted([alice.id, bob.id])
            b.send_json({"type": "unsubscribe", "board_id": board})
            _until(b, "unsubscribed")
            presence(a, board, [alice.id])
            subscribe(b, board)
            presence(a, board, [alice.id, bob.id])
            b.close()  # bob's socket closed without unsubscribing
            presence(a, board, [alice.id])
        a.send_json({"type": "ping"})
        assert _until(a, "pong").message["type"] == "pong"


def test_a_user_with_two_sockets_is_listed_once_until_both_leave(http: TestClient) -> None:
    alice, bob = Client(http, "alice"), Client(http, "bob")
    board = shared_board(alice, bob)
    with http.websocket_connect(f"/api/v1/ws?ticket={alice.ticket()}") as watcher:
        subscribe(watcher, board)
        with http.websocket_connect(f"/api/v1/ws?ticket={bob.ticket()}") as tab1:
            subscribe(tab1, board)
            with http.websocket_connect(f"/api/v1/ws?ticket={bob.ticket()}") as tab2:
                subscribe(tab2, board)
                presence(tab2, board, [alice.id, bob.id])
                tab2.close()
                # one tab closed: bob is still there; the unchanged list is not sent again
                seen = presence(watcher, board, [alice.id, bob.id])
                assert [m["users"] for m in seen].count([alice.id, bob.id]) == 1
            tab1.close()
            presence(watcher, board, [alice.id])


def test_presence_follows_access(http: TestClient) -> None:
    alice, bob, mallory = Client(http, "alice"), Client(http, "bob"), Client(http, "mallory")
    board = shared_board(alice, bob)
    with http.websocket_connect(f"/api/v1/ws?ticket={alice.ticket()}") as a, \
            http.websocket_connect(f"/api/v1/ws?ticket={bob.ticket()}") as b, \
            http.websocket_connect(f"/api/v1/ws?ticket={mallory.ticket()}") as m:
        subscribe(a, board)
        subscribe(b, board)
        presence(a, board, [alice.id, bob.id])
        # a board mallory cannot see: refused, and she does not appear on it
        m.send_json({"type": "subscribe", "board_id": board})
        assert _until(m, "error").message["code"] == "not_found"
        # bob loses access: he is unsubscribed and leaves the presence list
        alice.do("DELETE", f"/boards/{board}/members/{bob.id}")
        assert _until(b, "unsubscribed").message["reason"] == "access_revoked"
        presence(a, board, [alice.id])


async def test_presence_entries_expire_unless_refreshed(shared_state: SharedState) -> None:
    now = [1000.0]
    client = aioredis.Redis.from_url(shared_state.server.url) if shared_state.server is not None else None
    store: Presence = (
        RedisPresence(RedisGuard(client), PREFIX + "presence:", ttl_seconds=60, clock=lambda: now[0]) if client
        else MemoryPresence(ttl_seconds=60, clock=lambda: now[0])
    )
    board = uuid.uuid4()
    ann, bob, cid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        assert await store.join(board, member_of(ann, "s1")) == [str(ann)]
        assert await store.join(board, member_of(bob, "s2")) == sorted([str(ann), str(bob)])
        now[0] += 40
        assert await store.touch([board], member_of(ann, "s1")) == []  # nothing expired yet
        assert shared_state.keys("presence") == ([str(board)] if client else [])
        now[0] += 30  # bob's socket went silent 70 s ago; ann refreshed 30 s ago
        assert await store.users(board) == [str(ann)]
        assert await store.join(board, member_of(cid, "s3")) == sorted([str(ann), str(cid)])
        now[0] += 40  # ann silent for 70 s now
        assert await store.touch([board], member_of(cid, "s3")) == [board]  # her entry dropped: a change
        assert await store.users(board) == [str(cid)]
        await store.leave(board, member_of(cid, "s3"))
        assert await store.users(board) == []
    finally:
        if client is not None:
            await client.aclose()
