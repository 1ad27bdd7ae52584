"""An idempotent POST commits once: the key and the answer to replay commit with the command (issue 26)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select

from orbitask.core.idempotency import IdempotencyMiddleware, IdempotencyRecord
from tests.conftest import Api, User

Command = Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]

# the common writes: (path, body) from what the arrangement made
COMMANDS: dict[str, Command] = {
    "create board": lambda made: (f"/workspaces/{made['workspace']}/boards", {"name": "Roadmap"}),
    "create list": lambda made: (f"/boards/{made['board']}/lists", {"name": "Doing"}),
    "create card": lambda made: (f"/lists/{made['list']}/cards", {"title": "Ship it"}),
    "move card": lambda made: (f"/cards/{made['card']}/move", {"list_id": made["other_list"]}),
    "comment": lambda made: (f"/cards/{made['card']}/comments", {"body": "Looks good"}),
    "create checklist": lambda made: (f"/cards/{made['card']}/checklists", {"title": "Steps"}),
    "checklist item": lambda made: (f"/checklists/{made['checklist']}/items", {"text": "Write the test"}),
}


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


async def _arrange(api: Api) -> tuple[User, dict[str, Any]]:
    alice = await api.user("Alice")
    board = await api.board(alice)
    lst = await api.list(alice, board["id"], "To do")
    other = await api.list(alice, board["id"], "Done")
    card = await api.card(alice, lst["id"])
    checklist = await api.ok(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "Plan"})
    made = {"workspace": alice.workspace_id, "board": board["id"], "list": lst["id"], "other_list": other["id"],
            "card": card["id"], "checklist": checklist["id"]}
    return alice, made


async def test_each_common_write_commits_once_and_replays_its_answer(api: Api, app: Any) -> None:
    """Create board, list, card, checklist and item, move a card, comment: with an Idempotency-Key each costs
    one commit, and a retry with the key gets the same status, body and token without changing anything."""
    alice, made = await _arrange(api)
    commits: dict[str, int] = {}
    for name, command in COMMANDS.items():
        path, body = command(made)
        key = {"Idempotency-Key": f"one-commit-{name}"}
        with counting_commits(app) as counted:
            first = await api.call(alice, "POST", path, json=body, headers=key)
        assert first.status_code in (200, 201), f"{name}: {first.text}"
        commits[name] = len(counted)
        with counting_commits(app) as counted_again:
            again = await api.call(alice, "POST", path, json=body, headers=key)
        assert (again.status_code, again.json()) == (first.status_code, first.json()), name
        assert again.headers["Idempotent-Replayed"] == "true", name
        assert again.headers["X-Orbitask-Token"] == first.headers["X-Orbitask-Token"], name
        assert counted_again == [], name  # a replay writes nothing
    assert commits == dict.fromkeys(COMMANDS, 1)
    snap = await api.ok(alice, "GET", f"/boards/{made['board']}")
    assert sorted(c["title"] for c in snap["cards"]) == ["Card", "Ship it"]  # each applied once


async def test_an_answer_committed_with_its_command_survives_a_crash_before_the_response(
    api: Api, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is left to write once the command commits: a process that stops right after (here, a store
    that fails) still leaves a key that replays its answer, never 'in progress' then 'response lost'."""
    alice, made = await _arrange(api)
    path, body = COMMANDS["create card"](made)
    key = {"Idempotency-Key": "crash-1"}

    async def crashed(*_: Any) -> None:
        raise RuntimeError("the process stopped after the commit")

    monkeypatch.setattr(IdempotencyMiddleware, "_store", crashed)
    first = await api.call(alice, "POST", path, json=body, headers=key, expect=201)
    again = await api.call(alice, "POST", path, json=body, headers=key, expect=201)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()


SHOWN_ONCE = {"/me/api-tokens": ({"name": "ci"}, "token"), "/me/calendar-feed": ({}, "url")}


@pytest.mark.parametrize("path", list(SHOWN_ONCE))
async def test_a_withheld_answer_commits_with_its_command_without_the_secret(
    api: Api, app: Any, path: str
) -> None:
    """A secret shown once: one commit records that the request succeeded, and never the secret."""
    alice = await api.user()
    body, field = SHOWN_ONCE[path]
    key = {"Idempotency-Key": "secret-once"}
    with counting_commits(app) as counted:
        first = await api.call(alice, "POST", path, json=body, headers=key, expect=201)
    assert len(counted) == 1
    secret = first.json()[field]
    again = await api.call(alice, "POST", path, json=body, headers=key, expect=409)
    assert again.json()["type"].endswith("idempotency-response-withheld")
    async with app.state.runtime.db.read_session() as session:
        [stored] = (await session.execute(select(IdempotencyRecord))).scalars().all()
    assert stored.status_code == 201 and not stored.response_body
    assert secret not in str(stored.response_headers)


async def test_an_answer_the_route_changes_after_the_commit_is_stored_as_sent(
    api: Api, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the answer sent is not the one the command handed over, the one sent is what a retry gets."""
    from orbitask.core import idempotency

    alice, made = await _arrange(api)
    path, body = COMMANDS["create list"](made)
    key = {"Idempotency-Key": "changed-1"}
    built = idempotency.answer_before_commit

    async def stale(*args: Any) -> idempotency.Answer | None:
        answer = await built(*args)
        return None if answer is None else idempotency.Answer(answer.status, answer.headers, b'{"stale":true}')

    monkeypatch.setattr("orbitask.core.uow.answer_before_commit", stale)
    with counting_commits(app) as counted:
        first = await api.call(alice, "POST", path, json=body, headers=key, expect=201)
    assert len(counted) == 2  # the command's, then the correction
    monkeypatch.undo()
    again = await api.call(alice, "POST", path, json=body, headers=key, expect=201)
    assert again.json() == first.json() and "stale" not in again.text
