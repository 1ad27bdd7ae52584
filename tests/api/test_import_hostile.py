"""Hostile imports (issue 23): junk in ignored fields, deep nesting, NUL and broken Unicode, oversize values,
boards beyond the caps, and an empty board. Every refusal is a 422 that says where, and imports nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from orbitask.transfer import limits
from orbitask.transfer.stream import MAX_DEPTH, MAX_ITEMS, MAX_RUN_BYTES
from tests.api.test_import_trello import TRELLO, import_trello, row_counts
from tests.conftest import Api, assert_problem

FIXTURE_COUNTS = {"list": 3, "label": 4, "card": 4, "checklist": 2, "item": 3, "comment": 3, "link": 3}


def changed(change: Callable[[dict[str, Any]], Any]) -> bytes:
    """The fixture export with one change (json.dumps escapes non-ASCII text, emoji as surrogate pairs)."""
    doc = copy.deepcopy(TRELLO)
    change(doc)
    return json.dumps(doc).encode()


async def refused(api: Api, app: Any, body: bytes, reason: str) -> dict[str, Any]:
    """Import as a new user; assert a 422 with this reason and that nothing was written; the problem."""
    alice = await api.user()
    before = await row_counts(app)
    problem = assert_problem(await import_trello(api, alice, body), 422, "import-rejected")
    assert problem["reason"] == reason, problem
    assert await row_counts(app) == before
    return problem


def _junk(doc: dict[str, Any]) -> None:
    junk = [{}] * 2000 + [[[], {"a": [{"b": {}}]}]] * 500 + [[[[[[[[[[1]]]]]]]]]]
    doc["pluginData"] = junk
    doc["prefs"]["junk"] = {f"k{i}": [{}] for i in range(1000)}
    for card in doc["cards"]:
        card["junk"], card["badges"] = junk, {f"k{i}": {"x": [[]]} for i in range(1000)}
        card["cover"] = {**(card.get("cover") or {}), "junk": junk}
    for action in doc["actions"]:
        action["data"]["junk"] = junk


async def test_junk_in_fields_the_importer_ignores_is_read_past(api: Api) -> None:
    alice = await api.user()
    r = await import_trello(api, alice, changed(_junk))
    assert r.status_code == 201, r.text
    assert r.json()["boards"][0]["counts"] == FIXTURE_COUNTS
    cards = (await api.ok(alice, "GET", f"/boards/{r.json()['boards'][0]['id']}/cards?limit=100"))["items"]
    assert {"Write homepage copy", "Pick a CMS", "Old idea"} < {c["title"] for c in cards}


DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize("field", ["name", "junk"])
async def test_deep_nesting_is_refused_naming_where_it_is_never_a_500(api: Api, app: Any, field: str) -> None:
    body = changed(lambda d: d["cards"][1].update({field: "DEEP"})).replace(b'"DEEP"', DEEP.encode())
    problem = await refused(api, app, body, "too-deep")
    assert f"field '{field}' nests arrays and objects more than {MAX_DEPTH} deep" in problem["detail"]
    # the card is named by its name when the parser has read it, else by its id
    subject = "card 'Pick a CMS'" if field == "junk" else "card '5f1a00000000000000000c02'"
    assert problem["detail"].startswith(subject) and problem["field"] == field


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return change


BAD_TEXT = {  # where -> (change, the problem's detail starts with, its field)
    "NUL in a card name": (_set("cards.0.name", "Write\x00copy"), "card '5f1a00000000000000000c01'", "name"),
    "NUL in a comment": (_set("actions.0.data.text", "ok\x00"), "action '5f1a00000000000000000a01'", "data.text"),
    "NUL in the board name": (_set("name", "\x00"), "board", "name"),
    "unpaired surrogate in a description": (_set("cards.0.desc", "a\ud800b"), "card 'Write homepage copy'", "desc"),
    "unpaired low surrogate in a list name": (_set("lists.0.name", "\udc00"), "list '5f1a00000000000000000101'",
                                              "name"),
    "half an emoji in an attachment name": (_set("cards.0.attachments.0.name", "x\ud83d"),
                                            "card 'Write homepage copy'", "attachments.0.name"),
}


@pytest.mark.parametrize("case", list(BAD_TEXT))
async def test_nul_and_unpaired_surrogates_are_refused_naming_the_field_as_json_bodies_are(
    api: Api, app: Any, case: str
) -> None:
    change, subject, field = BAD_TEXT[case]
    problem = await refused(api, app, changed(change), "invalid-value")
    assert problem["detail"].startswith(f"{subject}: field '{field}' must ") and problem["field"] == field
    # a JSON request body with the same text is refused the same way: 422, naming the field (NUL in the same words)
    nul = "NUL" in case
    alice = await api.user()
    r = await api.call(alice, "POST", f"/workspaces/{alice.workspace_id}/boards", headers={
        "Content-Type": "application/json"}, content=json.dumps({"name": "x\x00" if nul else "x\ud800"}).encode())
    body = assert_problem(r, 422, "invalid-input")
    assert body["errors"][0]["field"] == "name"
    if nul:
        assert body["detail"].split("error, ")[-1] in problem["detail"], (body["detail"], problem["detail"])


async def test_emoji_escaped_as_surrogate_pairs_import_whole(api: Api) -> None:
    alice = await api.user()
    body = changed(lambda d: None)
    assert b"\\ud83d\\udc4d" in body  # "Looks good 👍" as JSON escapes
    r = await import_trello(api, alice, body)
    assert r.status_code == 201, r.text
    export = await api.ok(alice, "GET", f"/boards/{r.json()['boards'][0]['id']}/export")
    assert "Looks good 👍" in [c["body"] for card in export["cards"] for c in card["comments"]]


async def test_nul_in_an_orbitask_export_is_refused_too(api: Api, app: Any) -> None:
    alice = await api.user()
    first = await import_trello(api, alice, changed(lambda d: None))
    export = await api.ok(alice, "GET", f"/boards/{first.json()['boards'][0]['id']}/export")
    export["cards"][0]["comments"][0]["body"] = "\x00"
    before = await row_counts(app)
    r = await api.call(alice, "POST", f"/imports/orbitask?workspace_id={alice.workspace_id}",
                       content=json.dumps(export).encode(), headers={"Content-Type": "application/json"})
    problem = assert_problem(r, 422, "import-rejected")
    assert problem["field"] == "comments.0.body" and "must not contain NUL" in problem["detail"], problem
    assert await row_counts(app) == before


TOO_LARGE = {  # what -> (change, reason, the problem's detail holds)
    "a 2 MiB string in an ignored field": (_set("cards.1.junk", "x" * 2 * MAX_RUN_BYTES), "value-too-large",
                                           f"field 'junk' holds a value longer than {MAX_RUN_BYTES:,} bytes"),
    "a 2 MiB number in an ignored field": (_set("cards.1.junk", "NUMBER"), "value-too-large", "field 'junk'"),
    "too many label ids on a card": (_set("cards.0.idLabels", ["x"] * (MAX_ITEMS + 1)), "too-many",
                                     f"field 'idLabels' has more than {MAX_ITEMS:,} items"),
    "too many labels on a board": (
        _set("labels", [{"id": f"L{n}", "name": "x", "color": "red"} for n in range(limits.MAX_LABELS_PER_BOARD + 1)]),
        "too-many", f"more than {limits.MAX_LABELS_PER_BOARD:,} labels on one board"),
    "too many lists on a board": (
        _set("lists", [{"id": f"L{n}", "name": "x", "pos": n} for n in range(limits.MAX_LISTS_PER_BOARD + 1)]),
        "too-many", f"more than {limits.MAX_LISTS_PER_BOARD:,} lists on one board"),
}


@pytest.mark.parametrize("case", list(TOO_LARGE))
async def test_values_and_boards_beyond_the_bounds_are_refused(api: Api, app: Any, case: str) -> None:
    change, reason, words = TOO_LARGE[case]
    body = changed(change).replace(b'"NUMBER"', b"1" * 2 * MAX_RUN_BYTES)
    problem = await refused(api, app, body, reason)
    assert words in problem["detail"], problem["detail"]


async def test_an_empty_board_imports_as_an_empty_board(api: Api) -> None:
    alice = await api.user()
    empty = {"id": "5f1a000000000000000000e0", "name": "Nothing yet", "desc": "", "closed": False,
             "prefs": {"background": "lime"}, "actions": [], "cards": [], "labels": [], "lists": [], "members": [],
             "checklists": []}
    r = await import_trello(api, alice, json.dumps(empty).encode())
    assert r.status_code == 201, r.text
    [board] = r.json()["boards"]
    assert board["name"] == "Nothing yet" and board["created"] is True
    assert not any(board["counts"].values())
    snap = await api.ok(alice, "GET", f"/boards/{board['id']}")
    assert (snap["board"]["color"], snap["lists"], snap["labels"]) == ("lime", [], [])


@pytest.mark.parametrize("path,when", [("cards.0.due", "9999-12-31T23:00:00-05:00"),
                                       ("actions.0.date", "0001-01-01T00:00:00+05:00"),
                                       ("cards.1.start", "0500-06-01T00:00:00Z")])
async def test_dates_out_of_range_are_refused_naming_the_field_never_a_500(
    api: Api, app: Any, path: str, when: str
) -> None:
    problem = await refused(api, app, changed(_set(path, when)), "invalid-value")
    assert f"field '{path.split('.')[-1]}' value error, must be between the years 1000 and 9999" in problem["detail"]
