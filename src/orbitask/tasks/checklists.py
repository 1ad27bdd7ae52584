"""Checklists and their items."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth.policy import Actor
from orbitask.boards import service as boards
from orbitask.boards.models import Board
from orbitask.core import ordering
from orbitask.core.db import utcnow
from orbitask.core.errors import InvalidInput, NotFound
from orbitask.core.prepared import Prepared
from orbitask.core.uow import UnitOfWork, command
from orbitask.tasks import events
from orbitask.tasks.models import Card, Checklist, ChecklistItem
from orbitask.tasks.schemas import (
    ChecklistCreate,
    ChecklistItemCreate,
    ChecklistItemRead,
    ChecklistItemUpdate,
    ChecklistRead,
)
from orbitask.tasks.service import card_board_id, locked_card


@command
async def create_checklist(uow: UnitOfWork, actor: Actor, card_id: uuid.UUID, cmd: ChecklistCreate) -> ChecklistRead:
    """A new checklist at the end of the card."""
    async with uow:
        board, card = await locked_card(uow, actor, card_id, "board.write")
        position = await ordering.position_for(
            uow.session, Checklist, Checklist.card_id, card.id, after_id=None, before_id=None, what="checklist"
        )
        row = Checklist(card_id=card.id, title=cmd.title, position=position, created_at=utcnow())
        uow.session.add(row)
        await uow.session.flush()
        out = ChecklistRead.model_validate(row)
        uow.emit(events.ChecklistCreated(checklist=out), board=board, card_id=card.id)
        await uow.commit(response=out)
    return out


async def _locked_checklist(
    uow: UnitOfWork, actor: Actor, checklist_id: uuid.UUID, what: str = "checklist"
) -> tuple[Any, Checklist]:
    card_id = await uow.session.scalar(select(Checklist.card_id).where(Checklist.id == checklist_id))
    if card_id is None:
        raise NotFound(f"No such {what}.")
    board_id = await card_board_id(uow.session, card_id)
    if board_id is None:
        raise NotFound(f"No such {what}.")
    board = await boards.lock_board(uow, actor, board_id, "board.write", what)
    row = await uow.session.get(Checklist, checklist_id)
    if row is None:
        raise NotFound("No such checklist.")
    return board, row


async def _check_assignee(session: AsyncSession, board: Any, user_id: uuid.UUID | None) -> None:
    if user_id is not None and await boards.role_on_board(session, board, user_id) is None:
        raise InvalidInput(f"assignee_id: user {user_id} cannot see this board")


@command
async def create_item(uow: UnitOfWork, actor: Actor, checklist_id: uuid.UUID, cmd: ChecklistItemCreate) -> ChecklistItemRead:
    """A new item on a checklist."""
    async with uow:
        board, checklist = await _locked_checklist(uow, actor, checklist_id)
        await _check_assignee(uow.session, board, cmd.assignee_id)
        position = await ordering.position_for(
            uow.session, ChecklistItem, ChecklistItem.checklist_id, checklist.id,
            after_id=cmd.after_id, before_id=cmd.before_id, what="item",
        )
        row = ChecklistItem(
            checklist_id=checklist.id, card_id=checklist.card_id, text=cmd.text, position=position, done=False,
            assignee_id=cmd.assignee_id, due_at=cmd.due_at, created_at=utcnow(),
        )
        uow.session.add(row)
        await uow.session.flush()
        out = ChecklistItemRead.model_validate(row)
        uow.emit(events.ChecklistItemCreated(item=out), board=board, card_id=checklist.card_id)
        await uow.commit(response=out)
    return out


# the toggle is a hot command: the board is found through the item's card in the locking statement
# itself, and the item is read and written with plain statements (no ORM objects)
ITEM = ChecklistItem.__table__
_LOCK_ITEM = Prepared(boards.with_access(
    boards.lock_values(),
    Board.id == select(Card.board_id).where(  # an item of a card in the trash is out of reach, as the card is
        Card.id == select(ChecklistItem.card_id).where(ChecklistItem.id == bindparam("item_id")).scalar_subquery(),
        Card.deleted_at.is_(None),
    ).scalar_subquery(),
).with_for_update(of=Board))
_ITEM_ROW = Prepared(select(*ITEM.c).where(ITEM.c.id == bindparam("item_id")))
_UPDATE_ITEM = Prepared(update(ITEM).where(ITEM.c.id == bindparam("item_id_")))  # SET: the columns given
_DELETE_ITEM = Prepared(delete(ITEM).where(ITEM.c.id == bindparam("item_id")))


async def _locked_item(uow: UnitOfWork, actor: Actor, item_id: uuid.UUID) -> tuple[boards.LockedBoard, dict[str, Any]]:
    """Lock the item's board and read the item's columns (404 when out of reach)."""
    lock = await _LOCK_ITEM.first(uow.session, {"user_id": actor.user_id, "item_id": item_id})
    board = boards.checked_lock_values(lock, "board.write", "checklist item")
    row = await _ITEM_ROW.first(uow.session, {"item_id": item_id})
    if row is None:
        raise NotFound("No such checklist item.")
    return board, dict(row._mapping)


@command
async def update_item(uow: UnitOfWork, actor: Actor, item_id: uuid.UUID, cmd: ChecklistItemUpdate) -> ChecklistItemRead:
    """Tick, rename, assign, date or move an item."""
    changes = cmd.model_dump(exclude_unset=True)
    async with uow:
        board, row = await _locked_item(uow, actor, item_id)
        if "text" in changes and changes["text"] is None:
            raise InvalidInput("text cannot be null")
        if "done" in changes and changes["done"] is None:
            raise InvalidInput("done cannot be null")
        if "assignee_id" in changes:
            await _check_assignee(uow.session, board, changes["assignee_id"])
        after_id, before_id = changes.pop("after_id", None), changes.pop("before_id", None)
        if after_id or before_id:
            changes["position"] = await ordering.position_for(
                uow.session, ChecklistItem, ChecklistItem.checklist_id, row["checklist_id"],
                after_id=after_id, before_id=before_id, exclude_id=item_id, what="item",
            )
        if changes:
            await _UPDATE_ITEM.run(uow.session, {"item_id_": item_id, **changes})
            row.update(changes)
        out = ChecklistItemRead.model_validate(row)
        uow.emit(events.ChecklistItemUpdated(item=out, changes=sorted(changes)), board=board, card_id=row["card_id"])
        await uow.commit()
    return out


@command
async def delete_item(uow: UnitOfWork, actor: Actor, item_id: uuid.UUID) -> None:
    """Remove an item."""
    async with uow:
        board, row = await _locked_item(uow, actor, item_id)
        uow.emit(events.ChecklistItemDeleted(item_id=item_id, checklist_id=row["checklist_id"], card_id=row["card_id"]),
                 board=board, card_id=row["card_id"])
        await _DELETE_ITEM.run(uow.session, {"item_id": item_id})
        await uow.commit()


_CHECKLIST = Checklist.__table__.c
_CHECKLISTS = Prepared(select(*_CHECKLIST).where(_CHECKLIST.card_id == bindparam("card_id")).order_by(
    _CHECKLIST.position, _CHECKLIST.id))
_ITEMS = Prepared(select(*ITEM.c).where(ITEM.c.card_id == bindparam("card_id")).order_by(ITEM.c.position, ITEM.c.id))


async def card_checklists(session: AsyncSession, card_id: uuid.UUID) -> list[ChecklistRead]:
    """A card's checklists with their items, in order (plain rows: part of opening a card)."""
    lists = await _CHECKLISTS.all(session, {"card_id": card_id})
    items = await _ITEMS.all(session, {"card_id": card_id})
    by_list: dict[uuid.UUID, list[dict[str, Any]]] = {c.id: [] for c in lists}
    for item in items:
        by_list.setdefault(item.checklist_id, []).append(dict(item._mapping))
    return [ChecklistRead.model_validate({**c._mapping, "items": by_list[c.id]}) for c in lists]
