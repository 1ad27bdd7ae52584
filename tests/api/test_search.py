"""Search across boards (GET /search), on every backend: what is found, what is followed, who sees what."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from prometheus_client import REGISTRY
from sqlalchemy import delete, select

from orbitask.app import create_app
from orbitask.search import index
from orbitask.search.models import SearchEntry
from orbitask.tasks.models import Checklist
from tests.api.test_import_trello import import_trello
from tests.conftest import TRELLO_FIXTURE, Api, User, assert_problem, make_settings
from tests.e2e.test_cli import cli_env


async def search(api: Api, who: User, q: str, **filters: Any) -> list[dict[str, Any]]:
    """The hits of one search (every page asked for is 200)."""
    r = await api.call(who, "GET", "/search", params={"q": q, **{k: str(v) for k, v in filters.items()}})
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def found(api: Api, who: User, q: str, **filters: Any) -> set[str]:
    """The ids of the cards a search finds."""
    return {hit["card"]["id"] for hit in await search(api, who, q, **filters)}


def marked(hit: dict[str, Any]) -> list[str]:
    """The snippet's matched pieces."""
    return [s["text"] for s in hit["snippet"] if s["match"]]


async def test_every_text_of_a_card_is_found_and_edits_and_deletes_are_followed(api: Api, app: Any) -> None:
    alice = await api.user("Alice")
    board = await api.board(alice, name="Roadmap")
    todo = await api.list(alice, board["id"], "To do")
    timed = REGISTRY.get_sample_value("orbitask_search_index_seconds_count") or 0.0
    card = await api.card(alice, todo["id"], "Quokka migration plan", description="Move the aardvark servers first.")
    assert REGISTRY.get_sample_value("orbitask_search_index_seconds_count") == timed + 1  # the command's indexing
    comment = await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": "Ping the narwhal team"})
    checklist = await api.ok(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "Steps"})
    item = await api.ok(alice, "POST", f"/checklists/{checklist['id']}/items", json={"text": "Backup the pangolin"})
    upload = await api.call(alice, "POST", f"/cards/{card['id']}/attachments",
                            files={"file": ("wombat-budget.txt", b"numbers", "text/plain")}, expect=201)

    for word, kind, original in (("quokka", "title", "Quokka"), ("aardvark", "description", "aardvark"),
                                 ("narwhal", "comment", "narwhal"), ("pangolin", "item", "pangolin"),
                                 ("wombat", "attachment", "wombat")):
        [hit] = await search(api, alice, word)
        assert (hit["card"]["id"], hit["matched"]) == (card["id"], kind), word
        assert marked(hit) == [original], hit["snippet"]
        assert (hit["board"]["name"], hit["list"]["name"]) == ("Roadmap", "To do")
        assert hit["board"]["workspace_id"] == str(alice.workspace_id)

    # edits replace the old text: the old word is gone, the new one found
    await api.ok(alice, "PATCH", f"/comments/{comment['id']}", json={"body": "Ping the okapi team"})
    await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"title": "Capybara migration plan", "description": ""})
    await api.ok(alice, "PATCH", f"/checklist-items/{item['id']}", json={"text": "Backup the tapir"})
    for gone in ("narwhal", "quokka", "aardvark", "pangolin"):
        assert await found(api, alice, gone) == set(), gone
    for now in ("okapi", "capybara", "tapir"):
        assert await found(api, alice, now) == {card["id"]}, now

    # deletes: comment (kept as a placeholder), item, attachment (soft), checklist, card, list, board
    await api.ok(alice, "DELETE", f"/comments/{comment['id']}")
    await api.ok(alice, "DELETE", f"/checklist-items/{item['id']}")
    await api.ok(alice, "DELETE", f"/attachments/{upload.json()['id']}")
    for gone in ("okapi", "tapir", "wombat"):
        assert await found(api, alice, gone) == set(), gone
    other = await api.ok(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "More"})
    await api.ok(alice, "POST", f"/checklists/{other['id']}/items", json={"text": "Feed the ocelot"})
    assert await found(api, alice, "ocelot") == {card["id"]}
    async with app.state.runtime.db.write_transaction() as session:  # no route deletes a checklist yet
        await session.execute(delete(Checklist).where(Checklist.id == uuid.UUID(other["id"])))
    assert await found(api, alice, "ocelot") == set()
    assert await found(api, alice, "capybara") == {card["id"]}
    await api.ok(alice, "DELETE", f"/cards/{card['id']}")
    assert await found(api, alice, "capybara") == set()

    doing = await api.list(alice, board["id"], "Doing")
    await api.card(alice, doing["id"], "Lemur review")
    await api.ok(alice, "DELETE", f"/lists/{doing['id']}")
    assert await found(api, alice, "lemur") == set()
    await api.card(alice, todo["id"], "Gecko review")
    await api.ok(alice, "DELETE", f"/boards/{board['id']}")
    assert await found(api, alice, "gecko") == set()
    async with app.state.runtime.db.read_session(on_writer=True) as session:
        assert list((await session.execute(select(SearchEntry.id))).all()) == []


async def test_filters_narrow_and_archived_cards_lists_and_boards_are_apart(api: Api) -> None:
    alice, bob = await api.user("Alice"), await api.user("Bob")
    await api.join(alice, bob)
    board = await api.board(alice, name="Ops")
    first, second = await api.list(alice, board["id"], "First"), await api.list(alice, board["id"], "Second")
    label = await api.ok(alice, "POST", f"/boards/{board['id']}/labels", json={"name": "bug", "color": "red"})
    now = dt.datetime.now(dt.UTC)
    overdue = await api.card(alice, first["id"], "Widget overdue", due_at=(now - dt.timedelta(days=1)).isoformat(),
                             label_ids=[label["id"]])
    soon = await api.card(alice, first["id"], "Widget soon", due_at=(now + dt.timedelta(days=2)).isoformat(),
                          assignee_ids=[str(bob.id)])
    later = await api.card(alice, second["id"], "Widget later", due_at=(now + dt.timedelta(days=30)).isoformat())
    done = await api.card(alice, second["id"], "Widget done", due_at=(now - dt.timedelta(days=3)).isoformat())
    await api.ok(alice, "PATCH", f"/cards/{done['id']}", json={"completed": True})
    undated = await api.card(alice, second["id"], "Widget undated")
    archived = await api.card(alice, second["id"], "Widget archived")
    await api.ok(alice, "PATCH", f"/cards/{archived['id']}", json={"archived": True})
    shelved = await api.list(alice, board["id"], "Shelved")
    on_shelf = await api.card(alice, shelved["id"], "Widget shelved")
    await api.ok(alice, "PATCH", f"/lists/{shelved['id']}", json={"archived": True})
    old_board = await api.board(alice, name="Old")
    old_card = await api.card(alice, (await api.list(alice, old_board["id"]))["id"], "Widget of the old board")
    await api.ok(alice, "PATCH", f"/boards/{old_board['id']}", json={"archived": True})

    live = {c["id"] for c in (overdue, soon, later, done, undated)}
    assert await found(api, alice, "widget") == live
    assert await found(api, alice, "widget", archived="true") == {archived["id"], on_shelf["id"], old_card["id"]}
    assert await found(api, alice, "widget", board_id=board["id"]) == live
    assert await found(api, alice, "widget", list_id=first["id"]) == {overdue["id"], soon["id"]}
    assert await found(api, alice, "widget", label_id=label["id"]) == {overdue["id"]}
    assert await found(api, alice, "widget", member_id=bob.id) == {soon["id"]}
    assert await found(api, alice, "widget", due="overdue") == {overdue["id"]}
    assert await found(api, alice, "widget", due="soon") == {soon["id"]}
    assert await found(api, alice, "widget", due="none") == {undated["id"]}
    assert await found(api, alice, "widget", due="any") == {overdue["id"], soon["id"], later["id"], done["id"]}
    assert await found(api, alice, "widget", due="done") == {done["id"]}
    assert await found(api, alice, "widget", list_id=first["id"], due="soon", member_id=bob.id) == {soon["id"]}
    r = await api.call(alice, "GET", "/search", params={"q": "widget", "due": "someday"})
    assert_problem(r, 422, "invalid-input")


async def test_nobody_finds_a_card_they_cannot_read(api: Api) -> None:
    alice = await api.user("Alice")
    member, guest, viewer, leaver, outsider = [await api.user(n) for n in ("Member", "Guest", "Viewer", "Leaver",
                                                                              "Outsider")]
    await api.join(alice, member)
    for who in (guest, viewer, leaver):
        await api.join(alice, who, "guest")
    public = await api.board(alice, name="Public")
    private = await api.board(alice, name="Private", visibility="private")
    in_public = await api.card(alice, (await api.list(alice, public["id"]))["id"], "Nebula launch")
    private_list = await api.list(alice, private["id"])
    in_private = await api.card(alice, private_list["id"], "Nebula secret",
                                description="nebula budget for the nebula board")
    private_label = await api.ok(alice, "POST", f"/boards/{private['id']}/labels", json={"name": "x", "color": "red"})
    await api.ok(alice, "POST", f"/cards/{in_private['id']}/comments", json={"body": "the nebula password"})
    for who, role in ((viewer, "viewer"), (leaver, "editor")):
        await api.ok(alice, "POST", f"/boards/{private['id']}/members", json={"user_id": str(who.id), "role": role})
    assert await found(api, leaver, "nebula") == {in_private["id"]}
    await api.ok(alice, "DELETE", f"/workspaces/{alice.workspace_id}/members/{leaver.id}")
    theirs = await api.card(outsider, (await api.list(outsider, (await api.board(outsider))["id"]))["id"],
                            "Nebula elsewhere")

    assert await found(api, alice, "nebula") == {in_public["id"], in_private["id"]}
    assert await found(api, member, "nebula") == {in_public["id"]}
    assert await found(api, viewer, "nebula") == {in_private["id"]}
    for who in (guest, leaver):
        assert await found(api, who, "nebula") == set()
    assert await found(api, outsider, "nebula") == {theirs["id"]}
    for who in (member, guest, leaver, outsider):  # naming what they cannot read in a filter tells nothing either
        for name, value in (("board_id", private["id"]), ("list_id", private_list["id"]),
                            ("label_id", private_label["id"])):
            r = await api.call(who, "GET", "/search", params={"q": "nebula", name: value})
            assert_problem(r, 404, "not-found")
    r = await api.call(None, "GET", "/search", params={"q": "nebula"})
    assert_problem(r, 401)


async def test_accents_cjk_phrases_and_prefixes(api: Api) -> None:
    alice = await api.user("Alice")
    todo = await api.list(alice, (await api.board(alice))["id"])
    tokyo = await api.card(alice, todo["id"], "東京都庁の見学")
    beijing = await api.card(alice, todo["id"], "北京大学的图书馆")
    creme = await api.card(alice, todo["id"], "Crème brûlée for the Straße party")
    fox = await api.card(alice, todo["id"], "The quick brown fox")
    reverse = await api.card(alice, todo["id"], "A fox that is brown")
    x = await api.card(alice, todo["id"], "Plan x and xylophone")

    assert await found(api, alice, "東京") == {tokyo["id"]}
    assert await found(api, alice, "都庁") == {tokyo["id"]}
    assert await found(api, alice, "庁") == {tokyo["id"]}  # one character: a prefix of the stored pairs
    assert await found(api, alice, "京") == {tokyo["id"], beijing["id"]}
    assert await found(api, alice, "京都") == {tokyo["id"]}  # the pair 京都 runs across 東京都
    assert await found(api, alice, "大阪") == set()
    assert await found(api, alice, "图书馆") == {beijing["id"]}
    assert await found(api, alice, "北京 图书") == {beijing["id"]}
    [hit] = await search(api, alice, "图书馆")
    assert marked(hit) == ["图书馆"]
    for q in ("creme brulee", "CRÈME", "brûlée", "strasse", "STRASSE"):
        assert await found(api, alice, q) == {creme["id"]}, q
    [hit] = await search(api, alice, "creme strasse")
    assert marked(hit) == ["Crème", "Straße"]
    assert await found(api, alice, "brown fox") == {fox["id"], reverse["id"]}
    assert await found(api, alice, '"brown fox"') == {fox["id"]}
    assert await found(api, alice, '"fox brown"') == set()
    assert await found(api, alice, "qui bro") == {fox["id"]}  # prefixes from two characters on
    assert await found(api, alice, "quic brow") == {fox["id"]}  # longer ones: SQLite spells them out as words
    await api.ok(alice, "PATCH", f"/cards/{x['id']}", json={"title": "Plan x and xylophones galore"})
    assert await found(api, alice, "xylop galo") == {x["id"]}  # words an edit brings are spelled out too
    zap = await api.card(alice, todo["id"], "Zap", description=" ".join(f"zapword{n}" for n in range(70)))
    assert await found(api, alice, "zapw") == {zap["id"]}  # more words than a prefix is spelled out as
    assert await found(api, alice, "zapword6") == {zap["id"]}
    assert await found(api, alice, '"qui"') == set()  # a quoted word is exact
    assert await found(api, alice, "x") == {x["id"]}  # one latin character matches a whole word only
    assert await found(api, alice, "xy") == {x["id"]}

    commented = await api.card(alice, todo["id"], "Crossing notes")
    await api.ok(alice, "POST", f"/cards/{commented['id']}/comments", json={"body": "a zebra on the road"})
    titled = await api.card(alice, todo["id"], "Zebra crossing")
    ranked = await search(api, alice, "zebra")  # a title weighs more than a comment
    assert [(h["card"]["id"], h["matched"]) for h in ranked] == [(titled["id"], "title"), (commented["id"], "comment")]
    both = [(h["card"]["id"], h["matched"]) for h in await search(api, alice, "crossing")]
    assert sorted(both) == sorted([(titled["id"], "title"), (commented["id"], "title")])  # one hit per card


# what people type, and what FTS syntax would make of it: results (200) or a clear 422, never a 500
BAD_INPUT = [
    ("", 422), ("   ", 422), ("a", 200), ("x" * 10_000, 422), ("x" * 500, 200), ('"', 422), ("unbalanced \"quo", 200),
    ("*", 422), ("NEAR(", 200), ("AND OR", 200), ("-x", 200), ("'", 422), ("\\", 422), ("\x00", 422),
    ("a\x00b", 422), ("title:x", 200), ("x*", 200), ("(x OR y) NOT z^2", 200), ("+x +y", 200), ("':*' & !x", 200),
    ('"" x', 200), ("\u200b", 422), ("🚀", 422), ("x" * 60 + "y", 200), ("東", 200), ("ｘ", 200),
]


async def test_bad_input_is_a_result_or_a_clear_422_never_a_500(api: Api) -> None:
    alice = await api.user("Alice")
    await api.card(alice, (await api.list(alice, (await api.board(alice))["id"]))["id"], "x and y and a title")
    for q, status in BAD_INPUT:
        r = await api.call(alice, "GET", "/search", params={"q": q})
        assert r.status_code == status, (q, r.status_code, r.text)
        if status == 422:
            assert_problem(r, 422)
    r = await api.call(alice, "GET", "/search", params={"q": "   "})
    assert_problem(r, 422, "search-query-invalid")


async def test_pages_follow_the_cursor_without_duplicates(api: Api) -> None:
    alice = await api.user("Alice")
    todo = await api.list(alice, (await api.board(alice))["id"])
    made = {(await api.card(alice, todo["id"], f"Falcon {n}"))["id"] for n in range(5)}
    seen: list[str] = []
    pages, cursor = 0, None
    while pages < 5:  # 3 pages expected: the bound only stops a loop that would never end
        params = {"q": "falcon", "limit": "2", **({"cursor": cursor} if cursor else {})}
        body = (await api.call(alice, "GET", "/search", params=params, expect=200)).json()
        seen += [hit["card"]["id"] for hit in body["items"]]
        pages, cursor = pages + 1, body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 5 and set(seen) == made
    first = (await api.call(alice, "GET", "/search", params={"q": "falcon", "limit": "2"})).json()
    for forged in ("garbage", "MTA6YWJj", first["next_cursor"][:-2]):
        r = await api.call(alice, "GET", "/search", params={"q": "falcon", "cursor": forged})
        assert_problem(r, 422, "invalid-input")
    r = await api.call(alice, "GET", "/search", params={"q": "falcons", "cursor": first["next_cursor"]})
    assert_problem(r, 422, "invalid-input")  # another search's cursor


async def _entries(app: Any) -> list[tuple[Any, ...]]:
    """Every search entry without its row id, sorted by (kind, source_id)."""
    columns = [c for c in SearchEntry.__table__.c if c.key != "id"]
    async with app.state.runtime.db.read_session(on_writer=True) as session:
        rows = [tuple(r) for r in (await session.execute(select(*columns))).all()]
    return sorted(rows, key=lambda r: (r[1], str(r[2])))


async def test_the_index_kept_by_commands_equals_the_rebuilt_one(api: Api, app: Any) -> None:
    alice = await api.user("Alice")
    todo = await api.list(alice, (await api.board(alice))["id"])
    cards = [await api.card(alice, todo["id"], f"Heron {n}", description=f"about the ibis number {n}")
             for n in range(3)]
    comment = await api.ok(alice, "POST", f"/cards/{cards[0]['id']}/comments", json={"body": "egret sighting"})
    await api.ok(alice, "PATCH", f"/comments/{comment['id']}", json={"body": "stork sighting"})
    gone = await api.ok(alice, "POST", f"/cards/{cards[1]['id']}/comments", json={"body": "crane"})
    await api.ok(alice, "DELETE", f"/comments/{gone['id']}")
    checklist = await api.ok(alice, "POST", f"/cards/{cards[1]['id']}/checklists", json={"title": "Birds"})
    item = await api.ok(alice, "POST", f"/checklists/{checklist['id']}/items", json={"text": "pelican"})
    await api.ok(alice, "PATCH", f"/checklist-items/{item['id']}", json={"text": "flamingo", "done": True})
    await api.ok(alice, "PATCH", f"/cards/{cards[2]['id']}", json={"title": "Puffin", "description": "!!!"})
    await api.call(alice, "POST", f"/cards/{cards[2]['id']}/attachments", files={"file": ("tern.png.txt", b"t")},
                   expect=201)
    removed = await api.call(alice, "POST", f"/cards/{cards[2]['id']}/attachments", files={"file": ("gull", b"g")},
                             expect=201)
    await api.ok(alice, "DELETE", f"/attachments/{removed.json()['id']}")
    kept = await _entries(app)
    assert {r[1] for r in kept} == {"title", "description", "comment", "item", "attachment"}
    assert await index.reindex(app.state.runtime.db) == 3
    assert await _entries(app) == kept


async def test_imported_boards_are_searchable(api: Api) -> None:
    alice = await api.user("Alice")
    r = await import_trello(api, alice, TRELLO_FIXTURE.read_bytes())
    assert r.status_code == 201, r.text
    board_id = r.json()["boards"][0]["id"]
    [hit] = await search(api, alice, "homepage copy")
    assert (hit["board"]["id"], hit["card"]["title"], hit["matched"]) == (board_id, "Write homepage copy", "title")
    assert {h["matched"] for h in await search(api, alice, "outline")} == {"item"}
    assert {h["matched"] for h in await search(api, alice, "ready for review")} == {"comment"}
    again = await import_trello(api, alice, TRELLO_FIXTURE.read_bytes())  # a re-import rebuilds, never duplicates
    assert again.status_code == 201, again.text
    assert len(await search(api, alice, "homepage copy")) == 1


async def test_reindex_from_the_command_line_and_imports_there_are_indexed(tmp_path: Path, template_db: Path) -> None:
    (tmp_path / "orbitask.db").write_bytes(template_db.read_bytes())
    settings = make_settings(tmp_path)
    application = create_app(settings)
    async with LifespanManager(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as client:
            alice = await Api(client).user("Alice")
            await Api(client).card(alice, (await Api(client).list(alice, (await Api(client).board(alice))["id"]))["id"],
                                   "Quetzal sighting")
    with sqlite3.connect(tmp_path / "orbitask.db") as db:  # as a database from before search would be
        db.execute("DELETE FROM search_entry")
        db.execute("INSERT INTO search_term VALUES ('quetzalcoatl')")  # a word of text deleted since

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "orbitask.cli", *args], env=cli_env(tmp_path), cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    done = cli("search", "reindex")
    assert done.returncode == 0, done.stderr
    assert "Reindexed 1 card(s)" in done.stderr
    with sqlite3.connect(tmp_path / "orbitask.db") as db:  # SQLite's word list is made again, stale words gone
        assert [w for (w,) in db.execute("SELECT term FROM search_term WHERE term LIKE 'quetzal%'")] == ["quetzal"]
    imported = cli("import", "trello", str(TRELLO_FIXTURE), "--workspace", str(alice.workspace_id))
    assert imported.returncode == 0, imported.stderr
    assert cli("search", "reindex", "--board", "nope").returncode == 2

    application = create_app(settings)
    async with LifespanManager(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as client:
            api = Api(client)
            assert len(await search(api, alice, "quetzal")) == 1
            assert len(await search(api, alice, "homepage")) == 1
