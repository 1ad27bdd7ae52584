"""Cards and what hangs off them (assignees, labels, checklists, comments, activity), through the HTTP API."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import Api, User, assert_problem


def when(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def snapshot(api: Api, who: User, board_id: str) -> dict[str, Any]:
    return await api.ok(who, "GET", f"/boards/{board_id}")


async def version(api: Api, who: User, board_id: str) -> int:
    return (await snapshot(api, who, board_id))["version"]


async def titles(api: Api, who: User, list_id: str, board_id: str) -> list[str]:
    """Open card titles of a list, in board order."""
    return [c["title"] for c in (await snapshot(api, who, board_id))["cards"] if c["list_id"] == list_id]


def after_steps(board: dict[str, Any], steps: int) -> int:
    """The board's version `steps` commands after it was created."""
    return board["version"] + steps


async def setup_board(api: Api, name: str = "Alice") -> tuple[User, dict[str, Any], dict[str, Any]]:
    alice = await api.user(name)
    board = await api.board(alice)
    todo = await api.list(alice, board["id"], "To do")
    return alice, board, todo


# --- create -----------------------------------------------------------------------------------


async def test_create_card(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    r = await api.call(alice, "POST", f"/lists/{todo['id']}/cards", expect=201, json={
        "title": "  Write docs ", "description": "**markdown**",
        "start_at": "2030-01-01T09:00:00+02:00", "due_at": "2030-01-02T17:00:00Z",
    })
    card = r.json()
    assert card["title"] == "Write docs"
    assert (card["board_id"], card["list_id"]) == (board["id"], todo["id"])
    assert card["description"] == "**markdown**"
    assert when(card["start_at"]) == dt.datetime(2030, 1, 1, 7, tzinfo=dt.UTC)
    assert when(card["due_at"]) == dt.datetime(2030, 1, 2, 17, tzinfo=dt.UTC)
    assert (card["completed"], card["archived"]) == (False, False)
    assert card["created_by"] == str(alice.id)
    assert card["watcher_ids"] == [str(alice.id)]  # the creator watches the card
    assert (card["assignee_ids"], card["label_ids"]) == ([], [])
    assert (card["checklist_total"], card["checklist_done"], card["comment_count"]) == (0, 0, 0)

    events = await api.events(alice, board["id"], after=board["version"] + 1)
    assert [(e["type"], e["card_id"]) for e in events] == [("card.created", card["id"])]
    assert events[0]["payload"]["card"]["title"] == "Write docs"


async def test_create_card_with_assignees_labels_and_placement(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    bob = await api.user("Bob")
    await api.join(alice, bob)
    label = await api.ok(alice, "POST", f"/boards/{board['id']}/labels", json={"color": "red"})
    first = await api.card(alice, todo["id"], "first")
    last = await api.card(alice, todo["id"], "last")
    card = await api.card(alice, todo["id"], "middle", after_id=first["id"],
                          assignee_ids=[str(bob.id), str(bob.id)], label_ids=[label["id"]])
    assert card["assignee_ids"] == [str(bob.id)]
    assert card["label_ids"] == [label["id"]]
    assert sorted(card["watcher_ids"]) == sorted([str(alice.id), str(bob.id)])
    await api.card(alice, todo["id"], "top", before_id=first["id"])
    await api.card(alice, todo["id"], "between", after_id=card["id"], before_id=last["id"])
    assert await titles(api, alice, todo["id"], board["id"]) == ["top", "first", "middle", "between", "last"]


async def test_title_may_be_512_chars_but_not_513(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    ok = await api.card(alice, todo["id"], "t" * 512)
    assert len(ok["title"]) == 512
    v = await version(api, alice, board["id"])
    r = await api.call(alice, "POST", f"/lists/{todo['id']}/cards", json={"title": "t" * 513})
    problem = assert_problem(r, 422, "invalid-input")
    assert problem["errors"][0]["field"] == "title"
    assert await version(api, alice, board["id"]) == v
    assert await titles(api, alice, todo["id"], board["id"]) == ["t" * 512]


async def test_description_may_be_64_kib_but_not_more(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    ok = await api.card(alice, todo["id"], "ascii", description="d" * 65536)
    assert len(ok["description"]) == 65536
    wide = await api.card(alice, todo["id"], "wide", description="é" * 32768)  # 64 KiB of UTF-8
    assert wide["description"] == "é" * 32768
    v = await version(api, alice, board["id"])
    for description in ("d" * 65537, "é" * 32769):
        r = await api.call(alice, "POST", f"/lists/{todo['id']}/cards", json={"title": "x", "description": description})
        assert_problem(r, 422, "invalid-input")
        r = await api.call(alice, "PATCH", f"/cards/{ok['id']}", json={"description": description})
        assert_problem(r, 422, "invalid-input")
    assert await version(api, alice, board["id"]) == v
    assert (await api.ok(alice, "GET", f"/cards/{ok['id']}"))["description"] == "d" * 65536


@pytest.mark.parametrize("body", [
    {"title": ""},
    {"title": "   "},
    {"title": None},
    {},
    {"title": "x", "due_at": "2030-01-01T00:00:00"},
    {"title": "x", "start_at": "2030-01-01T00:00:00"},
    {"title": "x", "due_at": "next tuesday"},
    {"title": "x", "start_at": "2030-01-02T00:00:00Z", "due_at": "2030-01-01T00:00:00Z"},
    {"title": "x", "start_at": "2030-01-01T01:00:00+00:00", "due_at": "2030-01-01T02:00:00+03:00"},
    {"title": "x", "colour": "red"},
    {"title": "x", "list_id": "LIST"},
    {"title": "x", "assignee_ids": "nobody"},
    {"title": "x", "label_ids": ["not-a-uuid"]},
    {"title": "x", "assignee_ids": [str(uuid.UUID(int=i)) for i in range(51)]},
])
async def test_invalid_card_is_422_and_creates_nothing(api: Api, body: dict[str, Any]) -> None:
    alice, board, todo = await setup_board(api)
    body = {k: (todo["id"] if v == "LIST" else v) for k, v in body.items()}
    r = await api.call(alice, "POST", f"/lists/{todo['id']}/cards", json=body)
    assert_problem(r, 422, "invalid-input")
    snap = await snapshot(api, alice, board["id"])
    assert snap["cards"] == [] and snap["version"] == board["version"] + 1


async def test_create_card_refuses_outsiders_and_foreign_labels(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    stranger = await api.user("Stranger")
    other = await api.board(alice, name="Other")
    foreign = await api.ok(alice, "POST", f"/boards/{other['id']}/labels", json={"color": "red"})
    other_list = await api.list(alice, other["id"])
    elsewhere = await api.card(alice, other_list["id"])
    v = await version(api, alice, board["id"])
    for body, type_ in (
        ({"title": "x", "assignee_ids": [str(stranger.id)]}, "invalid-input"),
        ({"title": "x", "assignee_ids": [str(uuid.uuid4())]}, "invalid-input"),
        ({"title": "x", "label_ids": [foreign["id"]]}, "invalid-input"),
        ({"title": "x", "label_ids": [str(uuid.uuid4())]}, "invalid-input"),
        ({"title": "x", "after_id": elsewhere["id"]}, "invalid-position"),
    ):
        assert_problem(await api.call(alice, "POST", f"/lists/{todo['id']}/cards", json=body), 422, type_)
    assert_problem(await api.call(alice, "POST", f"/lists/{uuid.uuid4()}/cards", json={"title": "x"}), 404)
    snap = await snapshot(api, alice, board["id"])
    assert snap["cards"] == [] and snap["version"] == v


# --- read and update --------------------------------------------------------------------------


async def test_get_card_with_its_checklists(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    card = await api.card(alice, todo["id"], "Plan")
    empty = await api.ok(alice, "GET", f"/cards/{card['id']}")
    assert empty["checklists"] == [] and empty["title"] == "Plan"
    first = await api.ok(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "First"})
    second = await api.ok(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "Second"})
    a = await api.ok(alice, "POST", f"/checklists/{first['id']}/items", json={"text": "a"})
    await api.ok(alice, "POST", f"/checklists/{first['id']}/items", json={"text": "b"})
    await api.ok(alice, "POST", f"/checklists/{second['id']}/items", json={"text": "c"})
    await api.ok(alice, "PATCH", f"/checklist-items/{a['id']}", json={"done": True})

    got = await api.ok(alice, "GET", f"/cards/{card['id']}")
    assert [c["title"] for c in got["checklists"]] == ["First", "Second"]
    assert [[(i["text"], i["done"]) for i in c["items"]] for c in got["checklists"]] == [
        [("a", True), ("b", False)], [("c", False)]]
    assert all(i["card_id"] == card["id"] for c in got["checklists"] for i in c["items"])
    assert (got["checklist_total"], got["checklist_done"]) == (3, 1)
    assert_problem(await api.call(alice, "GET", f"/cards/{uuid.uuid4()}"), 404, "not-found")


async def test_patch_card_fields(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    card = await api.card(alice, todo["id"], "Draft", due_at="2030-05-01T12:00:00Z", start_at="2030-04-01T12:00:00Z")
    updated = await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"title": "Final", "description": "done"})
    assert (updated["title"], updated["description"]) == ("Final", "done")
    assert when(updated["due_at"]) == dt.datetime(2030, 5, 1, 12, tzinfo=dt.UTC)  # untouched

    cleared = await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"due_at": None})
    assert cleared["due_at"] is None
    assert when(cleared["start_at"]) == dt.datetime(2030, 4, 1, 12, tzinfo=dt.UTC)
    assert (await api.ok(alice, "GET", f"/cards/{card['id']}"))["due_at"] is None

    done = await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"completed": True})
    assert done["completed"] is True
    events = await api.events(alice, board["id"], after=after_steps(board, 2))
    assert [(e["type"], e["payload"]["changes"]) for e in events] == [
        ("card.updated", ["description", "title"]), ("card.updated", ["due_at"]), ("card.updated", ["completed"])]
    assert events[-1]["payload"]["card"]["completed"] is True


async def test_archived_cards_leave_the_board_but_stay_reachable(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    card = await api.card(alice, todo["id"], "Old news")
    archived = await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"archived": True})
    assert archived["archived"] is True
    assert (await snapshot(api, alice, board["id"]))["cards"] == []
    assert (await api.ok(alice, "GET", f"/cards/{card['id']}"))["archived"] is True
    restored = await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"archived": False})
    assert restored["archived"] is False
    assert [c["id"] for c in (await snapshot(api, alice, board["id"]))["cards"]] == [card["id"]]


@pytest.mark.parametrize("body", [
    {"title": None}, {"title": ""}, {"title": "t" * 513}, {"description": None}, {"completed": None},
    {"archived": None}, {"completed": "yes please"}, {"due_at": "2031-01-01T00:00:00"},
    {"start_at": "2030-06-01T00:00:00Z"},  # after the stored due date
    {"due_at": "2030-01-01T00:00:00Z"},  # before the stored start date
    {"start_at": "2030-03-02T00:00:00Z", "due_at": "2030-03-01T00:00:00Z"},
    {"list_id": "LIST"}, {"position": "a0"},
])
async def test_invalid_card_patch_is_422_and_changes_nothing(api: Api, body: dict[str, Any]) -> None:
    alice, board, todo = await setup_board(api)
    card = await api.card(alice, todo["id"], "Keep", start_at="2030-02-01T00:00:00Z", due_at="2030-05-01T00:00:00Z")
    body = {k: (todo["id"] if v == "LIST" else v) for k, v in body.items()}
    v = await version(api, alice, board["id"])
    r = await api.call(alice, "PATCH", f"/cards/{card['id']}", json=body)
    assert_problem(r, 422, "invalid-input")
    assert await version(api, alice, board["id"]) == v
    got = await api.ok(alice, "GET", f"/cards/{card['id']}")
    assert {k: got[k] for k in ("title", "description", "start_at", "due_at", "completed", "archived")} == {
        k: card[k] for k in ("title", "description", "start_at", "due_at", "completed", "archived")}


async def test_clearing_start_makes_any_due_date_valid(api: Api) -> None:
    alice, _, todo = await setup_board(api)
    card = await api.card(alice, todo["id"], "x", start_at="2030-02-01T00:00:00Z", due_at="2030-05-01T00:00:00Z")
    updated = await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"start_at": None, "due_at": "2029-01-01T00:00:00Z"})
    assert updated["start_at"] is None
    assert when(updated["due_at"]) == dt.datetime(2029, 1, 1, tzinfo=dt.UTC)


# --- move -------------------------------------------------------------------------------------


async def test_move_within_a_list(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    a, b, c, d = [await api.card(alice, todo["id"], t) for t in "abcd"]
    tid = todo["id"]

    await api.ok(alice, "POST", f"/cards/{d['id']}/move", json={"list_id": tid, "before_id": a["id"]})
    assert await titles(api, alice, tid, board["id"]) == ["d", "a", "b", "c"]
    await api.ok(alice, "POST", f"/cards/{d['id']}/move", json={"list_id": tid, "after_id": b["id"]})
    assert await titles(api, alice, tid, board["id"]) == ["a", "b", "d", "c"]
    await api.ok(alice, "POST", f"/cards/{a['id']}/move", json={"list_id": tid, "after_id": d["id"], "before_id": c["id"]})
    assert await titles(api, alice, tid, board["id"]) == ["b", "d", "a", "c"]
    await api.ok(alice, "POST", f"/cards/{b['id']}/move", json={"list_id": tid})  # no neighbours: to the bottom
    assert await titles(api, alice, tid, board["id"]) == ["d", "a", "c", "b"]
    await api.ok(alice, "POST", f"/cards/{b['id']}/move", json={"list_id": tid, "after_id": c["id"]})  # already there
    assert await titles(api, alice, tid, board["id"]) == ["d", "a", "c", "b"]

    events = await api.events(alice, board["id"], after=board["version"] + 5)
    assert [e["type"] for e in events] == ["card.moved"] * 5
    assert events[0]["payload"]["from_list_id"] == tid


async def test_move_across_lists(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    done = await api.list(alice, board["id"], "Done")
    x = await api.card(alice, done["id"], "x")
    y = await api.card(alice, done["id"], "y")
    card = await api.card(alice, todo["id"], "card")

    moved = await api.ok(alice, "POST", f"/cards/{card['id']}/move", json={"list_id": done["id"], "after_id": x["id"]})
    assert moved["list_id"] == done["id"] and moved["board_id"] == board["id"]
    assert await titles(api, alice, done["id"], board["id"]) == ["x", "card", "y"]
    assert await titles(api, alice, todo["id"], board["id"]) == []
    event = (await api.events(alice, board["id"]))[-1]
    assert (event["type"], event["payload"]["from_list_id"], event["payload"]["card"]["list_id"]) == (
        "card.moved", todo["id"], done["id"])
    await api.ok(alice, "POST", f"/cards/{y['id']}/move", json={"list_id": todo["id"]})
    assert await titles(api, alice, todo["id"], board["id"]) == ["y"]


async def test_bad_moves_are_422_and_change_nothing(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    done = await api.list(alice, board["id"], "Done")
    other = await api.board(alice, name="Other")
    foreign_list = await api.list(alice, other["id"], "Foreign")
    foreign_card = await api.card(alice, foreign_list["id"], "foreign")
    a = await api.card(alice, todo["id"], "a")
    b = await api.card(alice, todo["id"], "b")
    in_done = await api.card(alice, done["id"], "in done")
    v = await version(api, alice, board["id"])
    other_v = await version(api, alice, other["id"])

    cases = [
        ({"list_id": foreign_list["id"]}, "invalid-input"),  # another board's list
        ({"list_id": str(uuid.uuid4())}, "invalid-input"),
        ({"list_id": done["id"], "after_id": a["id"]}, "invalid-position"),  # a is not in the target list
        ({"list_id": todo["id"], "before_id": in_done["id"]}, "invalid-position"),
        ({"list_id": todo["id"], "after_id": foreign_card["id"]}, "invalid-position"),
        ({"list_id": todo["id"], "after_id": a["id"]}, "invalid-position"),  # relative to itself
        ({"list_id": todo["id"], "before_id": a["id"]}, "invalid-position"),
        ({"list_id": todo["id"], "after_id": b["id"], "before_id": b["id"]}, "invalid-position"),
        ({"after_id": b["id"]}, "invalid-input"),  # list_id is required
        ({"list_id": todo["id"], "board_id": other["id"]}, "invalid-input"),
    ]
    for body, type_ in cases:
        r = await api.call(alice, "POST", f"/cards/{a['id']}/move", json=body)
        assert_problem(r, 422, type_)

    assert await version(api, alice, board["id"]) == v
    assert await version(api, alice, other["id"]) == other_v
    assert await titles(api, alice, todo["id"], board["id"]) == ["a", "b"]
    assert await titles(api, alice, done["id"], board["id"]) == ["in done"]
    assert [c["title"] for c in (await snapshot(api, alice, other["id"]))["cards"]] == ["foreign"]
    got = await api.ok(alice, "GET", f"/cards/{a['id']}")
    assert (got["list_id"], got["board_id"], got["position"]) == (todo["id"], board["id"], a["position"])
    assert_problem(await api.call(alice, "POST", f"/cards/{uuid.uuid4()}/move", json={"list_id": todo["id"]}), 404)


async def test_delete_card(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    card = await api.card(alice, todo["id"], "gone")
    keep = await api.card(alice, todo["id"], "keep")
    await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": "bye"})
    await api.call(alice, "DELETE", f"/cards/{card['id']}", expect=204)
    assert_problem(await api.call(alice, "GET", f"/cards/{card['id']}"), 404, "not-found")
    assert_problem(await api.call(alice, "GET", f"/cards/{card['id']}/comments"), 404, "not-found")
    assert [c["id"] for c in (await snapshot(api, alice, board["id"]))["cards"]] == [keep["id"]]
    event = (await api.events(alice, board["id"]))[-1]
    assert (event["type"], event["card_id"], event["payload"]) == (
        "card.deleted", card["id"], {"card_id": card["id"], "list_id": todo["id"]})
    assert_problem(await api.call(alice, "DELETE", f"/cards/{card['id']}"), 404, "not-found")


# --- assignees and labels ---------------------------------------------------------------------


async def test_assign_and_unassign(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    bob = await api.user("Bob")
    await api.join(alice, bob)
    card = await api.card(alice, todo["id"])
    v = await version(api, alice, board["id"])

    assigned = await api.ok(alice, "POST", f"/cards/{card['id']}/assignees/{bob.id}")
    assert assigned["assignee_ids"] == [str(bob.id)]
    assert str(bob.id) in assigned["watcher_ids"]
    again = await api.ok(alice, "POST", f"/cards/{card['id']}/assignees/{bob.id}")  # idempotent
    assert again["assignee_ids"] == [str(bob.id)]
    self_assigned = await api.ok(alice, "POST", f"/cards/{card['id']}/assignees/{alice.id}")
    assert sorted(self_assigned["assignee_ids"]) == sorted([str(alice.id), str(bob.id)])

    removed = await api.ok(alice, "DELETE", f"/cards/{card['id']}/assignees/{bob.id}")
    assert removed["assignee_ids"] == [str(alice.id)]
    events = await api.events(alice, board["id"], after=v)
    assert [(e["type"], e["payload"]["user_id"]) for e in events] == [
        ("card.assignee_added", str(bob.id)), ("card.assignee_added", str(alice.id)),
        ("card.assignee_removed", str(bob.id))]
    assert (await snapshot(api, alice, board["id"]))["cards"][0]["assignee_ids"] == [str(alice.id)]


async def test_assigning_someone_who_cannot_see_the_board_is_422(api: Api) -> None:
    alice = await api.user("Alice")
    bob = await api.user("Bob")
    await api.join(alice, bob)
    stranger = await api.user("Stranger")
    board = await api.board(alice, visibility="private")  # bob is in the workspace but cannot see it
    todo = await api.list(alice, board["id"])
    card = await api.card(alice, todo["id"])
    v = await version(api, alice, board["id"])
    for user_id in (bob.id, stranger.id, uuid.uuid4()):
        r = await api.call(alice, "POST", f"/cards/{card['id']}/assignees/{user_id}")
        assert_problem(r, 422, "invalid-input")
    assert await version(api, alice, board["id"]) == v
    assert (await api.ok(alice, "GET", f"/cards/{card['id']}"))["assignee_ids"] == []
    assert_problem(await api.call(alice, "POST", f"/cards/{card['id']}/assignees/not-a-uuid"), 422)


async def test_add_and_remove_labels(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    card = await api.card(alice, todo["id"])
    bug = await api.ok(alice, "POST", f"/boards/{board['id']}/labels", json={"name": "bug", "color": "red"})
    other = await api.board(alice, name="Other")
    foreign = await api.ok(alice, "POST", f"/boards/{other['id']}/labels", json={"name": "x", "color": "red"})
    v = await version(api, alice, board["id"])

    labelled = await api.ok(alice, "POST", f"/cards/{card['id']}/labels/{bug['id']}")
    assert labelled["label_ids"] == [bug["id"]]
    assert (await api.ok(alice, "POST", f"/cards/{card['id']}/labels/{bug['id']}"))["label_ids"] == [bug["id"]]
    for label_id in (foreign["id"], str(uuid.uuid4())):
        assert_problem(await api.call(alice, "POST", f"/cards/{card['id']}/labels/{label_id}"), 422, "invalid-input")
    assert (await api.ok(alice, "GET", f"/cards/{card['id']}"))["label_ids"] == [bug["id"]]

    unlabelled = await api.ok(alice, "DELETE", f"/cards/{card['id']}/labels/{bug['id']}")
    assert unlabelled["label_ids"] == []
    assert_problem(await api.call(alice, "DELETE", f"/cards/{card['id']}/labels/{bug['id']}"), 404, "not-found")
    events = await api.events(alice, board["id"], after=v)
    assert [(e["type"], e["payload"]["label_id"]) for e in events] == [
        ("card.label_added", bug["id"]), ("card.label_removed", bug["id"])]


# --- search -----------------------------------------------------------------------------------


async def search(api: Api, who: User, board_id: str, query: str = "") -> list[str]:
    page = await api.ok(who, "GET", f"/boards/{board_id}/cards{query}")
    assert page["next_cursor"] is None
    return sorted(c["title"] for c in page["items"])


async def test_search_cards_by_each_filter(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    bid = board["id"]
    bob = await api.user("Bob")
    await api.join(alice, bob)
    done = await api.list(alice, bid, "Done")
    bug = await api.ok(alice, "POST", f"/boards/{bid}/labels", json={"name": "bug", "color": "red"})
    await api.card(alice, todo["id"], "Fix Login bug", label_ids=[bug["id"]], due_at="2030-01-10T00:00:00Z")
    await api.card(alice, todo["id"], "Write blog post", assignee_ids=[str(bob.id)], due_at="2030-03-01T00:00:00Z")
    await api.card(alice, done["id"], "login page copy", assignee_ids=[str(bob.id)], label_ids=[bug["id"]])
    old = await api.card(alice, done["id"], "Old LOGIN flow", due_at="2029-12-31T23:00:00-02:00")
    await api.ok(alice, "PATCH", f"/cards/{old['id']}", json={"archived": True})
    other = await api.board(alice, name="Other")
    await api.card(alice, (await api.list(alice, other["id"]))["id"], "login elsewhere")

    everything = ["Fix Login bug", "Old LOGIN flow", "Write blog post", "login page copy"]
    assert await search(api, alice, bid) == everything
    assert await search(api, alice, bid, "?q=login") == ["Fix Login bug", "Old LOGIN flow", "login page copy"]
    assert await search(api, alice, bid, "?q=LOG") == ["Fix Login bug", "Old LOGIN flow", "Write blog post",
                                                       "login page copy"]
    assert await search(api, alice, bid, "?q=nothing-like-this") == []
    assert await search(api, alice, bid, f"?label={bug['id']}") == ["Fix Login bug", "login page copy"]
    assert await search(api, alice, bid, f"?assignee={bob.id}") == ["Write blog post", "login page copy"]
    assert await search(api, alice, bid, f"?assignee={alice.id}") == []
    # Old LOGIN flow is due 2030-01-01T01:00Z
    assert await search(api, alice, bid, "?due_before=2030-01-05T00:00:00Z") == ["Old LOGIN flow"]
    assert await search(api, alice, bid, "?due_before=2030-01-10T00:00:01%2B00:00") == [
        "Fix Login bug", "Old LOGIN flow"]
    assert await search(api, alice, bid, "?archived=true") == ["Old LOGIN flow"]
    assert await search(api, alice, bid, "?archived=false") == ["Fix Login bug", "Write blog post", "login page copy"]
    assert await search(api, alice, bid, f"?list_id={done['id']}") == ["Old LOGIN flow", "login page copy"]
    # filters combine
    assert await search(api, alice, bid, f"?q=login&label={bug['id']}&assignee={bob.id}") == ["login page copy"]
    assert await search(api, alice, bid, f"?q=login&archived=false&list_id={done['id']}") == ["login page copy"]

    item = (await api.ok(alice, "GET", f"/boards/{bid}/cards?q=page"))["items"][0]
    assert item["label_ids"] == [bug["id"]] and item["assignee_ids"] == [str(bob.id)]


@pytest.mark.parametrize("query", [
    "?due_before=2030-01-01T00:00:00", "?due_before=soon", "?label=bug", "?archived=perhaps",
    "?q=" + "x" * 201, "?cursor=%%%", "?limit=0", "?limit=201",
])
async def test_bad_search_query_is_422(api: Api, query: str) -> None:
    alice, board, _ = await setup_board(api)
    assert_problem(await api.call(alice, "GET", f"/boards/{board['id']}/cards{query}"), 422, "invalid-input")


async def test_search_wildcards_are_literal(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    for title in ("100% done", "1000 done", "snake_case", "snakeXcase", "back\\slash", "backslash"):
        await api.card(alice, todo["id"], title)
    bid = board["id"]
    assert await search(api, alice, bid, "?q=%25") == ["100% done"]
    assert await search(api, alice, bid, "?q=0%25") == ["100% done"]
    assert await search(api, alice, bid, "?q=_") == ["snake_case"]
    assert await search(api, alice, bid, "?q=e_c") == ["snake_case"]
    assert await search(api, alice, bid, "?q=%5C") == ["back\\slash"]
    assert await search(api, alice, bid, "?q=k%5Cs") == ["back\\slash"]


async def test_search_cursor_pagination(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    made = {(await api.card(alice, todo["id"], f"task {i}"))["id"] for i in range(7)}
    await api.card(alice, todo["id"], "unrelated")
    seen: list[str] = []
    sizes = []
    cursor = None
    for _ in range(10):
        query = "?q=task&limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = await api.ok(alice, "GET", f"/boards/{board['id']}/cards{query}")
        sizes.append(len(page["items"]))
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [3, 3, 1]
    assert len(seen) == len(set(seen)) == 7 and set(seen) == made


# --- my tasks ---------------------------------------------------------------------------------


async def my_titles(api: Api, who: User, query: str = "") -> list[str]:
    page = await api.ok(who, "GET", f"/me/tasks{query}")
    return sorted(c["title"] for c in page["items"])


async def test_my_tasks_lists_open_cards_assigned_to_me(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    bob = await api.user("Bob")
    await api.join(alice, bob)
    mine = [str(bob.id)]
    await api.card(alice, todo["id"], "soon", assignee_ids=mine, due_at="2030-01-05T00:00:00Z")
    await api.card(alice, todo["id"], "later", assignee_ids=mine, due_at="2030-06-01T00:00:00Z")
    await api.card(alice, todo["id"], "whenever", assignee_ids=mine)
    finished = await api.card(alice, todo["id"], "finished", assignee_ids=mine, due_at="2030-01-02T00:00:00Z")
    await api.ok(alice, "PATCH", f"/cards/{finished['id']}", json={"completed": True})
    shelved = await api.card(alice, todo["id"], "shelved", assignee_ids=mine)
    await api.ok(alice, "PATCH", f"/cards/{shelved['id']}", json={"archived": True})
    await api.card(alice, todo["id"], "not mine", assignee_ids=[str(alice.id)])
    await api.card(alice, todo["id"], "nobody's")
    # bob's own board in his own workspace counts too
    own = await api.board(bob)
    await api.card(bob, (await api.list(bob, own["id"]))["id"], "home chore", assignee_ids=mine)

    assert await my_titles(api, bob) == ["home chore", "later", "soon", "whenever"]
    assert await my_titles(api, bob, "?include_completed=true") == ["finished", "home chore", "later", "soon",
                                                                    "whenever"]
    assert await my_titles(api, bob, "?due_before=2030-02-01T00:00:00Z") == ["soon"]
    assert await my_titles(api, bob, "?due_after=2030-02-01T00:00:00Z") == ["later"]
    assert await my_titles(api, bob, "?due_after=2030-01-01T00:00:00Z&due_before=2030-12-31T00:00:00Z") == [
        "later", "soon"]
    assert await my_titles(api, bob, "?due_before=2030-02-01T00:00:00Z&include_completed=true") == [
        "finished", "soon"]
    assert await my_titles(api, alice) == ["not mine"]
    assert_problem(await api.call(bob, "GET", "/me/tasks?due_before=2030-01-01T00:00:00"), 422, "invalid-input")


async def test_my_tasks_hides_cards_on_boards_i_lost_access_to(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    bob = await api.user("Bob")  # workspace member
    carol = await api.user("Carol")  # board guest
    await api.join(alice, bob)
    await api.join(alice, carol, "guest")
    await api.ok(alice, "POST", f"/boards/{board['id']}/members", json={"user_id": str(carol.id), "role": "editor"})
    card = await api.card(alice, todo["id"], "shared", assignee_ids=[str(bob.id), str(carol.id)])
    secret = await api.board(alice, name="Secret", visibility="private")
    await api.ok(alice, "POST", f"/boards/{secret['id']}/members", json={"user_id": str(bob.id), "role": "editor"})
    await api.card(alice, (await api.list(alice, secret["id"]))["id"], "secret task", assignee_ids=[str(bob.id)])
    assert await my_titles(api, bob) == ["secret task", "shared"]
    assert await my_titles(api, carol) == ["shared"]

    # carol is taken off the board, bob off the private board
    await api.call(alice, "DELETE", f"/boards/{board['id']}/members/{carol.id}", expect=204)
    await api.call(alice, "DELETE", f"/boards/{secret['id']}/members/{bob.id}", expect=204)
    assert await my_titles(api, carol) == []
    assert await my_titles(api, bob) == ["shared"]
    # bob leaves the workspace altogether
    await api.call(alice, "DELETE", f"/workspaces/{alice.workspace_id}/members/{bob.id}", expect=204)
    assert await my_titles(api, bob) == []
    # the assignment itself is still recorded on the card
    assert sorted((await api.ok(alice, "GET", f"/cards/{card['id']}"))["assignee_ids"]) == sorted(
        [str(bob.id), str(carol.id)])


async def test_my_tasks_pagination(api: Api) -> None:
    alice, _, todo = await setup_board(api)
    made = {(await api.card(alice, todo["id"], f"t{i}", assignee_ids=[str(alice.id)]))["id"] for i in range(5)}
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = await api.ok(alice, "GET", "/me/tasks?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and set(seen) == made


# --- checklists -------------------------------------------------------------------------------


async def test_checklists_and_items(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    bob = await api.user("Bob")
    await api.join(alice, bob)
    card = await api.card(alice, todo["id"])
    r = await api.call(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "Launch"}, expect=201)
    checklist = r.json()
    assert (checklist["card_id"], checklist["title"], checklist["items"]) == (card["id"], "Launch", [])

    def post_item(text: str, **kw: Any) -> Any:
        return api.ok(alice, "POST", f"/checklists/{checklist['id']}/items", json={"text": text, **kw})

    a = await post_item("a")
    assert (a["checklist_id"], a["card_id"], a["done"], a["assignee_id"], a["due_at"]) == (
        checklist["id"], card["id"], False, None, None)
    c = await post_item("c", due_at="2030-01-01T00:00:00Z")
    b = await post_item("b", after_id=a["id"], assignee_id=str(bob.id))
    assert b["assignee_id"] == str(bob.id)
    await post_item("first", before_id=a["id"])

    async def texts() -> list[str]:
        got = await api.ok(alice, "GET", f"/cards/{card['id']}")
        return [i["text"] for i in got["checklists"][0]["items"]]

    assert await texts() == ["first", "a", "b", "c"]

    ticked = await api.ok(alice, "PATCH", f"/checklist-items/{b['id']}", json={"done": True})
    assert ticked["done"] is True
    await api.ok(alice, "PATCH", f"/checklist-items/{c['id']}", json={"done": True})
    snap_card = (await snapshot(api, alice, board["id"]))["cards"][0]
    assert (snap_card["checklist_total"], snap_card["checklist_done"]) == (4, 2)

    moved = await api.ok(alice, "PATCH", f"/checklist-items/{c['id']}", json={"after_id": a["id"]})
    assert moved["position"] != c["position"]
    assert await texts() == ["first", "a", "c", "b"]
    await api.ok(alice, "PATCH", f"/checklist-items/{a['id']}", json={"before_id": b["id"], "text": "A"})
    assert await texts() == ["first", "c", "A", "b"]

    reassigned = await api.ok(alice, "PATCH", f"/checklist-items/{b['id']}", json={"assignee_id": str(alice.id)})
    assert reassigned["assignee_id"] == str(alice.id)
    unassigned = await api.ok(alice, "PATCH", f"/checklist-items/{b['id']}", json={"assignee_id": None, "due_at": None})
    assert (unassigned["assignee_id"], unassigned["due_at"], unassigned["done"]) == (None, None, True)
    undone = await api.ok(alice, "PATCH", f"/checklist-items/{c['id']}", json={"done": False})
    assert (undone["done"], when(undone["due_at"])) == (False, dt.datetime(2030, 1, 1, tzinfo=dt.UTC))

    await api.call(alice, "DELETE", f"/checklist-items/{b['id']}", expect=204)
    assert await texts() == ["first", "c", "A"]
    snap_card = (await snapshot(api, alice, board["id"]))["cards"][0]
    assert (snap_card["checklist_total"], snap_card["checklist_done"]) == (3, 0)
    assert_problem(await api.call(alice, "DELETE", f"/checklist-items/{b['id']}"), 404, "not-found")

    types = [e["type"] for e in await api.events(alice, board["id"], after=after_steps(board, 2))]
    assert types == ["checklist.created"] + ["checklist_item.created"] * 4 + ["checklist_item.updated"] * 7 + [
        "checklist_item.deleted"]


async def test_bad_checklist_requests_change_nothing(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    stranger = await api.user("Stranger")
    card = await api.card(alice, todo["id"])
    other_card = await api.card(alice, todo["id"], "other")
    checklist = await api.ok(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "List"})
    other_cl = await api.ok(alice, "POST", f"/cards/{other_card['id']}/checklists", json={"title": "Other"})
    item = await api.ok(alice, "POST", f"/checklists/{checklist['id']}/items", json={"text": "keep"})
    foreign = await api.ok(alice, "POST", f"/checklists/{other_cl['id']}/items", json={"text": "foreign"})
    v = await version(api, alice, board["id"])

    for path, body, type_ in (
        (f"/cards/{card['id']}/checklists", {"title": ""}, "invalid-input"),
        (f"/cards/{card['id']}/checklists", {"title": "x" * 201}, "invalid-input"),
        (f"/checklists/{checklist['id']}/items", {"text": ""}, "invalid-input"),
        (f"/checklists/{checklist['id']}/items", {"text": "x" * 1001}, "invalid-input"),
        (f"/checklists/{checklist['id']}/items", {"text": "x", "assignee_id": str(stranger.id)}, "invalid-input"),
        (f"/checklists/{checklist['id']}/items", {"text": "x", "due_at": "2030-01-01T00:00:00"}, "invalid-input"),
        (f"/checklists/{checklist['id']}/items", {"text": "x", "after_id": foreign["id"]}, "invalid-position"),
        (f"/checklists/{checklist['id']}/items", {"text": "x", "done": True}, "invalid-input"),
    ):
        assert_problem(await api.call(alice, "POST", path, json=body), 422, type_)
    for body, type_ in (
        ({"text": None}, "invalid-input"), ({"done": None}, "invalid-input"), ({"text": ""}, "invalid-input"),
        ({"assignee_id": str(stranger.id)}, "invalid-input"), ({"after_id": item["id"]}, "invalid-position"),
        ({"before_id": foreign["id"]}, "invalid-position"), ({"checklist_id": other_cl["id"]}, "invalid-input"),
    ):
        assert_problem(await api.call(alice, "PATCH", f"/checklist-items/{item['id']}", json=body), 422, type_)
    assert_problem(await api.call(alice, "POST", f"/checklists/{uuid.uuid4()}/items", json={"text": "x"}), 404)
    assert_problem(await api.call(alice, "PATCH", f"/checklist-items/{uuid.uuid4()}", json={"done": True}), 404)

    assert await version(api, alice, board["id"]) == v
    got = await api.ok(alice, "GET", f"/cards/{card['id']}")
    assert [(i["text"], i["done"], i["assignee_id"]) for i in got["checklists"][0]["items"]] == [
        ("keep", False, None)]


# --- comments ---------------------------------------------------------------------------------


async def test_comments_create_list_edit_delete(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    bob = await api.user("Bob")
    await api.join(alice, bob)
    card = await api.card(alice, todo["id"])
    r = await api.call(bob, "POST", f"/cards/{card['id']}/comments", json={"body": "first!"}, expect=201)
    first = r.json()
    assert (first["card_id"], first["author_id"], first["body"]) == (card["id"], str(bob.id), "first!")
    assert (first["edited_at"], first["deleted_at"], first["mentions"]) == (None, None, [])
    second = await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": "second"})
    third = await api.ok(bob, "POST", f"/cards/{card['id']}/comments", json={"body": "third"})

    page = await api.ok(alice, "GET", f"/cards/{card['id']}/comments")
    assert [c["body"] for c in page["items"]] == ["first!", "second", "third"]
    assert page["next_cursor"] is None
    assert (await api.ok(alice, "GET", f"/cards/{card['id']}"))["comment_count"] == 3

    edited = await api.ok(bob, "PATCH", f"/comments/{first['id']}", json={"body": "first (edited)"})
    assert edited["body"] == "first (edited)" and edited["edited_at"] is not None

    # only the author may edit, even a board admin may not
    v = await version(api, alice, board["id"])
    assert_problem(await api.call(alice, "PATCH", f"/comments/{first['id']}", json={"body": "hijack"}), 403, "forbidden")
    # deleting: an editor may not delete someone else's comment, the author and a board admin may
    assert_problem(await api.call(bob, "DELETE", f"/comments/{second['id']}"), 403, "forbidden")
    assert await version(api, alice, board["id"]) == v

    await api.call(bob, "DELETE", f"/comments/{third['id']}", expect=204)
    await api.call(alice, "DELETE", f"/comments/{first['id']}", expect=204)

    page = await api.ok(alice, "GET", f"/cards/{card['id']}/comments")
    assert [c["id"] for c in page["items"]] == [first["id"], second["id"], third["id"]]  # places are kept
    assert [c["body"] for c in page["items"]] == ["", "second", ""]
    assert [c["deleted_at"] is not None for c in page["items"]] == [True, False, True]
    assert (await api.ok(alice, "GET", f"/cards/{card['id']}"))["comment_count"] == 1

    # a deleted comment can be neither edited nor deleted again
    assert_problem(await api.call(bob, "PATCH", f"/comments/{third['id']}", json={"body": "back"}), 404, "not-found")
    assert_problem(await api.call(bob, "DELETE", f"/comments/{third['id']}"), 404, "not-found")

    events = await api.events(alice, board["id"], after=after_steps(board, 2))
    assert [e["type"] for e in events] == ["comment.created"] * 3 + ["comment.updated"] + ["comment.deleted"] * 2
    assert all(e["card_id"] == card["id"] for e in events)
    # the event log does not keep the text of a deleted comment in its delete event
    assert events[-1]["payload"] == {"comment_id": first["id"], "card_id": card["id"]}


@pytest.mark.parametrize("body", [{"body": ""}, {"body": "   "}, {"body": "x" * 16385}, {}, {"body": "x", "card": 1}])
async def test_invalid_comment_is_422(api: Api, body: dict[str, Any]) -> None:
    alice, board, todo = await setup_board(api)
    card = await api.card(alice, todo["id"])
    comment = await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": "ok"})
    v = await version(api, alice, board["id"])
    assert_problem(await api.call(alice, "POST", f"/cards/{card['id']}/comments", json=body), 422, "invalid-input")
    assert_problem(await api.call(alice, "PATCH", f"/comments/{comment['id']}", json=body), 422, "invalid-input")
    assert await version(api, alice, board["id"]) == v
    assert [c["body"] for c in (await api.ok(alice, "GET", f"/cards/{card['id']}/comments"))["items"]] == ["ok"]


async def test_comment_pagination(api: Api) -> None:
    alice, _, todo = await setup_board(api)
    card = await api.card(alice, todo["id"])
    for i in range(5):
        await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": f"c{i}"})
    first = await api.ok(alice, "GET", f"/cards/{card['id']}/comments?limit=3")
    rest = await api.ok(alice, "GET", f"/cards/{card['id']}/comments?limit=3&cursor={first['next_cursor']}")
    bodies = [c["body"] for c in first["items"] + rest["items"]]
    assert sorted(bodies) == [f"c{i}" for i in range(5)] and len(first["items"]) == 3
    assert rest["next_cursor"] is None


async def test_mentions_record_board_members_only(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    bob = await api.user("Bob")
    await api.join(alice, bob)
    carol = await api.user("Carol")  # not in the workspace
    card = await api.card(alice, todo["id"])
    bob_local = bob.email.split("@")[0]
    carol_local = carol.email.split("@")[0]

    c = await api.ok(alice, "POST", f"/cards/{card['id']}/comments",
                     json={"body": f"@{bob_local} please review, cc @{carol_local} and @{carol.email}"})
    assert c["mentions"] == [str(bob.id)]
    c = await api.ok(alice, "POST", f"/cards/{card['id']}/comments",
                     json={"body": f"thanks @{alice.email.upper()}, and @{bob.email}."})
    assert sorted(c["mentions"]) == sorted([str(alice.id), str(bob.id)])
    # an e-mail address in running text is not a mention
    c = await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": f"write to x{bob.email}"})
    assert c["mentions"] == []

    edited = await api.ok(alice, "PATCH", f"/comments/{c['id']}", json={"body": f"hey @{alice.email.split('@')[0]}"})
    assert edited["mentions"] == [str(alice.id)]
    listed = (await api.ok(alice, "GET", f"/cards/{card['id']}/comments"))["items"]
    assert [sorted(x["mentions"]) for x in listed] == [[str(bob.id)], sorted([str(alice.id), str(bob.id)]),
                                                        [str(alice.id)]]

    # once carol is in the workspace and added to the board she can be mentioned
    await api.join(alice, carol, "guest")
    await api.ok(alice, "POST", f"/boards/{board['id']}/members", json={"user_id": str(carol.id), "role": "viewer"})
    c = await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": f"@{carol_local}"})
    assert c["mentions"] == [str(carol.id)]


async def test_mentions_skip_workspace_members_who_cannot_see_a_private_board(api: Api) -> None:
    alice = await api.user("Alice")
    bob = await api.user("Bob")
    await api.join(alice, bob)
    board = await api.board(alice, visibility="private")
    card = await api.card(alice, (await api.list(alice, board["id"]))["id"])
    c = await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": f"@{bob.email} look"})
    assert c["mentions"] == []


# --- activity ---------------------------------------------------------------------------------


async def test_card_activity_lists_its_events_newest_first(api: Api) -> None:
    alice, board, todo = await setup_board(api)
    done = await api.list(alice, board["id"], "Done")
    card = await api.card(alice, todo["id"], "Tracked")
    other = await api.card(alice, todo["id"], "Other")
    await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"title": "Tracked!"})
    await api.ok(alice, "PATCH", f"/cards/{other['id']}", json={"title": "Other!"})
    await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": "note"})
    checklist = await api.ok(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "Steps"})
    await api.ok(alice, "POST", f"/checklists/{checklist['id']}/items", json={"text": "one"})
    await api.ok(alice, "POST", f"/cards/{card['id']}/move", json={"list_id": done["id"]})

    activity = await api.ok(alice, "GET", f"/cards/{card['id']}/activity")
    assert [e["type"] for e in activity] == [
        "card.moved", "checklist_item.created", "checklist.created", "comment.created", "card.updated",
        "card.created"]
    assert all(e["card_id"] == card["id"] and e["actor_id"] == str(alice.id) for e in activity)
    versions = [e["board_version"] for e in activity]
    assert versions == sorted(versions, reverse=True)
    assert [e["type"] for e in await api.ok(alice, "GET", f"/cards/{card['id']}/activity?limit=2")] == [
        "card.moved", "checklist_item.created"]
    assert_problem(await api.call(alice, "GET", f"/cards/{card['id']}/activity?limit=0"), 422)
    assert_problem(await api.call(alice, "GET", f"/cards/{uuid.uuid4()}/activity"), 404, "not-found")


# --- the hot commands stay off the ORM --------------------------------------------------------


@contextlib.asynccontextmanager
async def nothing_watched() -> AsyncIterator[None]:
    yield


async def hot_requests(
    api: Api, watch: Callable[[], contextlib.AbstractAsyncContextManager[Any]] = nothing_watched
) -> tuple[User, dict[str, Any], dict[str, dict[str, Any]]]:
    """A board with a card and a checklist item; then, inside `watch()`, the hot requests of a board:
    create, edit, move, comment, tick, open a card, delete. Alice, the board and the answers by name."""
    alice, board, todo = await setup_board(api)
    done = await api.list(alice, board["id"], "Done")
    card = await api.ok(alice, "POST", f"/lists/{todo['id']}/cards", json={"title": "Plan"})
    checklist = await api.ok(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "Steps"})
    item = await api.ok(alice, "POST", f"/checklists/{checklist['id']}/items", json={"text": "a"})
    async with watch():
        out = {
            "new": await api.ok(alice, "POST", f"/lists/{todo['id']}/cards", json={"title": "Hot",
                                                                                    "after_id": card["id"]}),
            "edited": await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"title": "Plan it"}),
            "moved": await api.ok(alice, "POST", f"/cards/{card['id']}/move", json={"list_id": done["id"]}),
            "comment": await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": "on it"}),
            "ticked": await api.ok(alice, "PATCH", f"/checklist-items/{item['id']}", json={"done": True}),
            "opened": await api.ok(alice, "GET", f"/cards/{card['id']}"),
        }
        await api.call(alice, "DELETE", f"/cards/{out['new']['id']}", expect=204)
    out |= {"card": card, "done": done}
    return alice, board, out


async def test_hot_card_commands_load_no_orm_objects(api: Api) -> None:
    """Create, edit, move, comment, tick and delete read and write plain rows: loading ORM objects
    (identity map, change tracking, flush) cost more than the rest of such a command, and these are
    most of what users send (docs/benchmarks-history.md, "Fourth pass"). They still do what they say."""
    from sqlalchemy import event

    from orbitask.core.db import Base

    loaded: list[str] = []

    def on_load(target: Any, context: Any) -> None:
        loaded.append(type(target).__name__)

    @contextlib.asynccontextmanager
    async def watch() -> AsyncIterator[None]:
        event.listen(Base, "load", on_load, propagate=True)
        try:
            yield
        finally:
            event.remove(Base, "load", on_load)

    alice, board, out = await hot_requests(api, watch)
    assert loaded == []
    new, card, done = out["new"], out["card"], out["done"]
    assert (new["title"], new["watcher_ids"], new["comment_count"]) == ("Hot", [str(alice.id)], 0)
    assert out["edited"]["title"] == "Plan it" and out["edited"]["checklist_total"] == 1
    assert (out["moved"]["list_id"], out["moved"]["title"]) == (done["id"], "Plan it")
    assert out["comment"]["body"] == "on it" and out["ticked"]["done"] is True
    assert (out["opened"]["title"], out["opened"]["list_id"], out["opened"]["comment_count"]) == (
        "Plan it", done["id"], 1)
    assert out["opened"]["checklists"][0]["items"][0]["done"] is True
    after = await snapshot(api, alice, board["id"])
    assert [c["id"] for c in after["cards"]] == [card["id"]]
    assert after["cards"][0]["comment_count"] == 1 and after["cards"][0]["checklist_done"] == 1
    assert after["version"] == after_steps(board, 11)  # 2 lists, a card, a checklist, an item, then the 6 writes


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_hot_card_requests_on_sqlite_run_their_statements_on_the_connection(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the embedded default the hot commands and opening a card are `Prepared` statements run on the
    sqlite3 connection: none goes through `AsyncSession.execute`, which cost 100-240 µs a statement
    against SQLite's 8 (docs/benchmarks-history.md, "Fifth pass"). (MariaDB and PostgreSQL run the same
    statements through the session: the test above checks their results on every backend.)"""
    from sqlalchemy.ext.asyncio import AsyncSession

    from orbitask.core import context

    through_session: list[str] = []
    execute = AsyncSession.execute

    async def recording(self: AsyncSession, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if context.current() is not None:  # a request's, not the background loops' (relay, consumers)
            through_session.append(" ".join(str(statement).split())[:80])
        return await execute(self, statement, *args, **kwargs)

    @contextlib.asynccontextmanager
    async def watch() -> AsyncIterator[None]:
        with monkeypatch.context() as patched:
            patched.setattr(AsyncSession, "execute", recording)
            yield

    alice, board, out = await hot_requests(api, watch)
    assert through_session == []
    assert out["opened"]["checklists"][0]["items"][0]["done"] is True
    assert (await snapshot(api, alice, board["id"]))["version"] == after_steps(board, 11)
