"""Trello import through the HTTP API: every field of the fixture export, re-import, members, bad input."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from orbitask.core.events import REGISTRY
from orbitask.models import metadata
from tests.conftest import PASSWORD, TRELLO_FIXTURE, Api, User, assert_problem

TRELLO = json.loads(TRELLO_FIXTURE.read_text())
ID = {  # the fixture's Trello ids, by what they are
    "todo": "5f1a00000000000000000101", "doing": "5f1a00000000000000000102", "someday": "5f1a00000000000000000103",
    "copy": "5f1a00000000000000000c01", "cms": "5f1a00000000000000000c02", "long": "5f1a00000000000000000c03",
    "old": "5f1a00000000000000000c04",
}


async def registered(api: Api, email: str, name: str) -> User:
    """A user with a chosen e-mail address."""
    r = await api.client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": name})
    assert r.status_code == 201, r.text
    body = r.json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    ws = await api.client.get("/api/v1/workspaces", headers={**headers, "X-Orbitask-Token": r.headers["X-Orbitask-Token"]})
    return User(uuid.UUID(body["user"]["id"]), email, name, body["access_token"], body["refresh_token"],
                uuid.UUID(ws.json()["items"][0]["id"]), headers)


async def import_trello(api: Api, who: User, body: bytes | dict[str, Any], workspace_id: Any = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await api.call(who, "POST", f"/imports/trello?workspace_id={workspace_id or who.workspace_id}",
                          content=raw, headers={"Content-Type": "application/json"})


async def row_counts(app: Any) -> dict[str, int]:
    """Rows in every table: 'nothing imported' means none of these changed."""
    async with app.state.runtime.db.read_session(on_writer=True) as session:
        return {t.name: await session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}


@pytest.fixture
async def team(api: Api) -> dict[str, User]:
    """Alice imports; Grace's e-mail is in the export; Ada's e-mail local part is a Trello username."""
    alice = await api.user("Alice")
    grace = await registered(api, "grace@example.com", "Grace H.")
    ada = await registered(api, "ada@lovelace.org", "Ada Lovelace")
    await api.join(alice, grace)
    await api.join(alice, ada)
    return {"alice": alice, "grace": grace, "ada": ada}


async def test_every_trello_field_is_imported(api: Api, team: dict[str, User]) -> None:
    alice, grace, ada = team["alice"], team["grace"], team["ada"]
    r = await import_trello(api, alice, TRELLO_FIXTURE.read_bytes())
    assert r.status_code == 201, r.text
    [result] = r.json()["boards"]
    assert result["created"] is True and result["name"] == "Website relaunch"
    assert result["counts"] == {"list": 3, "label": 4, "card": 4, "checklist": 2, "item": 3, "comment": 3, "link": 3}
    bid = result["id"]

    snap = await api.ok(alice, "GET", f"/boards/{bid}")
    board = snap["board"]
    assert (board["name"], board["description"], board["color"], board["archived"]) == (
        "Website relaunch", "Everything for the **relaunch**.", "green", False)
    assert snap["role"] == "admin"
    # lists: order from pos, closed -> archived (the snapshot shows open lists only)
    assert [x["name"] for x in snap["lists"]] == ["To do", "Doing"]
    export = await api.ok(alice, "GET", f"/boards/{bid}/export")
    lists = {x["name"]: x for x in export["lists"]}
    assert [x["name"] for x in export["lists"]] == ["Someday", "To do", "Doing"]
    assert [x["archived"] for x in export["lists"]] == [True, False, False]
    # labels: colours (shades folded, none -> gray), empty names kept
    labels = {x["id"]: (x["name"], x["color"]) for x in snap["labels"]}
    assert sorted(labels.values()) == [("", "red"), ("Ideas", "sky"), ("No colour", "gray"), ("Urgent", "green")]
    by_label = {v: k for k, v in labels.items()}

    # members: Grace by e-mail, Ada by username = e-mail local part, the others as named placeholders
    members = {m["user"]["name"]: m for m in snap["members"]}
    placeholders = {name: m["user"]["id"] for name, m in members.items() if m["user"]["email"].endswith(".invalid")}
    assert set(placeholders) == {"Linus Placeholder", "Former Member"}
    assert all(members[n]["role"] == "viewer" and members[n]["explicit"] for n in placeholders)
    linus, former = placeholders["Linus Placeholder"], placeholders["Former Member"]
    ws_members = await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/members")
    assert {m["user"]["name"]: m["role"] for m in ws_members}["Linus Placeholder"] == "guest"

    cards = (await api.ok(alice, "GET", f"/boards/{bid}/cards?limit=100"))["items"]
    by_title = {c["title"]: c for c in cards}
    assert len(cards) == 4
    copy_card, cms, old = by_title["Write homepage copy"], by_title["Pick a CMS"], by_title["Old idea"]
    long_card = next(c for t, c in by_title.items() if t.startswith("A very long card name"))
    # card order within a list follows pos: "Pick a CMS" (16384) before "Write homepage copy" (32768)
    todo = [c["title"] for c in export["cards"] if c["list_id"] == lists["To do"]["id"]]
    assert sorted(todo, key=lambda t: next(c["position"] for c in export["cards"] if c["title"] == t)) == [
        "Pick a CMS", "Write homepage copy"]
    assert copy_card["list_id"] == lists["To do"]["id"] and long_card["list_id"] == lists["Doing"]["id"]
    assert old["list_id"] == lists["Someday"]["id"]
    assert copy_card["description"] == "Hero, features and *pricing*."
    assert copy_card["due_at"] == "2030-06-01T15:00:00Z" and copy_card["start_at"] == "2030-05-20T00:00:00Z"
    assert (copy_card["completed"], copy_card["archived"]) == (False, False)
    assert (cms["completed"], cms["archived"], cms["due_at"], cms["start_at"]) == (True, True, "2024-02-01T09:00:00Z", None)
    assert copy_card["created_at"] == "2020-07-23T21:24:16Z"  # the Trello id's timestamp
    assert sorted(copy_card["label_ids"]) == sorted([by_label[("Urgent", "green")], by_label[("", "red")]])
    assert cms["label_ids"] == [by_label[("No colour", "gray")]]
    assert sorted(copy_card["assignee_ids"]) == sorted([str(grace.id), linus])
    assert cms["assignee_ids"] == [str(ada.id)]
    # names longer than a title are shortened; the full name heads the description
    assert len(long_card["title"]) == 512 and long_card["title"].endswith("…")
    assert long_card["description"].startswith("**A very long card name xxx")
    assert long_card["description"].endswith("x**\n\nShort description.")

    # checklists and items: order, state, due, member; the orphan checklist is skipped
    detail = await api.ok(alice, "GET", f"/cards/{copy_card['id']}")
    assert [c["title"] for c in detail["checklists"]] == ["Reviews", "Launch steps"]
    steps = detail["checklists"][1]["items"]
    assert [(i["text"], i["done"], i["due_at"], i["assignee_id"]) for i in steps] == [
        ("Outline", False, None, None), ("Draft", True, "2030-05-25T12:00:00Z", linus)]
    assert [(i["text"], i["done"]) for i in detail["checklists"][0]["items"]] == [("Legal", False)]
    assert (detail["checklist_total"], detail["checklist_done"], detail["comment_count"]) == (3, 1, 2)
    # attachments as links, in pos order; the cover is the attachment the card's cover names
    assert [(x["name"], x["url"], x["is_cover"]) for x in detail["links"]] == [
        ("brief.pdf", "https://trello.com/1/cards/x1/attachments/a72/download/brief.pdf", False),
        ("Mood board", "https://www.figma.com/file/abc/mood", True)]
    cms_detail = await api.ok(alice, "GET", f"/cards/{cms['id']}")
    assert [(x["url"], x["is_cover"]) for x in cms_detail["links"]] == [
        ("https://images.unsplash.com/photo-123?w=1200", True)]
    # a colour cover is no link, and neither is a javascript: URL (it would run in the web app)
    assert (await api.ok(alice, "GET", f"/cards/{long_card['id']}"))["links"] == []

    # comments from commentCard actions, with author and date; other actions are ignored
    comments = (await api.ok(alice, "GET", f"/cards/{copy_card['id']}/comments"))["items"]
    assert sorted((c["body"], c["author_id"], c["created_at"]) for c in comments) == sorted([
        ("Copy is ready for review @ada", str(grace.id), "2024-04-01T09:30:00Z"),
        ("Looks good 👍", linus, "2024-04-02T12:00:00Z")])
    cms_comments = (await api.ok(alice, "GET", f"/cards/{cms['id']}/comments"))["items"]
    assert [(c["body"], c["author_id"]) for c in cms_comments] == [("Archived because it was done elsewhere.", former)]

    # one board-level event for the whole import (after board.created), with its schema
    events = await api.events(alice, bid)
    assert [e["type"] for e in events] == ["board.created", "board.imported"]
    REGISTRY["board.imported"].model_validate(events[1]["payload"])
    assert events[1]["payload"]["counts"]["card"] == 4 and events[1]["payload"]["source"] == "trello"
    assert snap["version"] == 2


async def test_placeholders_cannot_sign_in(api: Api, team: dict[str, User]) -> None:
    await import_trello(api, team["alice"], TRELLO_FIXTURE.read_bytes())
    members = await api.ok(team["alice"], "GET", f"/workspaces/{team['alice'].workspace_id}/members")
    email = next(m["user"]["email"] for m in members if m["user"]["name"] == "Linus Placeholder")
    # the address is in a reserved domain: no one can sign in with it, or register it to take the account over
    r = await api.call(None, "POST", "/auth/login", json={"email": email, "password": PASSWORD})
    assert "reserved" in assert_problem(r, 422, "invalid-input")["detail"]
    r = await api.call(None, "POST", "/auth/register", json={"email": email, "password": PASSWORD, "name": "Linus"})
    assert "reserved" in assert_problem(r, 422, "invalid-input")["detail"]


async def test_reimport_updates_the_same_board(api: Api, team: dict[str, User], app: Any) -> None:
    alice = team["alice"]
    first = (await import_trello(api, alice, TRELLO_FIXTURE.read_bytes())).json()["boards"][0]
    cards_before = {c["title"]: c["id"] for c in (await api.ok(alice, "GET", f"/boards/{first['id']}/cards"))["items"]}
    counts = await row_counts(app)

    again = await import_trello(api, alice, TRELLO_FIXTURE.read_bytes())
    assert again.status_code == 201, again.text
    second = again.json()["boards"][0]
    assert (second["id"], second["created"]) == (first["id"], False)
    after = await row_counts(app)
    assert {k: v for k, v in after.items() if k != "event"} == {k: v for k, v in counts.items() if k != "event"}

    changed = copy.deepcopy(TRELLO)
    changed["name"] = "Website relaunch 2"
    card = next(c for c in changed["cards"] if c["id"] == ID["copy"])
    card.update(name="Write homepage copy (v2)", idList=ID["doing"], idLabels=[], idMembers=[], dueComplete=True)
    changed["cards"].append({"id": "5f1a00000000000000000c05", "name": "New in Trello", "idList": ID["todo"],
                             "pos": 1})
    r = await import_trello(api, alice, changed)
    assert r.status_code == 201, r.text
    assert r.json()["boards"][0]["id"] == first["id"]
    page = (await api.ok(alice, "GET", f"/boards/{first['id']}/cards"))["items"]
    cards_after = {c["title"]: c for c in page}
    assert len(page) == 5
    updated = cards_after["Write homepage copy (v2)"]
    assert updated["id"] == cards_before["Write homepage copy"]  # same card, updated in place
    assert (updated["completed"], updated["label_ids"], updated["assignee_ids"]) == (True, [], [])
    snap = await api.ok(alice, "GET", f"/boards/{first['id']}")
    assert snap["board"]["name"] == "Website relaunch 2"
    assert updated["list_id"] == next(x["id"] for x in snap["lists"] if x["name"] == "Doing")
    assert "New in Trello" in cards_after
    boards = await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/boards")
    assert [b["name"] for b in boards["items"]] == ["Website relaunch 2"]


async def test_a_deleted_board_is_imported_anew(api: Api) -> None:
    alice = await api.user()
    first = (await import_trello(api, alice, TRELLO_FIXTURE.read_bytes())).json()["boards"][0]
    await api.call(alice, "DELETE", f"/boards/{first['id']}", expect=204)
    second = (await import_trello(api, alice, TRELLO_FIXTURE.read_bytes())).json()["boards"][0]
    assert second["created"] is True and second["id"] != first["id"]
    assert second["counts"]["card"] == 4


async def test_only_workspace_members_who_may_create_boards_can_import(api: Api) -> None:
    alice, guest, outsider, member = await api.user(), await api.user(), await api.user(), await api.user()
    await api.join(alice, guest, "guest")
    await api.join(alice, member, "member")
    assert_problem(await import_trello(api, guest, TRELLO_FIXTURE.read_bytes(), alice.workspace_id), 403, "forbidden")
    assert_problem(await import_trello(api, outsider, TRELLO_FIXTURE.read_bytes(), alice.workspace_id), 404)
    assert (await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/boards"))["items"] == []
    # a member (an editor of workspace boards) may import, but updating someone else's import needs its admin role
    await import_trello(api, alice, TRELLO_FIXTURE.read_bytes())
    problem = assert_problem(await import_trello(api, member, TRELLO_FIXTURE.read_bytes(), alice.workspace_id), 403)
    assert "imported before" in problem["detail"] and "(editor)" in problem["detail"]
    assert (await import_trello(api, member, TRELLO_FIXTURE.read_bytes())).status_code == 201  # in their own


def _with(**changes: Any) -> bytes:
    doc = copy.deepcopy(TRELLO)
    for path, value in changes.items():
        target = doc
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return json.dumps(doc).encode()


TEN_MB = "x" * (10 * 1024 * 1024)
BAD_INPUT = {
    "not json": (b"name,desc\nWebsite,relaunch\n", "not-json", "not valid JSON"),
    "not utf-8": ("{\"name\": \"caf\u00e9\"}".encode("latin-1"), "not-json", "not valid JSON"),
    "empty file": (b"   ", "empty", "empty"),
    "an array": (b'[{"id": "1", "name": "x"}]', "wrong-shape", "array"),
    "another shape": (b'{"title": "My list", "items": [1, 2, 3]}', "wrong-shape", "not a Trello board export"),
    "an orbitask export": (b'{"format": "orbitask-export", "version": 1, "boards": []}', "wrong-shape", "Orbitask"),
    "truncated": (TRELLO_FIXTURE.read_bytes()[:5000], "truncated", "truncated"),
    "cards not an array": (_with(cards={"id": "x"}), "wrong-shape", "'cards' is not an array"),
    "10 MB description": (_with(cards__0__desc=TEN_MB), "value-too-large", "card 'Write homepage copy'"),
    # a value over 1 MiB is refused while the parser reads it, before it is built, naming where it is
    "10 MB card name": (_with(cards__1__name=TEN_MB), "value-too-large",
                        "field 'name' holds a value longer than 1,048,576 bytes"),
    "10 MB comment": (_with(actions__0__data__text=TEN_MB), "value-too-large", "field 'data.text'"),
    "20,000-character card name": (_with(cards__1__name="y" * 20000), "value-too-large", "20,000 characters"),
    "10 MB board name": (_with(name=TEN_MB), "value-too-large", "board"),
    "wrong type": (_with(cards__0__idMembers="everyone"), "invalid-value", "idMembers"),
    "bad date": (_with(cards__0__due="next tuesday"), "invalid-value", "field 'due'"),
    "card on a missing list": (_with(cards__2__idList="5f1a000000000000000009ff"), "dangling-reference",
                               "not in the file"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
async def test_bad_input_is_refused_naming_the_problem_and_nothing_is_imported(
    api: Api, team: dict[str, User], app: Any, case: str
) -> None:
    body, reason, words = BAD_INPUT[case]
    before = await row_counts(app)
    r = await import_trello(api, team["alice"], body)
    problem = assert_problem(r, 422, "import-rejected")
    assert problem["reason"] == reason, problem
    assert words in problem["detail"], problem["detail"]
    assert len(r.content) < 2000  # the error names the problem without echoing the 10 MB value
    assert await row_counts(app) == before


async def test_an_empty_body_and_a_file_over_the_limit_are_refused(api: Api, app: Any) -> None:
    alice = await api.user()
    assert_problem(await import_trello(api, alice, b""), 422, "invalid-input")
    app.state.runtime.settings.import_max_bytes = 4096
    r = await import_trello(api, alice, TRELLO_FIXTURE.read_bytes())
    assert "4,096 bytes" in assert_problem(r, 413, "payload-too-large")["detail"]
    assert (await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/boards"))["items"] == []
