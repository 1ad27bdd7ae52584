"""What a board keeps off its face: archived cards and lists, and its trash (tasks/trash.py), newest first.

Both listings merge a board's lists and cards into one page ordered by a time (the archive: when the
item last changed, which archiving it did; the trash: when it was deleted) and id, both descending;
the cursor names the last item's time and id.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth import service as auth_service
from orbitask.auth.policy import Actor
from orbitask.auth.schemas import UserBrief
from orbitask.boards import service as boards
from orbitask.boards.models import BoardList
from orbitask.core.errors import InvalidInput
from orbitask.core.schemas import Output
from orbitask.tasks.models import Card
from orbitask.tasks.service import like_pattern


class ArchivedItem(Output):
    """An archived card or list; a card's list may be archived too (then it comes back with the list)."""

    kind: Literal["card", "list"]
    id: uuid.UUID
    name: str  # a card's title, a list's name
    list_id: uuid.UUID | None  # a card's list
    list_name: str | None
    list_archived: bool = False
    updated_at: dt.datetime


class ArchivePage(Output):
    items: list[ArchivedItem]
    next_cursor: str | None


class TrashItem(Output):
    """A card or list in the trash: who deleted it and when. A list's item stands for the cards deleted with it."""

    kind: Literal["card", "list"]
    id: uuid.UUID
    name: str
    list_id: uuid.UUID | None
    list_name: str | None
    list_in_trash: bool = False  # a card's list is in the trash too: restore the list first
    deleted_at: dt.datetime
    deleted_by: UserBrief | None


class TrashPage(Output):
    items: list[TrashItem]
    next_cursor: str | None


def _encode(at: dt.datetime, item_id: uuid.UUID) -> str:
    raw = f"{at.astimezone(dt.UTC).isoformat()}|{item_id.hex}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        at, item_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        when = dt.datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("no time zone")
        return when, uuid.UUID(hex=item_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not a cursor this API returned") from exc


def _before(time: Any, ident: Any, after: tuple[dt.datetime, uuid.UUID] | None) -> list[Any]:
    """Conditions for the rows after the cursor in (time, id) descending order."""
    if after is None:
        return []
    at, item_id = after
    return [or_(time < at, and_(time == at, ident < item_id))]


def _titled(column: Any, q: str | None) -> list[Any]:
    return [func.lower(column).like(like_pattern(q), escape="\\")] if q else []


def _page(rows: list[tuple[dt.datetime, uuid.UUID, Any]], limit: int) -> tuple[list[Any], str | None]:
    """Newest first; the cursor of the next page when there is one."""
    rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
    if len(rows) <= limit:
        return [r[2] for r in rows], None
    last = rows[limit - 1]
    return [r[2] for r in rows[:limit]], _encode(last[0], last[1])


async def list_archive(
    session: AsyncSession, actor: Actor, board_id: uuid.UUID, *, q: str | None, cursor: str | None, limit: int
) -> tuple[list[ArchivedItem], str | None]:
    """The board's archived lists and cards (not in the trash), by title, newest change first."""
    await boards.readable_board(session, actor, board_id)
    after = _decode(cursor)
    lists = await session.execute(
        select(BoardList.id, BoardList.name, BoardList.updated_at)
        .where(BoardList.board_id == board_id, BoardList.archived.is_(True), BoardList.deleted_at.is_(None),
               *_titled(BoardList.name, q), *_before(BoardList.updated_at, BoardList.id, after))
        .order_by(BoardList.updated_at.desc(), BoardList.id.desc()).limit(limit + 1))
    cards = await session.execute(
        select(Card.id, Card.title, Card.updated_at, BoardList.id, BoardList.name, BoardList.archived)
        .join(BoardList, BoardList.id == Card.list_id)
        .where(Card.board_id == board_id, Card.archived.is_(True), Card.deleted_at.is_(None),
               *_titled(Card.title, q), *_before(Card.updated_at, Card.id, after))
        .order_by(Card.updated_at.desc(), Card.id.desc()).limit(limit + 1))
    rows = [(at, i, ArchivedItem(kind="list", id=i, name=name, list_id=None, list_name=None, updated_at=at))
            for i, name, at in lists]
    rows += [(at, i, ArchivedItem(kind="card", id=i, name=title, list_id=list_id, list_name=list_name,
                                  list_archived=list_archived, updated_at=at))
             for i, title, at, list_id, list_name, list_archived in cards]
    return _page(rows, limit)


async def list_trash(
    session: AsyncSession, actor: Actor, board_id: uuid.UUID, *, q: str | None, cursor: str | None, limit: int
) -> tuple[list[TrashItem], str | None]:
    """The board's trash (editors and up), newest deletion first: lists, and the cards deleted on their own."""
    await boards.readable_board(session, actor, board_id, "board.write")
    after = _decode(cursor)
    lists = await session.execute(
        select(BoardList.id, BoardList.name, BoardList.deleted_at, BoardList.deleted_by)
        .where(BoardList.board_id == board_id, BoardList.deleted_at.is_not(None),
               *_titled(BoardList.name, q), *_before(BoardList.deleted_at, BoardList.id, after))
        .order_by(BoardList.deleted_at.desc(), BoardList.id.desc()).limit(limit + 1))
    cards = await session.execute(
        select(Card.id, Card.title, Card.deleted_at, Card.deleted_by, BoardList.id, BoardList.name,
               BoardList.deleted_at)
        .join(BoardList, BoardList.id == Card.list_id)
        # the cards deleted with their list are in the list's item
        .where(Card.board_id == board_id, Card.deleted_at.is_not(None),
               or_(BoardList.deleted_at.is_(None), BoardList.deleted_at != Card.deleted_at),
               *_titled(Card.title, q), *_before(Card.deleted_at, Card.id, after))
        .order_by(Card.deleted_at.desc(), Card.id.desc()).limit(limit + 1))
    found: list[tuple[Any, ...]] = [("list", i, name, at, by, None, None, None) for i, name, at, by in lists]
    found += [("card", *row) for row in cards]
    users = await auth_service.users_brief(session, [r[4] for r in found if r[4] is not None])
    rows = [(at, i, TrashItem(kind=kind, id=i, name=name, list_id=list_id, list_name=list_name,
                              list_in_trash=list_deleted is not None, deleted_at=at,
                              deleted_by=users.get(by) if by is not None else None))
            for kind, i, name, at, by, list_id, list_name, list_deleted in found]
    return _page(rows, limit)
