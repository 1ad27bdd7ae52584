"""Outbox events, consistency tokens, idempotent retries and concurrent writers."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import uuid
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from orbitask.app import create_app
from orbitask.core.events import REGISTRY, Event
from orbitask.core.observability import READ_FALLBACK
from orbitask.core.tokens import ConsistencyToken
from tests.conftest import PASSWORD, TRELLO_FIXTURE, Api, make_settings


def _replicate(src: Any, dst: Any) -> None:
    """Bring the fake replica up to the writer's committed state (SQLite online backup)."""
    with sqlite3.connect(src) as source, sqlite3.connect(dst) as target:
        source.backup(target)


async def _all_events(app: Any) -> list[Event]:
    async with app.state.runtime.db.read_session() as session:
        return list((await session.execute(select(Event).order_by(Event.seq))).scalars())


async def test_every_event_type_is_emitted_with_its_schema(api: Api, app: Any) -> None:
    """Drive every command once; each registered event type appears and its payload validates."""
    owner = await api.user("Owner")
    other = await api.user("Other")
    await api.join(owner, other, "member")
    ws = owner.workspace_id
    await api.ok(owner, "PATCH", f"/workspaces/{ws}", json={"name": "Renamed"})
    await api.ok(owner, "PATCH", f"/workspaces/{ws}/members/{other.id}", json={"role": "admin"})
    board = await api.board(owner)
    bid = board["id"]
    await api.ok(owner, "PATCH", f"/boards/{bid}", json={"name": "Roadmap"})
    await api.ok(owner, "POST", f"/boards/{bid}/members", json={"user_id": str(other.id), "role": "viewer"})
    await api.ok(owner, "PATCH", f"/boards/{bid}/members/{other.id}", json={"role": "editor"})
    lst = await api.list(owner, bid, "Doing")
    spare = await api.list(owner, bid, "Spare")
    await api.ok(owner, "PATCH", f"/lists/{lst['id']}", json={"name": "Doing now"})
    await api.ok(owner, "POST", f"/lists/{spare['id']}/move", json={"before_id": lst["id"]})
    label = await api.ok(owner, "POST", f"/boards/{bid}/labels", json={"name": "bug", "color": "red"})
    await api.ok(owner, "PATCH", f"/labels/{label['id']}", json={"color": "#ff0000"})
    card = await api.card(owner, lst["id"], "Ship it")
    cid = card["id"]
    await api.ok(owner, "PATCH", f"/cards/{cid}", json={"completed": True})
    await api.ok(owner, "POST", f"/cards/{cid}/move", json={"list_id": spare["id"]})
    await api.ok(owner, "POST", f"/cards/{cid}/assignees/{other.id}")
    await api.ok(owner, "DELETE", f"/cards/{cid}/assignees/{other.id}")
    await api.ok(owner, "POST", f"/cards/{cid}/labels/{label['id']}")
    await api.ok(owner, "DELETE", f"/cards/{cid}/labels/{label['id']}")
    await api.ok(owner, "DELETE", f"/cards/{cid}/watch")
    await api.ok(owner, "PUT", f"/cards/{cid}/watch")
    checklist = await api.ok(owner, "POST", f"/cards/{cid}/checklists", json={"title": "Steps"})
    item = await api.ok(owner, "POST", f"/checklists/{checklist['id']}/items", json={"text": "one"})
    await api.ok(owner, "PATCH", f"/checklist-items/{item['id']}", json={"done": True})
    await api.ok(owner, "DELETE", f"/checklist-items/{item['id']}")
    comment = await api.ok(owner, "POST", f"/cards/{cid}/comments", json={"body": "hi"})
    await api.ok(owner, "PATCH", f"/comments/{comment['id']}", json={"body": "hello"})
    await api.ok(owner, "DELETE", f"/comments/{comment['id']}")
    await api.ok(owner, "POST", f"/imports/trello?workspace_id={ws}", content=TRELLO_FIXTURE.read_bytes())
    attachment = await api.ok(owner, "POST", f"/cards/{cid}/attachments", files={"file": ("a.txt", b"hello")})
    await api.ok(owner, "DELETE", f"/attachments/{attachment['id']}")
    await api.ok(owner, "DELETE", f"/cards/{cid}")
    await api.ok(owner, "POST", f"/cards/{cid}/restore")
    await api.ok(owner, "DELETE", f"/cards/{cid}")
    await api.ok(owner, "DELETE", f"/labels/{label['id']}")
    await api.ok(owner, "DELETE", f"/lists/{spare['id']}")
    await api.ok(owner, "POST", f"/lists/{spare['id']}/restore")
    await api.ok(owner, "DELETE", f"/lists/{spare['id']}")
    await api.ok(owner, "DELETE", f"/boards/{bid}/members/{other.id}")
    await api.ok(owner, "DELETE", f"/boards/{bid}")
    await api.ok(owner, "DELETE", f"/workspaces/{ws}/members/{other.id}")
    await api.ok(owner, "DELETE", f"/workspaces/{ws}")

    await api.client.post("/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD})  # a second sign-in
    await api.ok(owner, "POST", "/auth/sessions/revoke-others")
    events = await _all_events(app)
    # background jobs emit these: tests/notifications/test_inapp.py checks them the same way
    by_jobs = {t for t in REGISTRY if t.startswith(("notification.", "reminder."))}
    assert {e.type for e in events} == set(REGISTRY) - by_jobs
    for event in events:
        REGISTRY[event.type].model_validate(event.payload)
        assert event.region == "local"
    board_events = [e for e in events if e.board_id == uuid.UUID(bid)]
    assert [e.board_version for e in board_events] == list(range(1, len(board_events) + 1))
    assert board_events[-1].type == "board.deleted"


async def test_write_responses_carry_a_token_naming_their_last_event(api: Api, app: Any) -> None:
    alice = await api.user()
    board = await api.board(alice)
    r = await api.call(alice, "POST", f"/boards/{board['id']}/lists", json={"name": "A"}, expect=201)
    token = ConsistencyToken.decode(r.headers["X-Orbitask-Token"])
    assert token is not None
    last = (await _all_events(app))[-1]
    assert (token.seq, token.event_id) == (last.seq, last.id)
    assert last.type == "list.created"
    # a write with no event of its own (an API token) still names the newest event
    r = await api.call(alice, "POST", "/me/api-tokens", json={"name": "ci"}, expect=201)
    assert ConsistencyToken.decode(r.headers["X-Orbitask-Token"]) == token


async def test_idempotent_post_replays_first_response_and_creates_nothing(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    lst = await api.list(alice, board["id"])
    key = {"Idempotency-Key": "card-create-1"}
    first = await api.call(alice, "POST", f"/lists/{lst['id']}/cards", json={"title": "Once"}, headers=key, expect=201)
    again = await api.call(alice, "POST", f"/lists/{lst['id']}/cards", json={"title": "Once"}, headers=key, expect=201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Orbitask-Token"] == first.headers["X-Orbitask-Token"]
    snap = await api.ok(alice, "GET", f"/boards/{board['id']}")
    assert [c["title"] for c in snap["cards"]] == ["Once"]
    assert snap["version"] == 3
    reused = await api.call(alice, "POST", f"/lists/{lst['id']}/cards", json={"title": "Other"}, headers=key)
    assert reused.status_code == 422
    assert reused.json()["type"].endswith("idempotency-key-reused")
    # keys are scoped per user: Bob's identical key is a new request
    bob = await api.user()
    r = await api.call(bob, "POST", f"/lists/{lst['id']}/cards", json={"title": "Once"}, headers=key)
    assert r.status_code == 404


async def test_a_retry_sent_the_moment_the_answer_arrives_is_replayed(api: Api, app: Any) -> None:
    """The response is stored before its last byte leaves: an instant retry replays it, never 'in progress'."""
    alice = await api.user()
    board = await api.board(alice)
    path = f"/boards/{board['id']}/lists"
    key = {"Idempotency-Key": "instant-1"}
    retries: list[httpx.Response] = []

    async def client_that_retries_at_once(scope: Any, receive: Any, send: Any) -> None:
        async def send_then_retry(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                retries.append(await api.call(alice, "POST", path, json={"name": "L"}, headers=key))

        await app(scope, receive, send_then_retry)

    transport = httpx.ASGITransport(app=client_that_retries_at_once)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as eager:
        first = await eager.post("/api/v1" + path, json={"name": "L"}, headers={**alice.headers, **key})
    assert first.status_code == 201, first.text
    [again] = retries
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()


async def test_a_response_that_cannot_be_stored_still_reaches_the_client(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command whose answer is not known before its commit: storing it for replay fails after the command
    committed, the client still gets its answer (it is held back only until the store is over), and a retry
    is told the request is known."""
    from orbitask.core.idempotency import IdempotencyMiddleware

    alice = await api.user()
    board = await api.board(alice)
    key = {"Idempotency-Key": "unstored-1"}

    async def broken_store(*_: Any) -> None:
        raise RuntimeError("the writer went away")

    async def unknown_before_commit(*_: Any) -> None:
        return None

    monkeypatch.setattr("orbitask.core.uow.answer_before_commit", unknown_before_commit)
    monkeypatch.setattr(IdempotencyMiddleware, "_store", broken_store)
    first = await api.call(alice, "POST", f"/boards/{board['id']}/lists", json={"name": "L"}, headers=key, expect=201)
    assert first.json()["name"] == "L"
    monkeypatch.undo()
    again = await api.call(alice, "POST", f"/boards/{board['id']}/lists", json={"name": "L"}, headers=key)
    assert again.status_code == 409 and again.json()["type"].endswith("idempotency-in-progress")
    snap = await api.ok(alice, "GET", f"/boards/{board['id']}")
    assert [x["name"] for x in snap["lists"]] == ["L"]


async def test_failed_command_does_not_burn_the_idempotency_key(api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    lst = await api.list(alice, board["id"])
    key = {"Idempotency-Key": "k-2"}
    bad = await api.call(alice, "POST", f"/lists/{lst['id']}/cards", json={"title": ""}, headers=key)
    assert bad.status_code == 422
    good = await api.call(alice, "POST", f"/lists/{lst['id']}/cards", json={"title": ""}, headers=key)
    assert good.status_code == 422 and "Idempotent-Replayed" not in good.headers
    bad_key = await api.call(alice, "POST", f"/lists/{lst['id']}/cards", json={"title": "x"},
                             headers={"Idempotency-Key": "x" * 300})
    assert bad_key.status_code == 400


async def test_concurrent_creates_and_moves_keep_versions_gapless(api: Api) -> None:
    """50 concurrent writers on one board: versions 1..N without gaps, nothing lost."""
    alice = await api.user()
    board = await api.board(alice)
    lists = [await api.list(alice, board["id"], f"L{i}") for i in range(2)]
    seed = [await api.card(alice, lists[0]["id"], f"seed{i}") for i in range(5)]

    async def create(i: int) -> Any:
        return await api.call(alice, "POST", f"/lists/{lists[i % 2]['id']}/cards", json={"title": f"c{i}"})

    async def move(i: int) -> Any:
        card = seed[i % len(seed)]
        return await api.call(alice, "POST", f"/cards/{card['id']}/move", json={"list_id": lists[(i + 1) % 2]["id"]})

    results = await asyncio.gather(*[create(i) if i % 2 else move(i) for i in range(50)])
    assert all(r.status_code < 300 for r in results), [r.text for r in results if r.status_code >= 300]
    events = await api.events(alice, board["id"])
    versions = [e["board_version"] for e in events]
    assert versions == list(range(1, len(versions) + 1))
    assert len(versions) == 1 + 2 + 5 + 50
    snap = await api.ok(alice, "GET", f"/boards/{board['id']}")
    assert snap["version"] == versions[-1]
    assert len(snap["cards"]) == 5 + 25
    titles = {c["title"] for c in snap["cards"]}
    assert {f"c{i}" for i in range(1, 50, 2)} <= titles
    per_list: dict[str, list[str]] = {}
    for c in snap["cards"]:
        per_list.setdefault(c["list_id"], []).append(c["position"])
    for positions in per_list.values():
        assert len(positions) == len(set(positions)), "two cards share a position"


async def test_reads_with_a_token_never_see_an_older_replica(tmp_path: Any, template_db: Any) -> None:
    """Reader and writer are separate files: the reader is a stale copy, like a lagging replica."""
    writer_dir, reader_dir = tmp_path / "w", tmp_path / "r"
    writer_dir.mkdir()
    reader_dir.mkdir()
    shutil.copy(template_db, writer_dir / "orbitask.db")
    shutil.copy(template_db, reader_dir / "orbitask.db")
    settings = make_settings(
        writer_dir,
        database_url=f"sqlite+aiosqlite:///{writer_dir / 'orbitask.db'}",
        database_reader_url=f"sqlite+aiosqlite:///{reader_dir / 'orbitask.db'}",
        read_wait_timeout_seconds=0.2,
    )
    app = create_app(settings)
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            api = Api(client)
            alice = await api.user()
            board = await api.board(alice)
            assert (await api.ok(alice, "GET", f"/boards/{board['id']}"))["board"]["id"] == board["id"]
            # the "replica" stops here: it holds the board but none of the later writes
            _replicate(writer_dir / "orbitask.db", reader_dir / "orbitask.db")
            r = await api.call(alice, "POST", f"/boards/{board['id']}/lists", json={"name": "Fresh"}, expect=201)
            token = r.headers["X-Orbitask-Token"]

            stale = await api.ok(alice, "GET", f"/boards/{board['id']}", headers={"X-Orbitask-Token": ""})
            assert stale["lists"] == []  # no token: the replica's older state is allowed
            fresh = await api.ok(alice, "GET", f"/boards/{board['id']}", headers={"X-Orbitask-Token": token})
            assert [x["name"] for x in fresh["lists"]] == ["Fresh"]  # waited, then read the writer

            # once the replica catches up, the same token is served by the replica itself
            assert READ_FALLBACK._value.get() >= 1
            _replicate(writer_dir / "orbitask.db", reader_dir / "orbitask.db")
            fallbacks = READ_FALLBACK._value.get()
            caught_up = await api.ok(alice, "GET", f"/boards/{board['id']}", headers={"X-Orbitask-Token": token})
            assert [x["name"] for x in caught_up["lists"]] == ["Fresh"]
            assert READ_FALLBACK._value.get() == fallbacks  # served by the replica, no fallback
            garbage = await api.call(alice, "GET", f"/boards/{board['id']}", headers={"X-Orbitask-Token": "nonsense"})
            assert garbage.status_code == 200


async def test_outbox_rows_commit_with_their_change_or_not_at_all(api: Api, app: Any) -> None:
    alice = await api.user()
    board = await api.board(alice)
    before = len(await _all_events(app))
    r = await api.call(alice, "POST", f"/boards/{board['id']}/lists", json={"name": "x", "after_id": str(uuid.uuid4())})
    assert r.status_code == 422
    assert len(await _all_events(app)) == before
    async with app.state.runtime.db.read_session() as session:
        count = await session.scalar(select(func.count()).select_from(Event).where(Event.type == "list.created"))
    assert count == 0


# route -> (request body, the answer's field that is shown once)
SHOWN_ONCE: dict[str, tuple[dict[str, Any], str]] = {
    "/me/api-tokens": ({"name": "ci"}, "token"),
    "/workspaces/{ws}/invitations": ({"role": "member"}, "token"),
    "/me/calendar-feed": ({}, "url"),
    "/workspaces/{ws}/webhooks": ({"url": "http://127.0.0.1:9/hook"}, "secret"),
}


@pytest.mark.parametrize("route", list(SHOWN_ONCE))
async def test_responses_holding_secrets_are_not_kept_for_replay(api: Api, app: Any, route: str) -> None:
    """A secret shown once (API token, invitation link, calendar-feed URL, webhook signing secret): a retry
    learns it was created, without the secret being stored for 24 hours or shown a second time."""
    from orbitask.core.idempotency import IdempotencyRecord

    app.state.runtime.settings.webhook_allowed_networks = ["127.0.0.1/32"]  # a target no delivery is made to
    alice = await api.user()
    body, field = SHOWN_ONCE[route]
    path = route.format(ws=alice.workspace_id)
    key = {"Idempotency-Key": "secret-1"}
    first = await api.call(alice, "POST", path, json=body, headers=key, expect=201)
    secret = first.json()[field]
    assert secret
    again = await api.call(alice, "POST", path, json=body, headers=key, expect=409)
    assert again.json()["type"].endswith("idempotency-response-withheld")
    assert secret not in again.text
    async with app.state.runtime.db.read_session() as session:
        stored = (await session.execute(select(IdempotencyRecord))).scalars().all()
    assert len(stored) == 1 and not stored[0].response_body
    assert secret not in str(stored[0].response_headers)


async def test_a_key_whose_response_was_lost_says_the_change_was_applied(api: Api, app: Any) -> None:
    """The command committed but the process died before storing its answer: no endless 'in progress'."""
    import datetime as dt

    from sqlalchemy import update

    from orbitask.core.idempotency import IdempotencyRecord

    alice = await api.user()
    board = await api.board(alice)
    key = {"Idempotency-Key": "lost-1"}
    await api.call(alice, "POST", f"/boards/{board['id']}/lists", json={"name": "L"}, headers=key, expect=201)
    async with app.state.runtime.db.write_transaction() as session:  # what a crash after commit leaves behind
        await session.execute(update(IdempotencyRecord).values(status_code=None, response_body=None))
    again = await api.call(alice, "POST", f"/boards/{board['id']}/lists", json={"name": "L"}, headers=key)
    assert again.status_code == 409 and again.json()["type"].endswith("idempotency-in-progress")
    async with app.state.runtime.db.write_transaction() as session:
        await session.execute(update(IdempotencyRecord).values(
            created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)))
    later = await api.call(alice, "POST", f"/boards/{board['id']}/lists", json={"name": "L"}, headers=key)
    assert later.status_code == 409 and later.json()["type"].endswith("idempotency-response-lost")
    snap = await api.ok(alice, "GET", f"/boards/{board['id']}")
    assert [x["name"] for x in snap["lists"]] == ["L"]  # applied once, never twice
