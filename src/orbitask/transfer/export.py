"""Exports: a board or a workspace as Orbitask JSON (re-importable, lossless) or its cards as CSV, streamed."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.audit import service as audit
from orbitask.auth import service as auth_service
from orbitask.auth import workspaces
from orbitask.auth.policy import Actor
from orbitask.boards import bulk as boards_bulk
from orbitask.boards import service as boards
from orbitask.core.db import Database, repeatable_read, utcnow
from orbitask.tasks import bulk as tasks_bulk
from orbitask.transfer.models import Placeholder
from orbitask.transfer.native import FORMAT, VERSION

CSV_COLUMNS = ["board", "list", "card_id", "title", "description", "labels", "assignees", "start_at", "due_at",
               "completed", "archived", "checklist_done", "checklist_total", "comments", "links", "created_at"]
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


async def boards_to_export(
    session: AsyncSession, actor: Actor, *, board_id: uuid.UUID | None = None, workspace_id: uuid.UUID | None = None,
) -> tuple[dict[str, Any] | None, list[uuid.UUID]]:
    """Check access up front (404/403 before any byte is sent): the workspace (if any) and the board ids."""
    if board_id is not None:
        await boards.readable_board(session, actor, board_id)
        return None, [board_id]
    assert workspace_id is not None
    ws = await workspaces.get_workspace(session, actor, workspace_id)
    ids: list[uuid.UUID] = []
    cursor: str | None = None
    while True:
        page, cursor = await boards.list_boards(session, actor, workspace_id, archived=None, cursor=cursor, limit=200)
        ids.extend(b.id for b in page)
        if cursor is None:
            return {"id": str(ws.id), "name": ws.name, "description": ws.description}, ids


async def audit_export(db: Database, session: AsyncSession, actor: Actor, fmt: str, *,
                       board_id: uuid.UUID | None = None, workspace_id: uuid.UUID | None = None,
                       boards_exported: int = 1) -> None:
    """Record who took a copy of what (the audit log keeps exports apart from activity)."""
    if board_id is not None:
        board, _ = await boards.readable_board(session, actor, board_id)
        await audit.record_alone(db, "export.board", actor_id=actor.user_id, workspace_id=board.workspace_id,
                                 target_type="board", target_id=board_id, format=fmt)
    else:
        await audit.record_alone(db, "export.workspace", actor_id=actor.user_id, workspace_id=workspace_id,
                                 target_type="workspace", target_id=workspace_id, format=fmt,
                                 boards=boards_exported)


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)


async def export_json(db: Database, workspace: dict[str, Any] | None, board_ids: list[uuid.UUID]) -> AsyncIterator[bytes]:
    """The export document, produced a batch of cards at a time from one consistent snapshot."""
    async with db.read_session(on_writer=True) as session, repeatable_read(session):
        people: set[uuid.UUID] = set()
        yield b'{"format":' + _json(FORMAT) + b',"version":' + _json(VERSION) + b',"exported_at":' + _json(utcnow())
        yield b',"workspace":' + _json(workspace)
        found = await boards_bulk.boards_of(session, board_ids)
        yield b',"boards":' + _json([b.model_dump(mode="json", include={
            "id", "name", "description", "color", "visibility", "archived"}) for b in found])
        yield b',"board_members":['
        first = True
        for board in found:
            for user_id, role in await boards_bulk.explicit_members(session, board.id):
                people.add(user_id)
                yield (b"" if first else b",") + _json({"board_id": board.id, "user_id": user_id, "role": role})
                first = False
        yield b'],"lists":' + _json([
            {"board_id": b.id, **x.model_dump(mode="json", include={"id", "name", "position", "archived"})}
            for b in found for x in await boards_bulk.all_lists(session, b.id)])
        yield b',"labels":' + _json([
            x.model_dump(mode="json", include={"id", "board_id", "name", "color"})
            for b in found for x in await boards_bulk.all_labels(session, b.id)])
        yield b',"cards":['
        first = True
        for board in found:
            async for batch in tasks_bulk.card_batches(session, board.id):
                for card in batch:
                    people.update(card["assignee_ids"], card["watcher_ids"])
                    people.update(i["assignee_id"] for c in card["checklists"] for i in c["items"] if i["assignee_id"])
                    people.update(m["author_id"] for m in card["comments"] if m["author_id"])
                    people.update(u for m in card["comments"] for u in m["mentions"])
                    if card["created_by"] is not None:
                        people.add(card["created_by"])
                    card.pop("updated_at")
                    yield (b"" if first else b",") + _json({"board_id": board.id, **card})
                    first = False
        yield b'],"members":' + _json(await _members(session, people)) + b"}\n"


async def _members(session: AsyncSession, ids: set[uuid.UUID]) -> list[dict[str, Any]]:
    """People the export refers to; placeholders (and accounts that can no longer sign in) by name only."""
    profiles = await auth_service.profiles(session, list(ids))
    usernames = dict((await session.execute(
        select(Placeholder.user_id, Placeholder.username).where(Placeholder.user_id.in_(list(ids)))
    )).all()) if ids else {}
    out = []
    for user_id in sorted(profiles):
        name, email, active = profiles[user_id]
        placeholder = user_id in usernames or not active
        out.append({"id": str(user_id), "name": name, "email": None if placeholder else email,
                    "username": usernames.get(user_id) or "", "placeholder": placeholder})
    return out


def csv_cell(value: Any) -> Any:
    """A cell safe to open in a spreadsheet: text that would start a formula gets a leading apostrophe."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([[csv_cell(v) for v in row] for row in rows])
    return out.getvalue().encode()


async def export_csv(db: Database, board_ids: list[uuid.UUID]) -> AsyncIterator[bytes]:
    """One row per card (RFC 4180, UTF-8 with a byte-order mark so spreadsheets read it as UTF-8)."""
    async with db.read_session(on_writer=True) as session, repeatable_read(session):
        yield "\ufeff".encode() + _csv([CSV_COLUMNS])
        for board in await boards_bulk.boards_of(session, board_ids):
            lists = {x.id: x.name for x in await boards_bulk.all_lists(session, board.id)}
            labels = {x.id: x.name or x.color for x in await boards_bulk.all_labels(session, board.id)}
            async for batch in tasks_bulk.card_batches(session, board.id):
                users = await auth_service.profiles(session, list({u for c in batch for u in c["assignee_ids"]}))
                rows = []
                for c in batch:
                    items = [i for cl in c["checklists"] for i in cl["items"]]
                    rows.append([
                        board.name, lists.get(c["list_id"], ""), str(c["id"]), c["title"], c["description"],
                        ", ".join(sorted(labels[x] for x in c["label_ids"] if x in labels)),
                        ", ".join(sorted(users[u][0] for u in c["assignee_ids"] if u in users)),
                        c["start_at"] or "", c["due_at"] or "", c["completed"], c["archived"],
                        sum(1 for i in items if i["done"]), len(items), len(c["comments"]),
                        " ".join(link["url"] for link in c["links"]), c["created_at"],
                    ])
                yield _csv(rows)
