"""Snapshots built from the previous one: after every kind of card change they equal a full build.

Each test runs with the snapshot cache in the process and, behind it, in Redis (`shared_state`)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import delete

from orbitask.boards.models import Board
from orbitask.boards.snapshot import build_snapshot
from orbitask.config import Settings
from orbitask.core.cache import MemoryCache
from orbitask.core.events import Event
from tests.conftest import Api, User
from tests.sharedstate import SharedState, fixture_shared_redis, fixture_shared_state  # noqa: F401 - the fixtures


@pytest.fixture
def settings(settings: Settings, shared_state: SharedState) -> Settings:
    """The API settings with the snapshot cache (and the rest of the region's shared state) under test."""
    return settings.model_copy(update=shared_state.overrides)


def builds(kind: str) -> float:
    return REGISTRY.get_sample_value("orbitask_snapshot_builds_total", {"kind": kind}) or 0.0


def lookups(result: str) -> float:
    return REGISTRY.get_sample_value("orbitask_snapshot_cache_total", {"result": result}) or 0.0


async def full_build(app: Any, board_id: str) -> dict[str, Any]:
    """The snapshot built from scratch, reading every card (no previous snapshot)."""
    async with app.state.runtime.db.read_session() as session:
        board = await session.get(Board, uuid.UUID(board_id))
        return orjson.loads(await build_snapshot(session, board))


async def served(api: Api, who: User, board_id: str) -> dict[str, Any]:
    snap = await api.ok(who, "GET", f"/boards/{board_id}")
    del snap["role"]
    return snap


async def test_card_changes_patch_the_previous_snapshot_and_match_a_full_build(app: Any, api: Api) -> None:
    alice, bob = await api.user("Alice"), await api.user("Bob")
    await api.join(alice, bob)
    board = await api.board(alice)
    bid = board["id"]
    todo, doing = (await api.list(alice, bid, "Todo")), (await api.list(alice, bid, "Doing"))
    label = await api.ok(alice, "POST", f"/boards/{bid}/labels", json={"name": "Bug", "color": "red"})
    cards = [await api.card(alice, todo["id"], f"Card {i}") for i in range(4)]
    checklist = await api.ok(alice, "POST", f"/cards/{cards[1]['id']}/checklists", json={"title": "Steps"})
    first = await served(api, alice, bid)
    assert first == await full_build(app, bid)
    assert [c["title"] for c in first["cards"]] == ["Card 0", "Card 1", "Card 2", "Card 3"]

    c0, c1, c2, c3 = (c["id"] for c in cards)
    state: dict[str, Any] = {}

    async def add_item() -> None:
        state["item"] = await api.ok(alice, "POST", f"/checklists/{checklist['id']}/items", json={"text": "one"})

    async def new_card() -> None:
        state["new"] = await api.card(bob, doing["id"], "New", description="from Bob")

    async def comment() -> None:
        state["comment"] = await api.ok(bob, "POST", f"/cards/{c2}/comments", json={"body": "hi"})

    changes: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("edit", lambda: api.ok(alice, "PATCH", f"/cards/{c0}", json={"title": "Renamed", "due_at": "2030-01-02T03:04:05Z"})),
        ("move to another list", lambda: api.ok(alice, "POST", f"/cards/{c0}/move", json={"list_id": doing["id"]})),
        ("move within the list", lambda: api.ok(alice, "POST", f"/cards/{c3}/move",
                                                json={"list_id": todo["id"], "before_id": c1})),
        ("comment", comment),
        ("delete the comment", lambda: api.ok(bob, "DELETE", f"/comments/{state['comment']['id']}")),
        ("checklist item", add_item),
        ("tick it", lambda: api.ok(alice, "PATCH", f"/checklist-items/{state['item']['id']}", json={"done": True})),
        ("assign", lambda: api.ok(alice, "POST", f"/cards/{c1}/assignees/{bob.id}")),
        ("label", lambda: api.ok(alice, "POST", f"/cards/{c1}/labels/{label['id']}")),
        ("watch", lambda: api.ok(bob, "PUT", f"/cards/{c2}/watch")),
        ("archive", lambda: api.ok(alice, "PATCH", f"/cards/{c2}", json={"archived": True})),
        ("restore", lambda: api.ok(alice, "PATCH", f"/cards/{c2}", json={"archived": False})),
        ("create", new_card),
        ("delete", lambda: api.ok(alice, "DELETE", f"/cards/{c3}")),
    ]
    for name, change in changes:
        before = builds("patched"), builds("full")
        await change()
        snap = await served(api, alice, bid)
        assert (builds("patched"), builds("full")) == (before[0] + 1, before[1]), f"{name}: not patched"
        assert snap == await full_build(app, bid), name

    snap = await served(api, alice, bid)
    by_title = {c["title"]: c for c in snap["cards"]}
    assert [c["title"] for c in snap["cards"]] == ["Card 1", "Card 2", "Renamed", "New"]
    assert by_title["Card 1"]["checklist_done"] == by_title["Card 1"]["checklist_total"] == 1
    assert by_title["Card 1"]["assignee_ids"] == [str(bob.id)] and by_title["Card 1"]["label_ids"] == [label["id"]]
    assert by_title["Card 2"]["comment_count"] == 0 and str(bob.id) in by_title["Card 2"]["watcher_ids"]

    # a member joins the workspace: no board event, a new membership version; the members are read again
    carol = await api.user("Carol")
    before = builds("patched")
    await api.join(alice, carol)
    snap = await served(api, alice, bid)
    assert builds("patched") == before + 1
    assert str(carol.id) in {m["user"]["id"] for m in snap["members"]}
    assert snap == await full_build(app, bid)

    # several card changes between two reads: one patched build
    before = builds("patched")
    await api.ok(alice, "PATCH", f"/cards/{c1}", json={"title": "Once"})
    await api.ok(alice, "PATCH", f"/cards/{c1}", json={"title": "Twice"})
    await api.ok(bob, "POST", f"/cards/{c0}/comments", json={"body": "again"})
    snap = await served(api, alice, bid)
    assert builds("patched") == before + 1
    assert snap == await full_build(app, bid)


async def test_a_repeat_read_is_served_from_the_cache(app: Any, api: Api, shared_state: SharedState) -> None:
    """A version is built once. With Redis the body is also in the region's cache: a process whose own
    tier does not hold it (another node, or this one after an eviction) is served from there, not a build."""
    alice = await api.user()
    board = await api.board(alice)
    todo = await api.list(alice, board["id"], "Todo")
    await api.card(alice, todo["id"], "Card")
    first = await served(api, alice, board["id"])
    hits, built = lookups("hit"), builds("patched") + builds("full")
    assert await served(api, alice, board["id"]) == first
    assert (lookups("hit"), builds("patched") + builds("full")) == (hits + 1, built)
    shared_state.assert_in_use(app.state.runtime, "cache")
    if shared_state.redis:
        assert [k for k in shared_state.keys("cache") if k.startswith(f"board:{board['id']}:")]
        app.state.runtime.cache.local = MemoryCache()  # this process's tier forgets it
        assert await served(api, alice, board["id"]) == first
        assert (lookups("hit"), builds("patched") + builds("full")) == (hits + 2, built)


async def test_a_patch_starts_from_the_process_s_own_pieces_not_the_cached_body(
    app: Any, api: Api, shared_state: SharedState
) -> None:
    """Hundreds of boards churn the snapshot cache: the previous body may be evicted long before the board's
    next read. The process keeps each board's latest snapshot in pieces, and patches from those."""
    alice = await api.user()
    board = await api.board(alice)
    todo = await api.list(alice, board["id"], "Todo")
    cards = [await api.card(alice, todo["id"], f"Card {i}") for i in range(3)]
    await served(api, alice, board["id"])
    shared_state.forget_cached(app.state.runtime)  # every cached body gone, the region's too
    patched, full = builds("patched"), builds("full")
    await api.ok(alice, "PATCH", f"/cards/{cards[1]['id']}", json={"title": "Changed"})
    snap = await served(api, alice, board["id"])
    assert (builds("patched"), builds("full")) == (patched + 1, full)
    assert [c["title"] for c in snap["cards"]] == ["Card 0", "Changed", "Card 2"]
    assert snap == await full_build(app, board["id"])


async def test_other_changes_and_missing_events_mean_a_full_build(app: Any, api: Api) -> None:
    alice = await api.user()
    board = await api.board(alice)
    bid = board["id"]
    todo = await api.list(alice, bid, "Todo")
    label = await api.ok(alice, "POST", f"/boards/{bid}/labels", json={"name": "Bug", "color": "red"})
    card = await api.card(alice, todo["id"], "Card", label_ids=[label["id"]])
    await served(api, alice, bid)

    full = builds("full")
    await api.ok(alice, "DELETE", f"/labels/{label['id']}")  # changes the card without naming it
    snap = await served(api, alice, bid)
    assert builds("full") == full + 1
    assert snap["cards"][0]["label_ids"] == [] and snap == await full_build(app, bid)

    full = builds("full")
    await api.ok(alice, "PATCH", f"/lists/{todo['id']}", json={"archived": True})  # its cards leave the snapshot
    snap = await served(api, alice, bid)
    assert snap["cards"] == [] and builds("full") == full + 1

    await api.ok(alice, "PATCH", f"/lists/{todo['id']}", json={"archived": False})
    await served(api, alice, bid)
    await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"title": "After the gap"})
    async with app.state.runtime.db.writer_session() as session:  # its event gone (pruned, say): never guess
        await session.execute(delete(Event).where(Event.board_id == uuid.UUID(bid), Event.type == "card.updated"))
        await session.commit()
    full = builds("full")
    snap = await served(api, alice, bid)
    assert snap["cards"][0]["title"] == "After the gap" and builds("full") == full + 1
