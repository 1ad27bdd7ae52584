"""An idempotent POST commits once: the key and the answer to replay commit with the command (issue 26).

The table covers every POST route that honours an Idempotency-Key, taken from the app's own route table
and the idempotency middleware's own exclusions: a new route missing from it fails here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import event, select

from orbitask.app import API_PREFIX, create_app
from orbitask.config import Settings
from orbitask.core.db import utcnow
from orbitask.core.idempotency import IdempotencyMiddleware, IdempotencyRecord
from orbitask.notifications.models import WebhookDelivery
from orbitask.notifications.service import unsubscribe_token
from tests.conftest import Api, User, assert_problem, make_settings

Made = dict[str, Any]
Call = tuple[str | None, str, dict[str, Any] | None]  # who (a key of Made, None: anonymous), path, JSON body

REPLAY, WITHHELD, NOTHING = "replay", "withheld", "nothing"


@dataclass(frozen=True)
class Case:
    """How to call one keyed POST route, and what its key must give."""

    call: Callable[[Made], Call]
    answer: str = REPLAY  # WITHHELD: a secret shown once (409 on retry); NOTHING: writes nothing, records nothing
    commits: int = 1
    secret: str | None = None  # the field of a withheld answer that must never be stored


# every POST route that takes an Idempotency-Key (the path as the app names it, after the API prefix)
TABLE: dict[str, Case] = {
    "/workspaces": Case(lambda m: ("alice", "/workspaces", {"name": "Second"})),
    "/workspaces/{workspace_id}/invitations": Case(
        lambda m: ("alice", f"/workspaces/{m['workspace']}/invitations", {"role": "guest"}),
        answer=WITHHELD, secret="token"),
    "/invitations/{token}/accept": Case(lambda m: ("carol", f"/invitations/{m['invitation']}/accept", None)),
    "/me/api-tokens": Case(lambda m: ("alice", "/me/api-tokens", {"name": "ci"}), answer=WITHHELD, secret="token"),
    "/me/calendar-feed": Case(lambda m: ("alice", "/me/calendar-feed", {}), answer=WITHHELD, secret="url"),
    "/workspaces/{workspace_id}/boards": Case(lambda m: ("alice", f"/workspaces/{m['workspace']}/boards",
                                                         {"name": "Roadmap"})),
    "/boards/{board_id}/members": Case(lambda m: ("alice", f"/boards/{m['board']}/members",
                                                  {"user_id": m["bob"], "role": "commenter"})),
    "/boards/{board_id}/lists": Case(lambda m: ("alice", f"/boards/{m['board']}/lists", {"name": "Doing"})),
    "/lists/{list_id}/move": Case(lambda m: ("alice", f"/lists/{m['list']}/move", {"after_id": m["other_list"]})),
    "/boards/{board_id}/labels": Case(lambda m: ("alice", f"/boards/{m['board']}/labels",
                                                 {"name": "Urgent", "color": "red"})),
    "/lists/{list_id}/cards": Case(lambda m: ("alice", f"/lists/{m['list']}/cards", {"title": "Ship it"})),
    "/cards/{card_id}/move": Case(lambda m: ("alice", f"/cards/{m['card']}/move", {"list_id": m["other_list"]})),
    "/cards/{card_id}/assignees/{user_id}": Case(lambda m: ("alice", f"/cards/{m['card']}/assignees/{m['alice_id']}",
                                                            None)),
    "/cards/{card_id}/labels/{label_id}": Case(lambda m: ("alice", f"/cards/{m['card']}/labels/{m['label']}", None)),
    "/cards/{card_id}/comments": Case(lambda m: ("alice", f"/cards/{m['card']}/comments", {"body": "Looks good"})),
    "/cards/{card_id}/checklists": Case(lambda m: ("alice", f"/cards/{m['card']}/checklists", {"title": "Steps"})),
    "/checklists/{checklist_id}/items": Case(lambda m: ("alice", f"/checklists/{m['checklist']}/items",
                                                        {"text": "Write the test"})),
    "/cards/{card_id}/restore": Case(lambda m: ("alice", f"/cards/{m['card']}/restore", None)),
    "/lists/{list_id}/restore": Case(lambda m: ("alice", f"/lists/{m['list']}/restore", None)),
    "/notifications/read": Case(lambda m: ("alice", "/notifications/read", {"all": True})),
    # an HTML answer: core/idempotency.py builds an answer before the commit only from a response model,
    # so this one still stores what it sent in a second write. Signed in: an anonymous retry is refused (401)
    "/notifications/unsubscribe": Case(lambda m: ("alice", f"/notifications/unsubscribe?token={m['unsubscribe']}",
                                                  None), commits=2),
    "/workspaces/{workspace_id}/webhooks": Case(
        lambda m: ("alice", f"/workspaces/{m['workspace']}/webhooks", {"url": "http://127.0.0.1:9/hook"}),
        answer=WITHHELD, secret="secret"),
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": Case(
        lambda m: ("alice", f"/webhooks/{m['webhook']}/deliveries/{m['delivery']}/redeliver", None)),
    # signed tickets, never stored: a retry gets a fresh one
    "/ws/tickets": Case(lambda m: ("alice", "/ws/tickets", None), answer=NOTHING, commits=0),
    "/cards/{card_id}/attachments/uploads": Case(
        lambda m: ("alice", f"/cards/{m['card']}/attachments/uploads", {"filename": "a.png", "size": 10}),
        answer=NOTHING, commits=0),
}


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """Webhooks to a local address (never called: no worker runs); S3 (moto) where a test's marker asks."""
    update: dict[str, Any] = {"webhook_allowed_networks": ["127.0.0.1/32"]}
    marker = request.node.get_closest_marker("settings")
    if marker is not None and marker.kwargs.get("storage_backend") == "s3":
        moto = request.getfixturevalue("moto_server")
        update.update(storage_backend="s3", s3_bucket=moto.bucket(), s3_endpoint_url=moto.url, s3_region="us-east-1")
    return settings.model_copy(update=update)


def keyed_post_routes(app: Any) -> set[str]:
    """The app's POST routes whose requests the idempotency middleware keys (its own exclusions applied)."""
    [keyed] = [m for m in app.user_middleware if m.cls is IdempotencyMiddleware]
    excluded, unbuffered = keyed.kwargs["exclude_prefixes"], keyed.kwargs["unbuffered"]
    found = set()
    for route in iter_route_contexts(app.routes):
        path = str(route.path)
        example = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        if "POST" in (route.methods or ()) and not example.startswith(excluded) and not unbuffered.match(example):
            found.add(path.removeprefix(API_PREFIX))
    return found


def test_the_table_covers_every_post_route_that_takes_a_key(tmp_path: Path) -> None:
    """A new POST route must say here how it commits its key, or this fails."""
    routes = keyed_post_routes(create_app(make_settings(tmp_path)))
    assert sorted(routes - set(TABLE)) == [], "POST routes taking an Idempotency-Key missing from TABLE"
    assert sorted(set(TABLE) - routes) == [], "TABLE entries whose route is gone or no longer keyed"


@contextmanager
def counting_commits(app: Any) -> Iterator[list[int]]:
    """Count the COMMITs on the writer engine while the block runs (one replica acknowledgement each)."""
    commits: list[int] = []
    writer = app.state.runtime.db.writer.sync_engine

    def on_commit(_conn: Any) -> None:
        commits.append(1)

    event.listen(writer, "commit", on_commit)
    try:
        yield commits
    finally:
        event.remove(writer, "commit", on_commit)


async def _arrange(api: Api, app: Any) -> tuple[dict[str, User], Made]:
    """Alice's board with two lists, a card, a checklist and a label; Bob in her workspace; Carol invited;
    a webhook with a dead delivery; an unsubscribe link."""
    alice, bob, carol = await api.user("Alice"), await api.user("Bob"), await api.user("Carol")
    await api.join(alice, bob)
    board = await api.board(alice)
    lst = await api.list(alice, board["id"], "To do")
    other = await api.list(alice, board["id"], "Done")
    card = await api.card(alice, lst["id"])
    checklist = await api.ok(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "Plan"})
    label = await api.ok(alice, "POST", f"/boards/{board['id']}/labels", json={"name": "Bug", "color": "red"})
    invitation = await api.ok(alice, "POST", f"/workspaces/{alice.workspace_id}/invitations", json={})
    hook = await api.ok(alice, "POST", f"/workspaces/{alice.workspace_id}/webhooks",
                        json={"url": "http://127.0.0.1:9/hook"})
    delivery = WebhookDelivery(webhook_id=uuid.UUID(hook["id"]), event_id=uuid.uuid4(), event_type="board.created",
                               status="dead", attempts=3, next_attempt_at=utcnow(), last_error="refused")
    rt = app.state.runtime
    async with rt.db.write_transaction() as session:
        session.add(delivery)
    made = {"workspace": alice.workspace_id, "board": board["id"], "list": lst["id"], "other_list": other["id"],
            "card": card["id"], "checklist": checklist["id"], "label": label["id"], "alice_id": alice.id,
            "bob": str(bob.id), "invitation": invitation["token"], "webhook": hook["id"], "delivery": delivery.id,
            "unsubscribe": unsubscribe_token(rt.settings.signing_key, alice.id, "all")}
    return {"alice": alice, "carol": carol}, made


async def _stored(app: Any, key: str) -> list[IdempotencyRecord]:
    async with app.state.runtime.db.read_session() as session:
        return list((await session.execute(select(IdempotencyRecord).where(IdempotencyRecord.key == key))).scalars())


@pytest.mark.settings(storage_backend="s3")  # a direct upload's ticket needs S3
async def test_every_keyed_post_commits_once_and_replays_its_answer(api: Api, app: Any) -> None:
    """Each POST route that takes an Idempotency-Key costs one commit with it, and a retry with the key gets
    the same status, body and token without writing anything (a withheld secret: 409; a signed ticket that
    writes nothing: no commit, no key, a fresh ticket)."""
    users, made = await _arrange(api, app)
    commits: dict[str, int] = {}
    for route, case in TABLE.items():
        who, path, body = case.call(made)
        user = users[who] if who else None
        key = f"one-commit-{route}"
        with counting_commits(app) as counted:
            first = await api.call(user, "POST", path, json=body, headers={"Idempotency-Key": key})
        assert first.status_code in (200, 201), f"{route}: {first.text}"
        commits[route] = len(counted)
        with counting_commits(app) as counted_again:
            again = await api.call(user, "POST", path, json=body, headers={"Idempotency-Key": key})
        if case.answer == NOTHING:
            assert again.status_code == first.status_code and "Idempotent-Replayed" not in again.headers, route
            assert await _stored(app, key) == [], route
            continue
        assert counted_again == [], route  # a replay writes nothing
        if case.answer == WITHHELD:
            assert_problem(again, 409, "idempotency-response-withheld")
            [stored] = await _stored(app, key)
            assert stored.status_code == first.status_code and not stored.response_body, route
            assert first.json()[case.secret] not in str(stored.response_headers), route
            continue
        assert (again.status_code, again.content) == (first.status_code, first.content), route
        assert again.headers["Idempotent-Replayed"] == "true", route
        assert again.headers.get("X-Orbitask-Token") == first.headers.get("X-Orbitask-Token"), route
    assert {route: n for route, n in commits.items() if n != TABLE[route].commits} == {}, "commits per route"
    snap = await api.ok(users["alice"], "GET", f"/boards/{made['board']}")
    assert sorted(c["title"] for c in snap["cards"]) == ["Card", "Ship it"]  # each applied once
    assert sorted(label["name"] for label in snap["labels"]) == ["Bug", "Urgent"]


async def test_an_answer_committed_with_its_command_survives_a_crash_before_the_response(
    api: Api, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is left to write once the command commits: a process that stops right after (here, a store
    that fails) still leaves a key that replays its answer, never 'in progress' then 'response lost'."""
    users, made = await _arrange(api, app)
    who, path, body = TABLE["/lists/{list_id}/cards"].call(made)
    key = {"Idempotency-Key": "crash-1"}

    async def crashed(*_: Any) -> None:
        raise RuntimeError("the process stopped after the commit")

    monkeypatch.setattr(IdempotencyMiddleware, "_store", crashed)
    first = await api.call(users["alice"], "POST", path, json=body, headers=key, expect=201)
    again = await api.call(users["alice"], "POST", path, json=body, headers=key, expect=201)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()


async def test_an_answer_the_route_changes_after_the_commit_is_stored_as_sent(
    api: Api, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the answer sent is not the one the command handed over, the one sent is what a retry gets."""
    from orbitask.core import idempotency

    users, made = await _arrange(api, app)
    who, path, body = TABLE["/boards/{board_id}/lists"].call(made)
    key = {"Idempotency-Key": "changed-1"}
    built = idempotency.answer_before_commit

    async def stale(*args: Any) -> idempotency.Answer | None:
        answer = await built(*args)
        return None if answer is None else idempotency.Answer(answer.status, answer.headers, b'{"stale":true}')

    monkeypatch.setattr("orbitask.core.uow.answer_before_commit", stale)
    with counting_commits(app) as counted:
        first = await api.call(users["alice"], "POST", path, json=body, headers=key, expect=201)
    assert len(counted) == 2  # the command's, then the correction
    monkeypatch.undo()
    again = await api.call(users["alice"], "POST", path, json=body, headers=key, expect=201)
    assert again.json() == first.json() and "stale" not in again.text
