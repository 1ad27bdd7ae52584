"""The trash: deleting a card or a list keeps it, restorable in place, for `trash_retention_days`.

A deleted card or list has `deleted_at` and `deleted_by` set and is left out of every read and
command as if it were gone (snapshots, card reads, my tasks, the calendar feed, search, reminders).
Deleting a list puts its live cards in the trash with it, stamped with the list's very `deleted_at`:
restoring the list brings back those cards (the ones deleted before it stay in the trash, each an
item of its own). A card whose list is in the trash cannot be restored alone: 409 naming the list to
restore first. Restoring is a write like any other (board lock, version, `card.restored` /
`list.restored` events, so every open board follows live); restoring what is not in the trash
changes nothing and answers the item. What has been in the trash longer than the retention is no
longer restorable, and the `trash-purge` job (tasks/jobs.py) erases it with its files.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import bindparam, select, update

from orbitask.auth.policy import Actor
from orbitask.boards import events as board_events
from orbitask.boards import service as boards
from orbitask.boards.models import Board, BoardList
from orbitask.boards.schemas import ListRead
from orbitask.core.db import utcnow
from orbitask.core.errors import Conflict, NotFound
from orbitask.core.events import DomainEvent, event_type
from orbitask.core.prepared import Prepared
from orbitask.core.uow import UnitOfWork, command
from orbitask.tasks import events
from orbitask.tasks.models import Card
from orbitask.tasks.schemas import CardRead
from orbitask.tasks.service import CARD, card_read, locked_card_row


@event_type("card.restored")
class CardRestored(DomainEvent):
    card: CardRead


@event_type("list.restored")
class ListRestored(DomainEvent):
    list: ListRead


LIST = BoardList.__table__
# the board is locked through the item, in the trash or not (tasks/service.py's locks leave trashed ones out)
_LOCK_ANY_CARD = Prepared(boards.with_access(
    boards.lock_values(), Board.id == select(Card.board_id).where(Card.id == bindparam("card_id")).scalar_subquery()
).with_for_update(of=Board))
_LOCK_ANY_LIST = Prepared(boards.with_access(
    boards.lock_values(), Board.id == select(BoardList.board_id).where(BoardList.id == bindparam("list_id"))
    .scalar_subquery()
).with_for_update(of=Board))
_ANY_CARD = Prepared(select(*CARD.c).where(CARD.c.id == bindparam("card_id")))
_ANY_LIST = Prepared(select(*LIST.c).where(LIST.c.id == bindparam("list_id")))
_STAMP_CARD = Prepared(update(CARD).where(CARD.c.id == bindparam("card_id")))
_STAMP_LIST = Prepared(update(LIST).where(LIST.c.id == bindparam("list_id")))
# a list's cards leave with it (the live ones) and come back with it (those stamped with its time)
_TRASH_LIST_CARDS = Prepared(update(CARD).where(CARD.c.list_id == bindparam("home"), CARD.c.deleted_at.is_(None))
                             .values(deleted_at=bindparam("at"), deleted_by=bindparam("by")))
_RESTORE_LIST_CARDS = Prepared(update(CARD).where(CARD.c.list_id == bindparam("home"),
                                                  CARD.c.deleted_at == bindparam("at"))
                               .values(deleted_at=None, deleted_by=None))


def restorable_since(retention_days: int) -> dt.datetime:
    """The oldest deletion time still restorable: older items wait for the purge, as if gone."""
    return utcnow() - dt.timedelta(days=retention_days)


@command
async def delete_card(uow: UnitOfWork, actor: Actor, card_id: uuid.UUID) -> None:
    """Move a card to the trash with everything on it (archive it to keep it on the board's archive instead)."""
    async with uow:
        board, card = await locked_card_row(uow, actor, card_id, "board.write")
        await _STAMP_CARD.run(uow.session, {"card_id": card_id, "deleted_at": utcnow(), "deleted_by": actor.user_id})
        uow.emit(events.CardDeleted(card_id=card_id, list_id=card["list_id"]), board=board, card_id=card_id)
        await uow.commit()


@command
async def restore_card(uow: UnitOfWork, actor: Actor, card_id: uuid.UUID, *, retention_days: int) -> CardRead:
    """Bring a card back from the trash to its list and position (409 while its list is in the trash)."""
    async with uow:
        board = boards.checked_lock_values(
            await _LOCK_ANY_CARD.first(uow.session, {"user_id": actor.user_id, "card_id": card_id}),
            "board.write", "card")
        row = await _ANY_CARD.first(uow.session, {"card_id": card_id})
        if row is None or (row.deleted_at is not None and row.deleted_at < restorable_since(retention_days)):
            raise NotFound("No such card.")
        card: dict[str, Any] = dict(row._mapping)
        if card["deleted_at"] is not None:
            home = await _ANY_LIST.first(uow.session, {"list_id": card["list_id"]})
            if home is not None and home.deleted_at is not None:
                raise Conflict(f"This card's list “{home.name}” is in the trash: restore the list first, "
                               "then the card if it is not back already.", list_id=str(home.id))
            changes = {"deleted_at": None, "deleted_by": None, "updated_at": utcnow()}
            await _STAMP_CARD.run(uow.session, {"card_id": card_id, **changes})
            card.update(changes)
        out = await card_read(uow.session, card)
        if row.deleted_at is not None:
            uow.emit(CardRestored(card=out), board=board, card_id=card_id)
        await uow.commit(response=out)
    return out


@command
async def delete_list(uow: UnitOfWork, actor: Actor, list_id: uuid.UUID) -> None:
    """Move a list to the trash with its cards."""
    async with uow:
        board = boards.checked_lock_values(
            await _LOCK_ANY_LIST.first(uow.session, {"user_id": actor.user_id, "list_id": list_id}),
            "board.write", "list")
        row = await _ANY_LIST.first(uow.session, {"list_id": list_id})
        if row is None or row.deleted_at is not None:
            raise NotFound("No such list.")
        now = utcnow()
        await _TRASH_LIST_CARDS.run(uow.session, {"home": list_id, "at": now, "by": actor.user_id})
        await _STAMP_LIST.run(uow.session, {"list_id": list_id, "deleted_at": now, "deleted_by": actor.user_id})
        uow.emit(board_events.ListDeleted(list_id=list_id), board=board)
        await uow.commit()


@command
async def restore_list(uow: UnitOfWork, actor: Actor, list_id: uuid.UUID, *, retention_days: int) -> ListRead:
    """Bring a list back from the trash to its place, with the cards deleted with it."""
    async with uow:
        board = boards.checked_lock_values(
            await _LOCK_ANY_LIST.first(uow.session, {"user_id": actor.user_id, "list_id": list_id}),
            "board.write", "list")
        row = await _ANY_LIST.first(uow.session, {"list_id": list_id})
        if row is None or (row.deleted_at is not None and row.deleted_at < restorable_since(retention_days)):
            raise NotFound("No such list.")
        values: dict[str, Any] = dict(row._mapping)
        if row.deleted_at is not None:
            await _RESTORE_LIST_CARDS.run(uow.session, {"home": list_id, "at": row.deleted_at})
            changes = {"deleted_at": None, "deleted_by": None, "updated_at": utcnow()}
            await _STAMP_LIST.run(uow.session, {"list_id": list_id, **changes})
            values.update(changes)
        out = ListRead.model_validate(values)
        if row.deleted_at is not None:
            uow.emit(ListRestored(list=out), board=board)
        await uow.commit(response=out)
    return out
