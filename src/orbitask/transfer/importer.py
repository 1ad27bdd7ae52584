"""Writing a staged import into a workspace: one transaction, so a failed import leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fractional_indexing import generate_key_between
from sqlalchemy import delete, insert, select

from orbitask.auth import service as auth_service
from orbitask.auth import workspaces
from orbitask.auth.policy import Actor
from orbitask.boards import bulk as boards_bulk
from orbitask.core import ordering
from orbitask.core.errors import Forbidden
from orbitask.core.uow import UnitOfWork
from orbitask.tasks import bulk as tasks_bulk
from orbitask.transfer import events, trello
from orbitask.transfer.models import ImportMapping, Placeholder
from orbitask.transfer.spool import Spool
from orbitask.transfer.stream import ImportRejected, Progress

BATCH = 500
CHILD_KINDS = ("card", "checklist", "item", "comment", "link")


@dataclass
class ImportedBoard:
    """What an import did to one board."""

    board_id: uuid.UUID
    name: str
    created: bool
    counts: dict[str, int] = field(default_factory=dict)


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


class _Positions:
    """Positions in source order, restarting for each parent; valid source positions are kept."""

    def __init__(self) -> None:
        self.parent: Any = object()
        self.prev: str | None = None

    def next(self, parent: Any, given: str | None) -> str:
        if parent != self.parent:
            self.parent, self.prev = parent, None
        if given and ordering.is_valid(given) and (self.prev is None or given > self.prev):
            self.prev = given
        else:
            self.prev = generate_key_between(self.prev, None)
        return self.prev


async def _resolve_members(uow: UnitOfWork, workspace_id: uuid.UUID, spool: Spool) -> dict[str, uuid.UUID]:
    """Source member id -> user: a workspace member with the same e-mail (or username as the e-mail's local
    part, when unambiguous), else a named placeholder of this workspace (made once, reused by later imports)."""
    session = uow.session
    roles = await workspaces.member_roles(session, workspace_id)
    people = await auth_service.profiles(session, list(roles))
    by_email = {email.lower(): uid for uid, (_, email, active) in people.items() if active}
    by_local: dict[str, list[uuid.UUID]] = {}
    for email, uid in by_email.items():
        by_local.setdefault(email.split("@")[0], []).append(uid)
    placeholders = dict((await session.execute(
        select(Placeholder.key, Placeholder.user_id).where(Placeholder.workspace_id == workspace_id)
    )).all())
    out: dict[str, uuid.UUID] = {}
    for ext_id, _, data in spool.rows("member"):
        email, username = (data.get("email") or "").lower(), (data.get("username") or "").lower()
        if not data.get("placeholder"):
            if email in by_email:
                out[ext_id] = by_email[email]
                continue
            if username and len(by_local.get(username, [])) == 1:
                out[ext_id] = by_local[username][0]
                continue
        key = (f"@{username}" if username else f"name:{data['name'].lower()}")[:200]
        if key not in placeholders:
            user_id = await auth_service.create_placeholder_user(uow, data["name"])
            await workspaces.ensure_member(uow, workspace_id, user_id, "guest")
            session.add(Placeholder(user_id=user_id, workspace_id=workspace_id, key=key, username=username[:100]))
            placeholders[key] = user_id
        out[ext_id] = placeholders[key]
    await session.flush()
    return out


def _batches(rows: Iterator[Any], size: int = BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _BoardWriter:
    """Writes one staged board (key `key` in the spool) into `board`."""

    def __init__(self, uow: UnitOfWork, spool: Spool, key: str, board_id: uuid.UUID, workspace_id: uuid.UUID,
                 source: str, members: dict[str, uuid.UUID], tick: Callable[[int], None]) -> None:
        self.uow, self.spool, self.key, self.board_id = uow, spool, key, board_id
        self.workspace_id, self.source, self.members, self.tick = workspace_id, source, members, tick
        self.counts: dict[str, int] = {}
        self.labels: dict[str, uuid.UUID] = {}
        self.checklist_cards: dict[uuid.UUID, uuid.UUID] = {}

    async def prepare(self) -> None:
        """Load what earlier imports of this board made (and what of it still exists), then number everything."""
        session = self.uow.session
        result = await session.stream(
            select(ImportMapping.kind, ImportMapping.external_id, ImportMapping.internal_id)
            .where(ImportMapping.board_id == self.board_id, ImportMapping.source == self.source)
            .execution_options(yield_per=5000)
        )
        async for chunk in result.partitions(5000):
            for kind in {k for k, _, _ in chunk}:
                self.spool.remember(kind, [(e, i) for k, e, i in chunk if k == kind])
        for kind in ("list", "label"):
            self.spool.alive(await boards_bulk.ids_on_board(session, kind, self.board_id))
        for kind in CHILD_KINDS:
            async for ids in tasks_bulk.ids_on_board(session, kind, self.board_id):
                self.spool.alive(ids)
        for kind in ("list", "label", *CHILD_KINDS):
            self.spool.assign_ids(kind, self.key)

    async def _map(self, kind: str, rows: list[tuple[str, uuid.UUID, bool]]) -> None:
        """Record source id -> row id for rows made now (replacing mappings to rows deleted since)."""
        self.counts[kind] = self.counts.get(kind, 0) + len(rows)
        fresh = [(ext, internal) for ext, internal, existed in rows if not existed]
        if not fresh:
            return
        session = self.uow.session
        await session.execute(delete(ImportMapping).where(
            ImportMapping.workspace_id == self.workspace_id, ImportMapping.source == self.source,
            ImportMapping.kind == kind, ImportMapping.external_id.in_([e for e, _ in fresh])))
        await session.execute(insert(ImportMapping), [
            {"workspace_id": self.workspace_id, "source": self.source, "kind": kind, "external_id": ext,
             "board_id": self.board_id, "internal_id": internal} for ext, internal in fresh])

    async def _write(self, kind: str, parent_kind: str, build: Callable[..., Any], write: Callable[..., Any]) -> None:
        positions = _Positions()
        for batch in _batches(self.spool.resolved(kind, parent_kind, self.key)):
            new: list[dict[str, Any]] = []
            old: list[dict[str, Any]] = []
            done: list[tuple[str, uuid.UUID, bool]] = []
            extra: dict[str, list[Any]] = {}
            for ext_id, internal, existed, parent, data in batch:
                row = build(internal, parent, data, positions, extra)
                if row is None:
                    continue
                (old if existed else new).append(row)
                done.append((ext_id, internal, existed))
            await write(new, old, extra)
            await self._map(kind, done)
            self.tick(len(batch))
        if kind not in self.counts:
            self.counts[kind] = 0

    async def run(self) -> None:
        """Lists, labels, cards, checklists, items, comments, links: in that order, in batches."""
        session = self.uow.session
        self.labels = self.spool.ids("label", self.key)
        await self._write("list", "-", self._list,
                          lambda n, o, _: boards_bulk.write_lists(session, self.board_id, n, o))
        await self._write("label", "-", lambda i, p, d, pos, x: {"id": i, "name": d["name"], "color": d["color"]},
                          lambda n, o, _: boards_bulk.write_labels(session, self.board_id, n, o))
        await self._write("card", "list", self._card,
                          lambda n, o, x: tasks_bulk.write_cards(session, self.board_id, n, o, x))
        await self._write("checklist", "card", self._checklist, lambda n, o, _: tasks_bulk.write_checklists(session, n, o))
        await self._write("item", "checklist", self._item, lambda n, o, _: tasks_bulk.write_items(session, n, o))
        await self._write("comment", "card", self._comment,
                          lambda n, o, x: tasks_bulk.write_comments(session, n, o, x.get("mentions", [])))
        await self._write("link", "card", self._link, lambda n, o, _: tasks_bulk.write_links(session, n, o))
        roles = {self.members[d["user"]]: d["role"] for _, _, d in self.spool.rows("role", self.key)
                 if d["user"] in self.members}
        roles.pop(self.uow.actor_id, None)  # the importer keeps the admin role the import gave them
        await boards_bulk.set_roles(session, self.board_id, roles)
        # Trello's members are the board's members: its placeholders become viewers. Orbitask exports list
        # the board's explicit members (placeholders included) themselves, so their roles are the answer.
        people = list(self.members.values()) if self.source == trello.SOURCE else []
        if people:
            placeholders = set((await session.execute(
                select(Placeholder.user_id).where(Placeholder.user_id.in_(people))
            )).scalars())
            await boards_bulk.add_viewers(session, self.board_id, [u for u in people if u in placeholders])

    def _list(self, internal: uuid.UUID, _: Any, data: dict[str, Any], pos: _Positions, __: Any) -> dict[str, Any]:
        return {"id": internal, "name": data["name"], "archived": bool(data.get("archived")),
                "position": pos.next(None, data.get("position"))}

    def _card(self, internal: uuid.UUID, parent: uuid.UUID | None, data: dict[str, Any], pos: _Positions,
              extra: dict[str, list[Any]]) -> dict[str, Any]:
        if parent is None:
            raise ImportRejected("dangling-reference", f"card {data['title']!r} is on a list that is not in the file.")
        for name, refs, table in (("assignees", data.get("assignees", []), self.members),
                                  ("watchers", data.get("watchers", data.get("assignees", [])), self.members),
                                  ("labels", data.get("labels", []), self.labels)):
            extra.setdefault(name, []).extend((internal, table[r]) for r in refs if r in table)
        row = {
            "id": internal, "list_id": parent, "title": data["title"], "description": data.get("description", ""),
            "position": pos.next(parent, data.get("position")), "start_at": _time(data.get("start_at")),
            "due_at": _time(data.get("due_at")), "completed": bool(data.get("completed")),
            "archived": bool(data.get("archived")),
            # who made the card in the source, when known and resolved; else whoever imports it
            "created_by": self.members.get(data.get("creator") or "", self.uow.actor_id),
        }
        if data.get("created_at"):
            row["created_at"] = _time(data["created_at"])
        return row

    def _checklist(self, internal: uuid.UUID, parent: uuid.UUID | None, data: dict[str, Any], pos: _Positions,
                   _: Any) -> dict[str, Any] | None:
        if parent is None:
            return None  # a checklist of a card deleted before the export
        self.checklist_cards[internal] = parent
        return {"id": internal, "card_id": parent, "title": data["title"], "position": pos.next(parent, data.get("position"))}

    def _item(self, internal: uuid.UUID, parent: uuid.UUID | None, data: dict[str, Any], pos: _Positions,
              _: Any) -> dict[str, Any] | None:
        if parent is None or parent not in self.checklist_cards:
            return None
        return {"id": internal, "checklist_id": parent, "card_id": self.checklist_cards[parent], "text": data["text"],
                "position": pos.next(parent, data.get("position")), "done": bool(data.get("done")),
                "assignee_id": self.members.get(data.get("assignee") or ""), "due_at": _time(data.get("due_at"))}

    def _comment(self, internal: uuid.UUID, parent: uuid.UUID | None, data: dict[str, Any], _: Any,
                 extra: dict[str, list[Any]]) -> dict[str, Any] | None:
        if parent is None:
            return None
        extra.setdefault("mentions", []).extend(
            (internal, self.members[m]) for m in data.get("mentions", []) if m in self.members)
        return {"id": internal, "card_id": parent, "author_id": self.members.get(data.get("author") or ""),
                "body": data["body"], "created_at": _time(data.get("created_at")) or dt.datetime.now(dt.UTC),
                "edited_at": _time(data.get("edited_at"))}

    def _link(self, internal: uuid.UUID, parent: uuid.UUID | None, data: dict[str, Any], pos: _Positions,
              _: Any) -> dict[str, Any] | None:
        if parent is None:
            return None
        return {"id": internal, "card_id": parent, "url": data["url"], "name": data.get("name", ""),
                "is_cover": bool(data.get("is_cover")), "position": pos.next(parent, data.get("position"))}


async def import_spool(
    uow: UnitOfWork, actor: Actor, workspace_id: uuid.UUID, spool: Spool, source: str,
    progress: Progress | None = None,
) -> list[ImportedBoard]:
    """Write every staged board into the workspace in one transaction; re-imports update the same boards."""
    total = max(spool.count() - spool.count("member") - spool.count("role"), 1)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress("write", done, total)

    results: list[ImportedBoard] = []
    async with uow:
        await workspaces.require_role(uow.session, actor, workspace_id, "board.create")
        members = await _resolve_members(uow, workspace_id, spool)
        for ext_id, key, data in spool.boards():
            mapped = await uow.session.scalar(select(ImportMapping.internal_id).where(
                ImportMapping.workspace_id == workspace_id, ImportMapping.source == source,
                ImportMapping.kind == "board", ImportMapping.external_id == ext_id))
            created = mapped is None or not await boards_bulk.board_exists(uow.session, mapped)
            if created:
                board = await boards_bulk.create_board(uow, actor, workspace_id, data)
                await uow.session.execute(delete(ImportMapping).where(
                    ImportMapping.workspace_id == workspace_id, ImportMapping.source == source,
                    ImportMapping.kind == "board", ImportMapping.external_id == ext_id))
                uow.session.add(ImportMapping(workspace_id=workspace_id, source=source, kind="board",
                                              external_id=ext_id, board_id=board.id, internal_id=board.id))
            else:
                assert mapped is not None
                try:
                    board = await boards_bulk.update_board(uow, actor, mapped, data)
                except Forbidden as exc:
                    raise Forbidden(f"This export was imported before; importing it again updates that board, "
                                    f"which needs its admin role. {exc.detail}") from None
            writer = _BoardWriter(uow, spool, key, board.id, workspace_id, source, members, tick)
            await writer.prepare()
            await writer.run()
            uow.emit(events.BoardImported(board_id=board.id, source=source, created=created, counts=writer.counts),
                     board=board)
            results.append(ImportedBoard(board.id, board.name, created, writer.counts))
        await uow.commit()
    return results

