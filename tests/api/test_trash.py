"""The trash (issue 25): deleted cards and lists are kept, invisible, restorable in place, and purged later."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select, update

from orbitask.boards.models import BoardList
from orbitask.core.events import REGISTRY, Event
from orbitask.core.jobs import load_jobs
from orbitask.search.models import SearchEntry
from orbitask.tasks.models import Attachment, Card
from orbitask.tasks.watching import open_cards_due_between
from tests.api.test_attachments import png, stored_keys, upload
from tests.conftest import Api, User, assert_problem


async def found(api: Api, who: User, q: str) -> set[str]:
    """The ids of the cards a search finds."""
    return {hit["card"]["id"] for hit in (await api.ok(who, "GET", "/search", params={"q": q}))["items"]}


async def board_cards(api: Api, who: User, board_id: str) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in (await api.ok(who, "GET", f"/boards/{board_id}"))["cards"]}


async def trash(api: Api, who: User, board_id: str, **params: Any) -> dict[str, Any]:
    return await api.ok(who, "GET", f"/boards/{board_id}/trash", params=params)  # type: ignore[no-any-return]


async def board_events(app: Any, board_id: str) -> list[Event]:
    async with app.state.runtime.db.read_session() as session:
        rows = await session.execute(select(Event).where(Event.board_id == uuid.UUID(board_id)).order_by(Event.seq))
        return list(rows.scalars())


async def entries(app: Any, card_id: str) -> list[str]:
    """The kinds of the search index's entries of a card."""
    async with app.state.runtime.db.read_session() as session:
        rows = await session.execute(select(SearchEntry.kind).where(SearchEntry.card_id == uuid.UUID(card_id)))
        return sorted(rows.scalars())


async def age(app: Any, model: Any, ids: list[str], days: int) -> None:
    """Pretend these items went to the trash `days` ago."""
    async with app.state.runtime.db.write_transaction() as session:
        await session.execute(update(model).where(model.id.in_([uuid.UUID(i) for i in ids]))
                              .values(deleted_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days)))


async def test_a_deleted_card_is_gone_everywhere_and_comes_back_in_place_with_everything(api: Api, app: Any) -> None:
    alice, bob = await api.user("Alice"), await api.user("Bob")
    await api.join(alice, bob)
    board = await api.board(alice)
    todo = await api.list(alice, board["id"], "To do")
    label = await api.ok(alice, "POST", f"/boards/{board['id']}/labels", json={"name": "bug", "color": "red"})
    first = await api.card(alice, todo["id"], "First")
    card = await api.card(alice, todo["id"], "Quokka plan", assignee_ids=[str(alice.id)], label_ids=[label["id"]],
                          due_at=(dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat())
    last = await api.card(alice, todo["id"], "Last")
    checklist = await api.ok(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "Steps"})
    item_of_card = await api.ok(alice, "POST", f"/checklists/{checklist['id']}/items", json={"text": "Feed the pangolin"})
    await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": "Ping the narwhal team"})
    attachment = (await upload(api, alice, card["id"], "wombat.png", png(), "image/png")).json()
    before = (await api.ok(alice, "GET", f"/boards/{board['id']}"))["cards"]
    assert await found(api, alice, "narwhal") == {card["id"]}
    indexed = await entries(app, card["id"])
    assert indexed == ["attachment", "comment", "item", "title"]

    await api.call(bob, "DELETE", f"/cards/{card['id']}", expect=204)
    assert await entries(app, card["id"]) == []  # out of the index in the deleting transaction
    assert_problem(await api.call(alice, "GET", f"/cards/{card['id']}"), 404, "not-found")
    assert_problem(await api.call(alice, "GET", f"/cards/{card['id']}/comments"), 404, "not-found")
    assert_problem(await api.call(alice, "PATCH", f"/cards/{card['id']}", json={"title": "x"}), 404, "not-found")
    assert_problem(await api.call(alice, "GET", f"/attachments/{attachment['id']}/content"), 404, "not-found")
    assert list(await board_cards(api, alice, board["id"])) == [first["id"], last["id"]]
    for word in ("quokka", "pangolin", "narwhal", "wombat"):
        assert await found(api, alice, word) == set(), word
    assert (await api.ok(alice, "GET", "/me/tasks"))["items"] == []
    assert [c["id"] for c in (await api.ok(alice, "GET", f"/boards/{board['id']}/cards"))["items"]] == [
        first["id"], last["id"]]
    assert_problem(await api.call(alice, "PATCH", f"/checklist-items/{item_of_card['id']}", json={"done": True}),
                   404, "not-found")
    exported = (await api.call(alice, "GET", f"/boards/{board['id']}/export", expect=200)).text
    assert "Quokka plan" not in exported and "First" in exported
    async with app.state.runtime.db.read_session() as session:  # no reminder for a card in the trash
        now = dt.datetime.now(dt.UTC)
        soon = await open_cards_due_between(session, now, now + dt.timedelta(days=3))
    assert card["id"] not in {str(c.id) for c in soon}
    [item] = (await trash(api, alice, board["id"]))["items"]
    assert (item["kind"], item["id"], item["name"], item["list_name"], item["deleted_by"]["name"]) == (
        "card", card["id"], "Quokka plan", "To do", "Bob")

    restored = await api.ok(bob, "POST", f"/cards/{card['id']}/restore")
    assert (restored["list_id"], restored["position"]) == (todo["id"], card["position"])
    assert (await api.ok(alice, "GET", f"/boards/{board['id']}"))["cards"] == [
        {**c, "updated_at": restored["updated_at"]} if c["id"] == card["id"] else c for c in before]
    got = await api.ok(alice, "GET", f"/cards/{card['id']}")
    assert (got["label_ids"], got["assignee_ids"], got["comment_count"], got["attachment_count"]) == (
        [label["id"]], [str(alice.id)], 1, 1)
    assert got["checklists"][0]["items"][0]["text"] == "Feed the pangolin"
    assert (await api.call(alice, "GET", f"/attachments/{attachment['id']}/content", expect=200)).content == png()
    assert await entries(app, card["id"]) == indexed
    for word in ("quokka", "pangolin", "narwhal", "wombat"):
        assert await found(api, alice, word) == {card["id"]}, word
    assert [c["id"] for c in (await api.ok(alice, "GET", "/me/tasks"))["items"]] == [card["id"]]
    assert (await trash(api, alice, board["id"]))["items"] == []
    # restoring what is not in the trash changes nothing
    assert await api.ok(bob, "POST", f"/cards/{card['id']}/restore") == restored

    events = await board_events(app, board["id"])
    assert [e.board_version for e in events] == list(range(1, len(events) + 1))  # gapless
    assert [(e.type, str(e.card_id)) for e in events[-2:]] == [("card.deleted", card["id"]),
                                                               ("card.restored", card["id"])]
    for event in events:
        REGISTRY[event.type].model_validate(event.payload)
    assert events[-1].payload["card"] == restored


async def test_a_deleted_list_takes_its_cards_and_a_card_waits_for_its_list(api: Api, app: Any) -> None:
    alice = await api.user("Alice")
    board = await api.board(alice)
    keep = await api.list(alice, board["id"], "Keep")
    doomed = await api.list(alice, board["id"], "Doomed")
    kept = await api.card(alice, keep["id"], "Kept")
    early = await api.card(alice, doomed["id"], "Deleted before its list")
    cards = [await api.card(alice, doomed["id"], f"Lemur {i}") for i in range(2)]
    await api.ok(alice, "DELETE", f"/cards/{early['id']}")
    await api.ok(alice, "DELETE", f"/lists/{doomed['id']}")

    snap = await api.ok(alice, "GET", f"/boards/{board['id']}")
    assert ([x["id"] for x in snap["lists"]], [c["id"] for c in snap["cards"]]) == ([keep["id"]], [kept["id"]])
    assert await found(api, alice, "lemur") == set()
    assert_problem(await api.call(alice, "POST", f"/lists/{doomed['id']}/cards", json={"title": "x"}), 404)
    assert_problem(await api.call(alice, "PATCH", f"/lists/{doomed['id']}", json={"name": "x"}), 404)
    assert_problem(await api.call(alice, "POST", f"/cards/{kept['id']}/move", json={"list_id": doomed["id"]}), 422)
    items = (await trash(api, alice, board["id"]))["items"]
    assert [(i["kind"], i["name"], i["list_in_trash"]) for i in items] == [
        ("list", "Doomed", False), ("card", "Deleted before its list", True)]  # its cards are in the list's item

    # the documented rule: a card whose list is in the trash waits for the list
    problem = assert_problem(await api.call(alice, "POST", f"/cards/{early['id']}/restore"), 409, "conflict")
    assert "Doomed" in problem["detail"] and problem["list_id"] == doomed["id"]
    assert_problem(await api.call(alice, "POST", f"/cards/{cards[0]['id']}/restore"), 409, "conflict")

    restored = await api.ok(alice, "POST", f"/lists/{doomed['id']}/restore")
    assert (restored["position"], restored["archived"]) == (doomed["position"], False)
    snap = await api.ok(alice, "GET", f"/boards/{board['id']}")
    assert [x["id"] for x in snap["lists"]] == [keep["id"], doomed["id"]]
    assert [c["id"] for c in snap["cards"]] == [kept["id"], *(c["id"] for c in cards)]  # not the one deleted before
    assert await found(api, alice, "lemur") == {c["id"] for c in cards}
    await api.ok(alice, "POST", f"/cards/{early['id']}/restore")
    assert len((await api.ok(alice, "GET", f"/boards/{board['id']}"))["cards"]) == 4
    events = await board_events(app, board["id"])
    assert [e.type for e in events[-3:]] == ["list.deleted", "list.restored", "card.restored"]
    assert [e.board_version for e in events] == list(range(1, len(events) + 1))


async def test_the_trash_and_the_archive_are_paged_newest_first_and_searchable(api: Api) -> None:
    alice = await api.user("Alice")
    board = await api.board(alice)
    todo = await api.list(alice, board["id"], "To do")
    old = await api.list(alice, board["id"], "Old ideas")
    titles = ["Alpha report", "Beta report", "Gamma memo"]
    cards = [await api.card(alice, todo["id"], t) for t in titles]
    for card in cards:
        await api.ok(alice, "DELETE", f"/cards/{card['id']}")
    first = await trash(api, alice, board["id"], limit=2)
    second = await trash(api, alice, board["id"], limit=2, cursor=first["next_cursor"])
    assert [i["name"] for i in first["items"] + second["items"]] == titles[::-1]
    assert second["next_cursor"] is None
    assert [i["name"] for i in (await trash(api, alice, board["id"], q="REPORT"))["items"]] == ["Beta report",
                                                                                               "Alpha report"]
    assert_problem(await api.call(alice, "GET", f"/boards/{board['id']}/trash?cursor=nonsense"), 422)

    shelved = await api.card(alice, todo["id"], "Shelved card")
    await api.ok(alice, "PATCH", f"/cards/{shelved['id']}", json={"archived": True})
    await api.ok(alice, "PATCH", f"/lists/{old['id']}", json={"archived": True})
    page = await api.ok(alice, "GET", f"/boards/{board['id']}/archive")
    assert [(i["kind"], i["name"]) for i in page["items"]] == [("list", "Old ideas"), ("card", "Shelved card")]
    assert [i["name"] for i in (await api.ok(alice, "GET", f"/boards/{board['id']}/archive",
                                             params={"q": "shelved", "limit": 1}))["items"]] == ["Shelved card"]
    await api.ok(alice, "PATCH", f"/cards/{shelved['id']}", json={"archived": False})
    await api.ok(alice, "PATCH", f"/lists/{old['id']}", json={"archived": False})
    assert (await api.ok(alice, "GET", f"/boards/{board['id']}/archive"))["items"] == []
    snap = await api.ok(alice, "GET", f"/boards/{board['id']}")
    assert ([x["name"] for x in snap["lists"]], [c["title"] for c in snap["cards"]]) == (
        ["To do", "Old ideas"], ["Shelved card"])


async def test_the_purge_erases_only_what_is_older_than_the_retention_with_its_files(api: Api, app: Any) -> None:
    rt = app.state.runtime
    alice = await api.user("Alice")
    board = await api.board(alice)
    todo = await api.list(alice, board["id"], "To do")
    doomed = await api.list(alice, board["id"], "Doomed")
    expired = await api.card(alice, todo["id"], "Expired")
    recent = await api.card(alice, todo["id"], "Recent")
    in_list = await api.card(alice, doomed["id"], "In the list")
    for card in (expired, recent, in_list):
        await upload(api, alice, card["id"], f"{card['title']}.png", png(), "image/png")
    await api.ok(alice, "POST", f"/cards/{expired['id']}/comments", json={"body": "bye"})
    for card in (expired, recent):
        await api.ok(alice, "DELETE", f"/cards/{card['id']}")
    await api.ok(alice, "DELETE", f"/lists/{doomed['id']}")
    assert len(await stored_keys(app)) == 6  # each file and its preview
    days = rt.settings.trash_retention_days
    await age(app, Card, [expired["id"]], days + 1)
    await age(app, Card, [recent["id"]], days - 1)
    await age(app, BoardList, [doomed["id"]], days + 1)
    await age(app, Card, [in_list["id"]], days + 1)
    # past the retention nothing is restorable any more, though not yet erased
    assert_problem(await api.call(alice, "POST", f"/cards/{expired['id']}/restore"), 404, "not-found")
    assert_problem(await api.call(alice, "POST", f"/lists/{doomed['id']}/restore"), 404, "not-found")

    step = load_jobs()["trash-purge"].build(rt)
    assert step is not None
    assert await step() == 3  # two cards (one of them the list's) and the list
    assert await step() == 0
    async with rt.db.read_session() as session:
        left = set((await session.execute(select(Card.title))).scalars())
        lists = set((await session.execute(select(BoardList.name))).scalars())
        files = set((await session.execute(select(Attachment.filename))).scalars())
    assert (left, lists, files) == ({"Recent"}, {"To do"}, {"Recent.png"})
    recent_files = {k for k in await stored_keys(app)}
    assert len(recent_files) == 2 and all(k.startswith("attachments/") for k in recent_files)
    restored = await api.ok(alice, "POST", f"/cards/{recent['id']}/restore")
    assert restored["attachment_count"] == 1
