"""Exports through the HTTP API: lossless JSON round trips into another workspace, CSV, access, bad input."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from tests.api.test_import_trello import import_trello, registered, row_counts
from tests.conftest import TRELLO_FIXTURE, Api, User, assert_problem


def normalise(doc: dict[str, Any]) -> dict[str, Any]:
    """An export with every id replaced by what it stands for, so copies in other workspaces compare equal."""
    people = {m["id"]: (m["name"], m["email"], m["username"], m["placeholder"]) for m in doc["members"]}
    names: dict[str, str] = {}

    def name(kind: str, ident: str) -> str:
        return names.setdefault(ident, f"{kind}{sum(1 for v in names.values() if v.startswith(kind))}")

    def person(ident: str | None) -> Any:
        return people[ident] if ident else None

    boards = [{**{k: v for k, v in b.items() if k != "id"}, "ref": name("board", b["id"])} for b in doc["boards"]]
    lists = [{**x, "id": name("list", x["id"]), "board_id": names[x["board_id"]]} for x in doc["lists"]]
    labels = [{**x, "id": name("label", x["id"]), "board_id": names[x["board_id"]]} for x in doc["labels"]]
    members = sorted((names[m["board_id"]], person(m["user_id"]), m["role"]) for m in doc["board_members"])
    cards = []
    for c in sorted(doc["cards"], key=lambda c: (names[c["list_id"]], c["position"])):
        checklists = [{**cl, "id": name("checklist", cl["id"]), "items": [
            {**i, "id": name("item", i["id"]), "assignee_id": person(i["assignee_id"])} for i in cl["items"]]}
            for cl in c["checklists"]]
        cards.append({
            **c, "id": name("card", c["id"]), "board_id": names[c["board_id"]], "list_id": names[c["list_id"]],
            "created_by": person(c["created_by"]),
            "assignee_ids": sorted(map(person, c["assignee_ids"])), "watcher_ids": sorted(map(person, c["watcher_ids"])),
            "label_ids": sorted(names[x] for x in c["label_ids"]), "checklists": checklists,
            "comments": [{**m, "id": name("comment", m["id"]), "author_id": person(m["author_id"]),
                          "mentions": sorted(map(person, m["mentions"]))}
                         for m in sorted(c["comments"], key=lambda m: m["created_at"])],
            "links": [{**x, "id": name("link", x["id"])} for x in c["links"]],
        })
    return {"boards": boards, "board_members": members, "lists": lists, "labels": labels, "cards": cards,
            "members": sorted(people.values())}


async def import_native(api: Api, who: User, body: bytes, workspace_id: Any) -> Any:
    return await api.call(who, "POST", f"/imports/orbitask?workspace_id={workspace_id}", content=body,
                          headers={"Content-Type": "application/json"})


@pytest.fixture
async def rich_board(api: Api) -> tuple[User, User, dict[str, Any]]:
    """Alice's board from the Trello fixture, then edited by hand: mentions, roles, item assignees, archived list."""
    alice = await api.user("Alice")
    grace = await registered(api, "grace@example.com", "Grace H.")
    await api.join(alice, grace)
    board = (await import_trello(api, alice, TRELLO_FIXTURE.read_bytes())).json()["boards"][0]
    bid = board["id"]
    await api.ok(alice, "POST", f"/boards/{bid}/members", json={"user_id": str(grace.id), "role": "commenter"})
    lst = await api.list(alice, bid, "Review, \"final\"")
    card = await api.card(alice, lst["id"], "Check =SUM(A1)", description="Line one\nLine, two",
                          due_at="2031-01-02T03:04:05Z", assignee_ids=[str(grace.id)])
    await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": "@grace please look"})
    checklist = await api.ok(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "Steps"})
    await api.ok(alice, "POST", f"/checklists/{checklist['id']}/items",
                 json={"text": "Sign off", "assignee_id": str(grace.id), "due_at": "2031-01-01T00:00:00Z"})
    await api.card(grace, lst["id"], "Grace's own card")  # created_by someone other than the importer
    await api.ok(alice, "PATCH", f"/lists/{lst['id']}", json={"archived": True})
    return alice, grace, board


async def test_export_then_import_into_another_workspace_gives_an_identical_board(
    api: Api, rich_board: tuple[User, User, dict[str, Any]], app: Any
) -> None:
    alice, grace, board = rich_board
    r = await api.call(alice, "GET", f"/boards/{board['id']}/export", expect=200)
    assert r.headers["content-type"] == "application/json"
    assert "attachment" in r.headers["content-disposition"]
    original = r.json()
    assert (original["format"], original["version"]) == ("orbitask-export", 1)

    other = await api.ok(alice, "POST", "/workspaces", json={"name": "Elsewhere"})
    await api.join(alice, grace, workspace_id=other["id"])
    before = await row_counts(app)
    r = await import_native(api, alice, r.content, other["id"])
    assert r.status_code == 201, r.text
    [copy] = r.json()["boards"]
    assert copy["created"] is True and copy["id"] != board["id"]
    assert copy["counts"]["card"] == 6 and copy["counts"]["comment"] == 4
    after = await row_counts(app)
    assert after["card"] - before["card"] == 6 and after["placeholder"] - before["placeholder"] == 3  # Ada, Linus, Former Member

    copied = await api.ok(alice, "GET", f"/boards/{copy['id']}/export")
    assert copied["boards"][0]["id"] == copy["id"]
    assert normalise(copied) == normalise(original)
    # placeholders survived as placeholders (by name), real people as themselves
    members = {m["name"]: m for m in copied["members"]}
    assert members["Linus Placeholder"]["placeholder"] is True and members["Linus Placeholder"]["email"] is None
    assert members["Grace H."]["id"] == str(grace.id)
    assert next(c["created_by"] for c in copied["cards"] if c["title"] == "Grace's own card") == str(grace.id)

    # importing the same export again updates that copy instead of making another
    again = (await import_native(api, alice, json.dumps(original).encode(), other["id"])).json()["boards"][0]
    assert (again["id"], again["created"]) == (copy["id"], False)
    assert normalise(await api.ok(alice, "GET", f"/boards/{copy['id']}/export")) == normalise(original)
    boards = await api.ok(alice, "GET", f"/workspaces/{other['id']}/boards")
    assert len(boards["items"]) == 1


async def test_workspace_export_holds_every_visible_board_and_reimports(api: Api) -> None:
    alice, bob = await api.user("Alice"), await api.user("Bob")
    await api.join(alice, bob)
    await import_trello(api, alice, TRELLO_FIXTURE.read_bytes())
    plain = await api.board(alice, name="Plain")
    await api.card(alice, (await api.list(alice, plain["id"], "Only"))["id"], "Lonely card")
    await api.board(alice, name="Secret", visibility="private")

    doc = await api.ok(bob, "GET", f"/workspaces/{alice.workspace_id}/export")
    assert doc["workspace"]["id"] == str(alice.workspace_id)
    assert sorted(b["name"] for b in doc["boards"]) == ["Plain", "Website relaunch"]  # not the private one
    r = await import_native(api, bob, json.dumps(doc).encode(), bob.workspace_id)
    assert r.status_code == 201, r.text
    assert sorted((b["name"], b["counts"]["card"]) for b in r.json()["boards"]) == [
        ("Plain", 1), ("Website relaunch", 4)]
    mine = await api.ok(bob, "GET", f"/workspaces/{bob.workspace_id}/export")
    assert sorted(b["name"] for b in mine["boards"]) == ["Plain", "Website relaunch"]
    secret = await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/export")
    assert len(secret["boards"]) == 3


async def test_csv_export_quotes_cells_and_defuses_formulas(
    api: Api, rich_board: tuple[User, User, dict[str, Any]]
) -> None:
    alice, _, board = rich_board
    cards = (await api.ok(alice, "GET", f"/boards/{board['id']}/cards?limit=100"))["items"]
    target = next(c for c in cards if c["title"] == "Write homepage copy")
    for title in ("+1 555 0100", "-1", "@channel ping"):
        await api.card(alice, target["list_id"], title, description="=HYPERLINK(\"http://evil\")")

    r = await api.call(alice, "GET", f"/boards/{board['id']}/export?format=csv", expect=200)
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
    assert len(rows) == 9
    by_title = {row["title"]: row for row in rows}
    tricky = by_title["Check =SUM(A1)"]
    assert tricky["title"] == "Check =SUM(A1)"  # only a leading = is a formula
    assert tricky["description"] == "Line one\nLine, two" and tricky["list"] == 'Review, "final"'
    assert (tricky["assignees"], tricky["due_at"], tricky["checklist_total"]) == ("Grace H.", "2031-01-02T03:04:05Z", "1")
    for title in ("'+1 555 0100", "'-1", "'@channel ping"):
        assert by_title[title]["description"] == "'=HYPERLINK(\"http://evil\")"
    copy = by_title["Write homepage copy"]
    assert (copy["labels"], copy["assignees"]) == ("Urgent, red", "Grace H., Linus Placeholder")  # an unnamed label by its colour
    assert (copy["checklist_done"], copy["checklist_total"], copy["comments"], copy["completed"]) == ("1", "3", "2", "False")
    assert copy["links"].split() == ["https://trello.com/1/cards/x1/attachments/a72/download/brief.pdf",
                                     "https://www.figma.com/file/abc/mood"]

    r = await api.call(alice, "GET", f"/workspaces/{alice.workspace_id}/export?format=csv", expect=200)
    assert len(list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))) == 9


async def test_exports_need_access(api: Api) -> None:
    alice, outsider = await api.user(), await api.user()
    board = await api.board(alice, name="Mine")
    assert_problem(await api.call(outsider, "GET", f"/boards/{board['id']}/export"), 404, "not-found")
    assert_problem(await api.call(outsider, "GET", f"/workspaces/{alice.workspace_id}/export?format=csv"), 404)
    assert_problem(await api.call(None, "GET", f"/boards/{board['id']}/export"), 401, "unauthorized")
    assert_problem(await api.call(alice, "GET", f"/boards/{board['id']}/export?format=xml"), 422, "invalid-input")


@pytest.mark.parametrize("mutate,reason,words", [
    (lambda d: d.update(version=2), "unsupported-version", "version 2"),
    (lambda d: d.update(format="something-else"), "wrong-shape", "not an Orbitask export"),
    (lambda d: d["labels"][0].update(color="chartreuse"), "invalid-value", "label"),
    (lambda d: d["cards"][0].update(title=""), "invalid-value", "title"),
    (lambda d: d["cards"][0].update(description="x" * 70000), "value-too-large", "description"),
    (lambda d: d.update(boards=[]), "wrong-shape", "no boards"),
    (lambda d: d["boards"][0].update(visibility="public"), "invalid-value", "visibility"),
    (lambda d: d["cards"][1]["links"].append({"id": "01a210cc-0000-7000-8000-000000000001", "url": "javascript:x()",
                                             "position": "a5"}), "invalid-value", "http or https"),
])
async def test_bad_orbitask_exports_are_refused_and_nothing_is_imported(
    api: Api, app: Any, mutate: Any, reason: str, words: str
) -> None:
    alice = await api.user()
    await import_trello(api, alice, TRELLO_FIXTURE.read_bytes())
    board = (await api.ok(alice, "GET", f"/workspaces/{alice.workspace_id}/boards"))["items"][0]
    doc = await api.ok(alice, "GET", f"/boards/{board['id']}/export")
    mutate(doc)
    other = await api.ok(alice, "POST", "/workspaces", json={"name": "Other"})
    before = await row_counts(app)
    problem = assert_problem(await import_native(api, alice, json.dumps(doc).encode(), other["id"]), 422)
    assert problem["reason"] == reason and words in problem["detail"], problem
    assert await row_counts(app) == before
