"""Notifications pushed live to their user's sockets (embedded default: the jobs run inside serve)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
from starlette.testclient import TestClient

from orbitask.app import create_app
from orbitask.realtime.hub import Hub
from tests.conftest import make_settings
from tests.realtime.frames import receive
from tests.realtime.test_gateway import Client


def _next(ws: Any, kind: str, limit: int = 50) -> dict[str, Any]:
    for _ in range(limit):
        message = receive(ws)
        if message["type"] == kind:
            return message
        assert message["type"] in ("ping", "pong"), message  # nothing addressed to someone else
    raise AssertionError(f"no {kind} within {limit} messages")


def test_notifications_arrive_on_the_users_sockets_only(tmp_path: Path, template_db: Path) -> None:
    (tmp_path / "orbitask.db").write_bytes(template_db.read_bytes())
    settings = make_settings(tmp_path, worker_in_serve="auto", worker_poll_interval_seconds=0.05)
    assert settings.jobs_in_serve  # SQLite: `make run` runs the jobs in the serve process
    with TestClient(create_app(settings)) as http:
        alice, bob = Client(http, "alice"), Client(http, "bob")
        invite = alice.do("POST", f"/workspaces/{alice.workspace}/invitations", json={"role": "member"})
        bob.do("POST", f"/invitations/{invite['token']}/accept")
        board = alice.do("POST", f"/workspaces/{alice.workspace}/boards", json={"name": "B"})
        lst = alice.do("POST", f"/boards/{board['id']}/lists", json={"name": "L"})
        card = alice.do("POST", f"/lists/{lst['id']}/cards", json={"title": "Live"})
        email = alice.do("GET", "/me")["email"]
        with http.websocket_connect(f"/api/v1/ws?ticket={alice.ticket()}") as ws_alice, \
                http.websocket_connect(f"/api/v1/ws?ticket={bob.ticket()}") as ws_bob:
            bob.do("POST", f"/cards/{card['id']}/comments", json={"body": f"@{email} look"})
            pushed = _next(ws_alice, "notification")  # no subscription needed: it is addressed to Alice
            assert pushed["unread_count"] == 1
            note = pushed["notification"]
            assert (note["kind"], note["card_id"]) == ("mentioned", card["id"])
            assert "user_id" not in pushed

            alice.do("POST", "/notifications/read", json={"ids": [note["id"]]})  # e.g. in another tab
            read = _next(ws_alice, "notifications_read")
            assert (read["ids"], read["read"], read["unread_count"]) == ([note["id"]], True, 0)

            ws_bob.send_json({"type": "ping"})
            assert _next(ws_bob, "pong")["type"] == "pong"  # Bob got nothing of Alice's


class Sub:
    def __init__(self, user_id: uuid.UUID) -> None:
        self.user_id = user_id
        self.frames: list[str] = []
        self.offered: list[Any] = []

    def notify(self, frame: str) -> None:
        self.frames.append(frame)

    def offer(self, board_id: uuid.UUID, event: dict[str, Any], frame: str) -> None:
        self.offered.append(event)


async def test_hub_routes_user_messages_by_user() -> None:
    hub = Hub()
    me, other = uuid.uuid4(), uuid.uuid4()
    mine, mine_too, theirs = Sub(me), Sub(me), Sub(other)
    for sub in (mine, mine_too, theirs):
        hub.add_user(sub)
    board = uuid.uuid4()
    hub.add(board, uuid.uuid4(), theirs)
    event = {"type": "notification.created", "board_id": None, "workspace_id": str(uuid.uuid4()),
             "payload": {"user_id": str(me), "notification": {"id": "n1"}, "unread_count": 3}}
    await hub.dispatch(orjson.dumps(event))
    expected = {"type": "notification", "notification": {"id": "n1"}, "unread_count": 3}
    assert [orjson.loads(f) for f in mine.frames] == [expected] == [orjson.loads(f) for f in mine_too.frames]
    assert theirs.frames == [] and theirs.offered == []
    hub.remove_user(mine)
    hub.remove_user(mine_too)
    assert me not in hub.users
    await hub.dispatch(orjson.dumps(event))
    assert len(mine.frames) == 1
