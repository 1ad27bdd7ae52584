"""The WebSocket gateway in one process (embedded default): subscribe, replay, live events, bad input."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from orbitask.app import create_app
from tests.conftest import PASSWORD, make_settings
from tests.realtime.frames import receive


class Client:
    """A signed-in user driving the API synchronously."""

    def __init__(self, http: TestClient, name: str) -> None:
        self.http = http
        email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
        r = http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": name})
        assert r.status_code == 201, r.text
        self.id = r.json()["user"]["id"]
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        self.workspace = http.get("/api/v1/workspaces", headers=self.headers).json()["items"][0]["id"]

    def do(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, "/api/v1" + path, headers=self.headers, **kw)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def ticket(self) -> str:
        return self.do("POST", "/ws/tickets")["ticket"]

    def invite(self, other: Client, role: str = "guest") -> None:
        """Bring `other` into this user's workspace the only way there is: an invitation link they accept."""
        token = self.do("POST", f"/workspaces/{self.workspace}/invitations", json={"role": role})["token"]
        other.do("POST", f"/invitations/{token}/accept")


@pytest.fixture
def http(tmp_path: Path, template_db: Path) -> Iterator[TestClient]:
    shutil.copy(template_db, tmp_path / "orbitask.db")
    with TestClient(create_app(make_settings(tmp_path))) as client:
        yield client


@dataclass
class Until:
    """The message waited for and the ones passed over before it (heartbeats aside: they come on a timer)."""

    message: dict[str, Any]
    skipped: list[dict[str, Any]]

    def skipped_kinds(self) -> list[str]:
        """The types of the passed-over messages, in order."""
        return [m["type"] for m in self.skipped]

    def skipped_about(self, board_id: str) -> list[dict[str, Any]]:
        """The passed-over messages that concern `board_id`: its events, presence, errors."""
        return [m for m in self.skipped if board_id in (m.get("board_id"), m.get("event", {}).get("board_id"))]


def _until(ws: Any, kind: str, limit: int = 50) -> Until:
    """The next message of `kind`, with what came before it; tests assert on both."""
    skipped: list[dict[str, Any]] = []
    for _ in range(limit):
        message = receive(ws)
        if message["type"] == kind:
            return Until(message, skipped)
        assert message["type"] in ("ping", "event", "pong", "error", "presence"), message
        if message["type"] != "ping":
            skipped.append(message)
    raise AssertionError(f"no {kind} within {limit} messages")


def test_live_events_arrive_in_order_after_subscribe(http: TestClient) -> None:
    alice = Client(http, "alice")
    board = alice.do("POST", f"/workspaces/{alice.workspace}/boards", json={"name": "B"})
    with http.websocket_connect(f"/api/v1/ws?ticket={alice.ticket()}") as ws:
        ws.send_json({"type": "subscribe", "board_id": board["id"]})
        assert _until(ws, "subscribed").message["version"] == 1
        lst = alice.do("POST", f"/boards/{board['id']}/lists", json={"name": "L"})
        card = alice.do("POST", f"/lists/{lst['id']}/cards", json={"title": "C"})
        first, second = _until(ws, "event").message["event"], _until(ws, "event").message["event"]
        assert (first["type"], first["board_version"]) == ("list.created", 2)
        assert (second["type"], second["board_version"]) == ("card.created", 3)
        assert second["payload"]["card"]["id"] == card["id"]


def test_reconnect_with_after_version_replays_exactly_the_missed_events(http: TestClient) -> None:
    alice = Client(http, "alice")
    board = alice.do("POST", f"/workspaces/{alice.workspace}/boards", json={"name": "B"})
    lst = alice.do("POST", f"/boards/{board['id']}/lists", json={"name": "L"})
    for i in range(20):
        alice.do("POST", f"/lists/{lst['id']}/cards", json={"title": f"c{i}"})
    with http.websocket_connect(f"/api/v1/ws?ticket={alice.ticket()}") as ws:
        ws.send_json({"type": "subscribe", "board_id": board["id"], "after_version": 2})
        subscribed = _until(ws, "subscribed")
        assert subscribed.message["version"] == 22 and subscribed.skipped == []
        versions = [_until(ws, "event").message["event"]["board_version"] for _ in range(20)]
        assert versions == list(range(3, 23))
        ws.send_json({"type": "ping"})
        pong = _until(ws, "pong")
        assert set(pong.skipped_kinds()) <= {"presence"}, pong.skipped  # nothing else was queued: no duplicates


def test_subscriptions_to_unseen_boards_are_refused_like_404(http: TestClient) -> None:
    alice, mallory = Client(http, "alice"), Client(http, "mallory")
    board = alice.do("POST", f"/workspaces/{alice.workspace}/boards", json={"name": "Secret"})
    with http.websocket_connect(f"/api/v1/ws?ticket={mallory.ticket()}") as ws:
        for board_id in (board["id"], str(uuid.uuid4())):
            ws.send_json({"type": "subscribe", "board_id": board_id})
            error = _until(ws, "error")
            assert (error.message["code"], error.message["board_id"]) == ("not_found", board_id)
            assert error.skipped == []  # not a word about the board: no event, no presence


def test_removed_member_is_unsubscribed_at_once(http: TestClient) -> None:
    alice, bob = Client(http, "alice"), Client(http, "bob")
    alice.invite(bob)
    board = alice.do("POST", f"/workspaces/{alice.workspace}/boards", json={"name": "B", "visibility": "private"})
    alice.do("POST", f"/boards/{board['id']}/members", json={"user_id": bob.id, "role": "viewer"})
    with (http.websocket_connect(f"/api/v1/ws?ticket={bob.ticket()}") as ws,
          http.websocket_connect(f"/api/v1/ws?ticket={alice.ticket()}") as watcher):
        ws.send_json({"type": "subscribe", "board_id": board["id"]})
        _until(ws, "subscribed")
        alice.do("DELETE", f"/boards/{board['id']}/members/{bob.id}")
        gone = _until(ws, "unsubscribed").message
        assert (gone["board_id"], gone["reason"]) == (board["id"], "access_revoked")
        watcher.send_json({"type": "subscribe", "board_id": board["id"]})
        _until(watcher, "subscribed")
        alice.do("POST", f"/boards/{board['id']}/lists", json={"name": "after"})
        # the hub hands an event to every subscriber at once: once the watcher has it, so would bob
        assert _until(watcher, "event").message["event"]["type"] == "list.created"
        ws.send_json({"type": "ping"})
        pong = _until(ws, "pong")
        assert pong.skipped_about(board["id"]) == [], pong.skipped  # neither the list event nor presence


RACE_RUNS = 30


def _until_event(ws: Any, wanted: Callable[[dict[str, Any]], bool], limit: int = 50) -> dict[str, Any]:
    """The next event for which `wanted(event)` holds (other messages and events are passed over)."""
    for _ in range(limit):
        message = receive(ws)
        if message["type"] == "event" and wanted(message["event"]):
            return message["event"]
    raise AssertionError(f"no such event within {limit} messages")


@pytest.mark.parametrize("removed_from", ["board", "workspace"])
def test_no_event_written_after_a_removal_reaches_the_removed_member(http: TestClient, removed_from: str) -> None:
    """Remove bob, then at once write to the board, many times: bob never gets what was written after.

    The relay often hands the removal and the next event to the hub in one batch, one right after the
    other; a re-check of bob's access that only started then used to lose that race (most runs).
    """
    alice, bob = Client(http, "alice"), Client(http, "bob")
    board = alice.do("POST", f"/workspaces/{alice.workspace}/boards", json={"name": "B", "visibility": "private"})
    lst = alice.do("POST", f"/boards/{board['id']}/lists", json={"name": "L"})
    removal = (f"/boards/{board['id']}/members/{bob.id}" if removed_from == "board"
               else f"/workspaces/{alice.workspace}/members/{bob.id}")
    leaks: list[tuple[int, list[tuple[str, int]]]] = []
    with (http.websocket_connect(f"/api/v1/ws?ticket={bob.ticket()}") as ws,
          http.websocket_connect(f"/api/v1/ws?ticket={alice.ticket()}") as watcher):
        watcher.send_json({"type": "subscribe", "board_id": board["id"]})
        _until(watcher, "subscribed")
        for run in range(RACE_RUNS):
            if run == 0 or removed_from == "workspace":
                alice.invite(bob)
            alice.do("POST", f"/boards/{board['id']}/members", json={"user_id": bob.id, "role": "viewer"})
            ws.send_json({"type": "subscribe", "board_id": board["id"]})
            assert _until(ws, "subscribed").message["board_id"] == board["id"]
            alice.do("DELETE", removal)
            card = alice.do("POST", f"/lists/{lst['id']}/cards", json={"title": f"after removal {run}"})
            # the hub hands an event to every subscriber at once: once the watcher has the card, bob would too
            written = _until_event(watcher, lambda e, c=card: e["type"] == "card.created"
                                   and e["payload"]["card"]["id"] == c["id"])
            gone = _until(ws, "unsubscribed")
            assert (gone.message["board_id"], gone.message["reason"]) == (board["id"], "access_revoked")
            ws.send_json({"type": "ping"})
            pong = _until(ws, "pong")
            late = [(m["event"]["type"], m["event"]["board_version"]) for m in gone.skipped + pong.skipped
                    if m["type"] == "event" and m["event"]["board_version"] >= written["board_version"]]
            if late:
                leaks.append((run, late))
            assert [m for m in pong.skipped if m["type"] != "event"] == [], pong.skipped  # no presence either
    assert leaks == [], f"{len(leaks)} of {RACE_RUNS} runs sent bob events written after his removal: {leaks[:5]}"


def test_bad_frames_get_clear_errors_and_the_socket_survives(http: TestClient) -> None:
    alice = Client(http, "alice")
    with http.websocket_connect(f"/api/v1/ws?ticket={alice.ticket()}") as ws:
        ws.send_text("not json")
        ws.send_json(["a", "list"])
        ws.send_json({"type": "dance"})
        ws.send_json({"type": "subscribe", "board_id": "nope"})
        ws.send_json({"type": "subscribe", "board_id": str(uuid.uuid4()), "after_version": -1})
        ws.send_json({"type": "ping"})
        pong = _until(ws, "pong")  # one error per bad frame, in order, and the socket still answers
        assert [m.get("code") for m in pong.skipped] == ["malformed", "malformed", "unknown_type", "invalid", "invalid"]
        ws.send_text("x" * 100_000)
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(5):
                receive(ws)
        assert closed.value.code == 1009
    assert http.get("/api/v1/healthz").status_code == 200


def test_hundreds_of_subscriptions_are_capped(http: TestClient) -> None:
    from orbitask.realtime.gateway import MAX_SUBSCRIPTIONS

    alice = Client(http, "alice")
    boards = [alice.do("POST", f"/workspaces/{alice.workspace}/boards", json={"name": f"B{i}"})["id"]
              for i in range(MAX_SUBSCRIPTIONS + 1)]
    with http.websocket_connect(f"/api/v1/ws?ticket={alice.ticket()}") as ws:
        for board_id in boards[:MAX_SUBSCRIPTIONS]:
            ws.send_json({"type": "subscribe", "board_id": board_id})
            assert _until(ws, "subscribed").message["board_id"] == board_id
        ws.send_json({"type": "subscribe", "board_id": boards[-1]})
        assert _until(ws, "error").message["code"] == "too_many_subscriptions"
        for _ in range(200):  # unknown ids are refused one by one; the socket stays usable
            ws.send_json({"type": "subscribe", "board_id": str(uuid.uuid4())})
        ws.send_json({"type": "ping"})
        pong = _until(ws, "pong", limit=500)
        assert [m.get("code") for m in pong.skipped] == ["too_many_subscriptions"] * 200  # no subscription slipped in
    assert http.get("/api/v1/healthz").status_code == 200


def test_sockets_need_a_valid_ticket_or_cookie(http: TestClient) -> None:
    alice = Client(http, "alice")
    access = alice.headers["Authorization"].split()[1]
    for url in ("/api/v1/ws", "/api/v1/ws?ticket=garbage", f"/api/v1/ws?ticket={access}"):
        with pytest.raises(WebSocketDisconnect) as refused:
            with http.websocket_connect(url) as ws:
                receive(ws)
        assert refused.value.code == 1008
