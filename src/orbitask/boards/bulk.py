"""Boards, lists and labels in bulk: what imports write and exports read, inside the caller's transaction.

Writes keep to the caps of orbitask.boards.limits (409 limit-reached past one), on a board the caller
locked or created in the same transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth.policy import Actor
from orbitask.boards import events, limits
from orbitask.boards.models import Board, BoardList, BoardMember, Label
from orbitask.boards.schemas import BoardRead, LabelRead, ListRead
from orbitask.boards.service import lock_board
from orbitask.core.bulk import upsert
from orbitask.core.db import utcnow
from orbitask.core.uow import UnitOfWork

BOARD_FIELDS = ("name", "description", "color", "visibility", "archived")
_COUNT_LISTS = limits.counter(BoardList.board_id)
_COUNT_LABELS = limits.counter(Label.board_id)
_COUNT_MEMBERS = limits.counter(BoardMember.board_id)


async def board_exists(session: AsyncSession, board_id: uuid.UUID) -> bool:
    """Whether the board still exists."""
    return await session.scalar(select(Board.id).where(Board.id == board_id)) is not None


async def create_board(uow: UnitOfWork, actor: Actor, workspace_id: uuid.UUID, fields: dict[str, Any]) -> Board:
    """A new board made by an import (the caller checked `board.create`); the importer becomes its admin."""
    now = utcnow()
    board = Board(workspace_id=workspace_id, version=0, created_by=actor.user_id, created_at=now, updated_at=now,
                  **{k: fields[k] for k in BOARD_FIELDS})
    uow.session.add(board)
    await uow.session.flush()
    uow.session.add(BoardMember(board_id=board.id, user_id=actor.user_id, role="admin", created_at=now))
    uow.emit(events.BoardCreated(board=BoardRead.model_validate(board)), board=board)
    return board


async def update_board(uow: UnitOfWork, actor: Actor, board_id: uuid.UUID, fields: dict[str, Any]) -> Board:
    """Lock a board a re-import updates (board admins only) and set its fields."""
    board = await lock_board(uow, actor, board_id, "board.admin")
    for key in BOARD_FIELDS:
        setattr(board, key, fields[key])
    board.updated_at = utcnow()
    return board


async def add_viewers(session: AsyncSession, board_id: uuid.UUID, user_ids: list[uuid.UUID]) -> None:
    """Give users without an explicit role the viewer role (placeholders appear among the board's members)."""
    have = set((await session.execute(
        select(BoardMember.user_id).where(BoardMember.board_id == board_id, BoardMember.user_id.in_(user_ids))
    )).scalars())
    now = utcnow()
    new = [u for u in dict.fromkeys(user_ids) if u not in have]
    await limits.require_room(session, _COUNT_MEMBERS, board_id, cap=limits.MAX_MEMBERS_PER_BOARD,
                              what="explicit members", adding=len(new))
    for user_id in new:
        session.add(BoardMember(board_id=board_id, user_id=user_id, role="viewer", created_at=now))
    await session.flush()


async def set_roles(session: AsyncSession, board_id: uuid.UUID, roles: dict[uuid.UUID, str]) -> None:
    """Give users explicit roles on the board (an exported board's members)."""
    have = {m.user_id: m for m in (await session.execute(
        select(BoardMember).where(BoardMember.board_id == board_id, BoardMember.user_id.in_(list(roles)))
    )).scalars()} if roles else {}
    await limits.require_room(session, _COUNT_MEMBERS, board_id, cap=limits.MAX_MEMBERS_PER_BOARD,
                              what="explicit members", adding=len(roles.keys() - have.keys()))
    for user_id, role in roles.items():
        if user_id in have:
            have[user_id].role = role
        else:
            session.add(BoardMember(board_id=board_id, user_id=user_id, role=role, created_at=utcnow()))
    await session.flush()


async def ids_on_board(session: AsyncSession, kind: str, board_id: uuid.UUID) -> list[uuid.UUID]:
    """Ids of the board's lists or labels."""
    model = {"list": BoardList, "label": Label}[kind]
    return list((await session.execute(select(model.id).where(model.board_id == board_id))).scalars())


async def write_lists(session: AsyncSession, board_id: uuid.UUID, new: list[dict[str, Any]],
                      old: list[dict[str, Any]]) -> None:
    """Insert and update lists (dicts of id, name, position, archived)."""
    await limits.require_room(session, _COUNT_LISTS, board_id, cap=limits.MAX_LISTS_PER_BOARD, what="lists",
                              adding=len(new))
    now = utcnow()
    await upsert(session, BoardList, [{**r, "board_id": board_id, "created_at": now, "updated_at": now} for r in new],
                 [{**r, "updated_at": now} for r in old])


async def write_labels(session: AsyncSession, board_id: uuid.UUID, new: list[dict[str, Any]],
                       old: list[dict[str, Any]]) -> None:
    """Insert and update labels (dicts of id, name, color)."""
    await limits.require_room(session, _COUNT_LABELS, board_id, cap=limits.MAX_LABELS_PER_BOARD, what="labels",
                              adding=len(new))
    await upsert(session, Label, [{**r, "board_id": board_id, "created_at": utcnow()} for r in new], old)


async def boards_of(session: AsyncSession, board_ids: list[uuid.UUID]) -> list[BoardRead]:
    """Boards by id, in the given order."""
    rows = {b.id: b for b in (await session.execute(select(Board).where(Board.id.in_(board_ids)))).scalars()}
    return [BoardRead.model_validate(rows[i]) for i in board_ids if i in rows]


async def all_lists(session: AsyncSession, board_id: uuid.UUID) -> list[ListRead]:
    """Every list of the board, archived too (not those in the trash), in order."""
    rows = await session.execute(
        select(BoardList).where(BoardList.board_id == board_id, BoardList.deleted_at.is_(None))
        .order_by(BoardList.position, BoardList.id)
    )
    return [ListRead.model_validate(r) for r in rows.scalars()]


async def all_labels(session: AsyncSession, board_id: uuid.UUID) -> list[LabelRead]:
    """The board's labels, oldest first."""
    rows = await session.execute(select(Label).where(Label.board_id == board_id).order_by(Label.created_at, Label.id))
    return [LabelRead.model_validate(r) for r in rows.scalars()]


async def explicit_members(session: AsyncSession, board_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """(user id, role) of the board's explicit members."""
    rows = await session.execute(select(BoardMember.user_id, BoardMember.role).where(BoardMember.board_id == board_id))
    return [(u, r) for u, r in rows.all()]
