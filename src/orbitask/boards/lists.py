"""Lists and labels on a board (deleting and restoring a list with its cards: tasks/trash.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth.policy import Actor
from orbitask.boards import events, limits
from orbitask.boards.models import Board, BoardList, Label
from orbitask.boards.schemas import LabelCreate, LabelRead, LabelUpdate, ListCreate, ListMove, ListRead, ListUpdate
from orbitask.boards.service import lock_board
from orbitask.core import ordering
from orbitask.core.db import utcnow
from orbitask.core.errors import NotFound
from orbitask.core.prepared import Prepared
from orbitask.core.uow import UnitOfWork, command

# a list in the trash (tasks/trash.py) is as if gone: no card goes to it, no command changes it
_LIST_BOARD = Prepared(select(BoardList.board_id).where(BoardList.id == bindparam("id"), BoardList.deleted_at.is_(None)))
_LABEL_BOARD = Prepared(select(Label.board_id).where(Label.id == bindparam("id")))
_COUNT_LISTS = limits.counter(BoardList.board_id)
_COUNT_LABELS = limits.counter(Label.board_id)


async def list_board_id(session: AsyncSession, list_id: uuid.UUID) -> uuid.UUID | None:
    """The board a list is on (None if there is no such list, or it is in the trash)."""
    return await _LIST_BOARD.scalar(session, {"id": list_id})


async def label_board_id(session: AsyncSession, label_id: uuid.UUID) -> uuid.UUID | None:
    """The board a label belongs to (None if there is no such label)."""
    return await _LABEL_BOARD.scalar(session, {"id": label_id})


async def _locked_list(uow: UnitOfWork, actor: Actor, list_id: uuid.UUID) -> tuple[Board, BoardList]:
    board_id = await list_board_id(uow.session, list_id)
    if board_id is None:
        raise NotFound("No such list.")
    board = await lock_board(uow, actor, board_id, "board.write", "list")
    row = await uow.session.get(BoardList, list_id)
    if row is None or row.board_id != board.id or row.deleted_at is not None:
        raise NotFound("No such list.")
    return board, row


@command
async def create_list(uow: UnitOfWork, actor: Actor, board_id: uuid.UUID, cmd: ListCreate) -> ListRead:
    """A new list, placed between the given neighbours (default: last); 409 past limits.MAX_LISTS_PER_BOARD."""
    async with uow:
        board = await lock_board(uow, actor, board_id, "board.write")
        await limits.require_room(uow.session, _COUNT_LISTS, board.id, cap=limits.MAX_LISTS_PER_BOARD, what="lists")
        position = await ordering.position_for(
            uow.session, BoardList, BoardList.board_id, board.id,
            after_id=cmd.after_id, before_id=cmd.before_id, what="list",
        )
        now = utcnow()
        row = BoardList(board_id=board.id, name=cmd.name, position=position, archived=False,
                        created_at=now, updated_at=now)
        uow.session.add(row)
        await uow.session.flush()
        out = ListRead.model_validate(row)
        uow.emit(events.ListCreated(list=out), board=board)
        await uow.commit(response=out)
    return out


@command
async def update_list(uow: UnitOfWork, actor: Actor, list_id: uuid.UUID, cmd: ListUpdate) -> ListRead:
    """Rename or archive a list."""
    changes = cmd.model_dump(exclude_unset=True, exclude_none=True)
    async with uow:
        board, row = await _locked_list(uow, actor, list_id)
        for field, value in changes.items():
            setattr(row, field, value)
        row.updated_at = utcnow()
        out = ListRead.model_validate(row)
        uow.emit(events.ListUpdated(list=out, changes=sorted(changes)), board=board)
        await uow.commit()
    return out


@command
async def move_list(uow: UnitOfWork, actor: Actor, list_id: uuid.UUID, cmd: ListMove) -> ListRead:
    """Move a list between two others: one row rewritten."""
    async with uow:
        board, row = await _locked_list(uow, actor, list_id)
        row.position = await ordering.position_for(
            uow.session, BoardList, BoardList.board_id, board.id,
            after_id=cmd.after_id, before_id=cmd.before_id, exclude_id=row.id, what="list",
        )
        row.updated_at = utcnow()
        out = ListRead.model_validate(row)
        uow.emit(events.ListMoved(list=out), board=board)
        await uow.commit(response=out)
    return out


@command
async def create_label(uow: UnitOfWork, actor: Actor, board_id: uuid.UUID, cmd: LabelCreate) -> LabelRead:
    """A new label on the board; 409 past limits.MAX_LABELS_PER_BOARD."""
    async with uow:
        board = await lock_board(uow, actor, board_id, "board.write")
        await limits.require_room(uow.session, _COUNT_LABELS, board.id, cap=limits.MAX_LABELS_PER_BOARD,
                                  what="labels")
        row = Label(board_id=board.id, name=cmd.name, color=cmd.color, created_at=utcnow())
        uow.session.add(row)
        await uow.session.flush()
        out = LabelRead.model_validate(row)
        uow.emit(events.LabelCreated(label=out), board=board)
        await uow.commit(response=out)
    return out


async def _locked_label(uow: UnitOfWork, actor: Actor, label_id: uuid.UUID) -> tuple[Board, Label]:
    board_id = await label_board_id(uow.session, label_id)
    if board_id is None:
        raise NotFound("No such label.")
    board = await lock_board(uow, actor, board_id, "board.write", "label")
    row = await uow.session.get(Label, label_id)
    if row is None:
        raise NotFound("No such label.")
    return board, row


@command
async def update_label(uow: UnitOfWork, actor: Actor, label_id: uuid.UUID, cmd: LabelUpdate) -> LabelRead:
    """Rename or recolour a label."""
    async with uow:
        board, row = await _locked_label(uow, actor, label_id)
        for field, value in cmd.model_dump(exclude_unset=True, exclude_none=True).items():
            setattr(row, field, value)
        out = LabelRead.model_validate(row)
        uow.emit(events.LabelUpdated(label=out), board=board)
        await uow.commit()
    return out


@command
async def delete_label(uow: UnitOfWork, actor: Actor, label_id: uuid.UUID) -> None:
    """Delete a label (it disappears from every card)."""
    async with uow:
        board, row = await _locked_label(uow, actor, label_id)
        await uow.session.delete(row)
        uow.emit(events.LabelDeleted(label_id=label_id), board=board)
        await uow.commit()


# built once, plain rows (every snapshot reads them)
_OPEN_LISTS = Prepared(
    select(*BoardList.__table__.c)
    .where(BoardList.board_id == bindparam("board_id"), BoardList.archived.is_(False), BoardList.deleted_at.is_(None))
    .order_by(BoardList.position, BoardList.id)
)
_LABELS = Prepared(select(*Label.__table__.c).where(Label.board_id == bindparam("board_id")).order_by(Label.id))


async def board_lists(session: AsyncSession, board_id: uuid.UUID) -> list[ListRead]:
    """The board's open lists in order."""
    return [ListRead.model_validate(r) for r in await _OPEN_LISTS.all(session, {"board_id": board_id})]


async def board_labels(session: AsyncSession, board_id: uuid.UUID) -> list[LabelRead]:
    """The board's labels."""
    return [LabelRead.model_validate(r) for r in await _LABELS.all(session, {"board_id": board_id})]
