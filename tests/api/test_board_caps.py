"""Per-board caps on lists, labels, cards and explicit members, on every create path and in imports.

Filling a board to a real cap through the API would take minutes, so each test lowers the cap the
service reads (the module constant) to a few.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from orbitask.boards import limits as board_limits
from orbitask.models import metadata
from orbitask.tasks import limits as card_limits
from tests.conftest import TRELLO_FIXTURE, Api, User, assert_problem

TRELLO = json.loads(TRELLO_FIXTURE.read_text())


def full(what: str, have: int) -> str:
    return f"This board already has {have:,} {what}, the most a board can hold."


async def board_state(api: Api, who: User, board_id: str) -> tuple[int, dict[str, int]]:
    """The board's version and how many lists, labels, cards and explicit members a viewer sees."""
    snap = await api.ok(who, "GET", f"/boards/{board_id}")
    return snap["version"], {"lists": len(snap["lists"]), "labels": len(snap["labels"]), "cards": len(snap["cards"]),
                             "members": sum(m["explicit"] for m in snap["members"])}


def refused(r: Any, what: str, have: int, cap: int) -> None:
    problem = assert_problem(r, 409, "limit-reached")
    assert problem["detail"] == full(what, have)
    assert problem["limit"] == cap


async def test_a_label_past_the_cap_is_refused_and_deleting_one_makes_room(
    api: Api, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(board_limits, "MAX_LABELS_PER_BOARD", 2)
    alice = await api.user()
    board = await api.board(alice)
    made = [await api.ok(alice, "POST", f"/boards/{board['id']}/labels", json={"name": f"L{i}", "color": "red"})
            for i in range(2)]
    before = await board_state(api, alice, board["id"])

    r = await api.call(alice, "POST", f"/boards/{board['id']}/labels", json={"name": "one more", "color": "red"})
    refused(r, "labels", 2, 2)
    assert await board_state(api, alice, board["id"]) == before  # no label, no event, same version

    await api.ok(alice, "DELETE", f"/labels/{made[0]['id']}")
    await api.call(alice, "POST", f"/boards/{board['id']}/labels", json={"name": "room now", "color": "red"},
                   expect=201)
    other = await api.board(alice)  # the cap is per board
    await api.call(alice, "POST", f"/boards/{other['id']}/labels", json={"name": "x", "color": "red"}, expect=201)


async def test_a_list_past_the_cap_is_refused_and_archived_lists_count(
    api: Api, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(board_limits, "MAX_LISTS_PER_BOARD", 2)
    alice = await api.user()
    board = await api.board(alice)
    first = await api.list(alice, board["id"], "A")
    await api.list(alice, board["id"], "B")
    await api.ok(alice, "PATCH", f"/lists/{first['id']}", json={"archived": True})
    before = await board_state(api, alice, board["id"])

    r = await api.call(alice, "POST", f"/boards/{board['id']}/lists", json={"name": "C"})
    refused(r, "lists", 2, 2)
    assert await board_state(api, alice, board["id"]) == before
    moved = await api.ok(alice, "POST", f"/lists/{first['id']}/move", json={})  # moving adds nothing
    assert moved["id"] == first["id"]


async def test_a_card_past_the_cap_is_refused_but_cards_still_move_on_a_full_board(
    api: Api, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(card_limits, "MAX_CARDS_PER_BOARD", 3)
    alice = await api.user()
    board = await api.board(alice)
    todo, done = await api.list(alice, board["id"], "To do"), await api.list(alice, board["id"], "Done")
    cards = [await api.card(alice, todo["id"], f"c{i}") for i in range(2)]
    archived = await api.card(alice, done["id"], "archived")
    await api.ok(alice, "PATCH", f"/cards/{archived['id']}", json={"archived": True})
    before = await board_state(api, alice, board["id"])

    for list_id in (todo["id"], done["id"]):
        refused(await api.call(alice, "POST", f"/lists/{list_id}/cards", json={"title": "one more"}), "cards", 3, 3)
    assert await board_state(api, alice, board["id"]) == before

    moved = await api.ok(alice, "POST", f"/cards/{cards[0]['id']}/move", json={"list_id": done["id"]})
    assert moved["list_id"] == done["id"]
    other = await api.board(alice)
    other_list = await api.list(alice, other["id"])
    r = await api.call(alice, "POST", f"/cards/{cards[1]['id']}/move", json={"list_id": other_list["id"]})
    assert_problem(r, 422, "invalid-input")  # cards never move between boards, so none enters a full one that way
    await api.card(alice, other_list["id"])


async def test_an_explicit_member_past_the_cap_is_refused_but_roles_still_change(
    api: Api, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(board_limits, "MAX_MEMBERS_PER_BOARD", 2)
    alice, bob, carol = await api.user(), await api.user(), await api.user()
    await api.join(alice, bob, "guest")
    await api.join(alice, carol, "guest")
    board = await api.board(alice)  # alice is its admin: one explicit member
    await api.call(alice, "POST", f"/boards/{board['id']}/members", json={"user_id": str(bob.id)}, expect=201)
    before = await board_state(api, alice, board["id"])

    r = await api.call(alice, "POST", f"/boards/{board['id']}/members", json={"user_id": str(carol.id)})
    refused(r, "explicit members", 2, 2)
    assert await board_state(api, alice, board["id"]) == before
    assert_problem(await api.call(carol, "GET", f"/boards/{board['id']}"), 404)
    r = await api.call(alice, "POST", f"/boards/{board['id']}/members",
                       json={"user_id": str(bob.id), "role": "viewer"}, expect=201)  # already a member
    assert r.json()["role"] == "viewer"


async def test_concurrent_creates_stop_exactly_at_the_cap(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The count is taken under the board's row lock, in the inserting transaction. (A count before the lock
    lets them all through on MariaDB and PostgreSQL; SQLite runs one writer at a time either way.)"""
    monkeypatch.setattr(board_limits, "MAX_LABELS_PER_BOARD", 3)
    alice = await api.user()
    board = await api.board(alice)
    results = await asyncio.gather(*(api.call(alice, "POST", f"/boards/{board['id']}/labels",
                                              json={"name": f"L{i}", "color": "blue"}) for i in range(8)))
    assert sorted(r.status_code for r in results) == [201] * 3 + [409] * 5, [r.text for r in results]
    assert (await board_state(api, alice, board["id"]))[1]["labels"] == 3


# --- imports ----------------------------------------------------------------------------------


async def import_trello(api: Api, who: User, body: dict[str, Any]) -> Any:
    return await api.call(who, "POST", f"/imports/trello?workspace_id={who.workspace_id}",
                          content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})


async def row_counts(app: Any) -> dict[str, int]:
    async with app.state.runtime.db.read_session(on_writer=True) as session:
        return {t.name: await session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}


# the fixture holds 3 lists, 4 labels and 4 cards; its 3 members and a former one (an action's author) become
# placeholder viewers of the board, next to the importer, its admin
@pytest.mark.parametrize(("module", "name", "cap", "detail"), [
    (board_limits, "MAX_LISTS_PER_BOARD", 2, "3 more lists would take this board past the 2 a board can hold (it has 0)."),
    (board_limits, "MAX_LABELS_PER_BOARD", 3, "4 more labels would take this board past the 3 a board can hold (it has 0)."),
    (card_limits, "MAX_CARDS_PER_BOARD", 3, "4 more cards would take this board past the 3 a board can hold (it has 0)."),
    (board_limits, "MAX_MEMBERS_PER_BOARD", 3,
     "4 more explicit members would take this board past the 3 a board can hold (it has 1)."),
], ids=["lists", "labels", "cards", "members"])
async def test_an_import_past_a_board_cap_is_refused_and_writes_nothing(
    api: Api, app: Any, monkeypatch: pytest.MonkeyPatch, module: Any, name: str, cap: int, detail: str,
) -> None:
    monkeypatch.setattr(module, name, cap)
    alice = await api.user()
    counts = await row_counts(app)
    problem = assert_problem(await import_trello(api, alice, TRELLO), 409, "limit-reached")
    assert (problem["detail"], problem["limit"]) == (detail, cap)
    assert await row_counts(app) == counts


async def test_a_reimport_that_would_overfill_a_board_is_refused(
    api: Api, app: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = await api.user()
    first = (await import_trello(api, alice, TRELLO)).json()["boards"][0]
    monkeypatch.setattr(card_limits, "MAX_CARDS_PER_BOARD", 4)  # the board is full
    list_id = (await api.ok(alice, "GET", f"/boards/{first['id']}"))["lists"][0]["id"]
    refused(await api.call(alice, "POST", f"/lists/{list_id}/cards", json={"title": "by hand"}), "cards", 4, 4)
    again = await import_trello(api, alice, TRELLO)  # the same cards: updated in place, none added
    assert again.status_code == 201, again.text
    counts = await row_counts(app)

    grown = copy.deepcopy(TRELLO)
    grown["cards"].append({"id": "5f1a00000000000000000c05", "name": "New in Trello", "idList": TRELLO["lists"][0]["id"],
                           "pos": 1})
    problem = assert_problem(await import_trello(api, alice, grown), 409, "limit-reached")
    assert problem["detail"] == "This board already has 4 cards, the most a board can hold."
    assert await row_counts(app) == counts
