"""Watching cards, and the card queries other services (notifications, reminders) rely on."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth.policy import Actor
from orbitask.core.prepared import Prepared
from orbitask.core.uow import UnitOfWork, command
from orbitask.tasks import events
from orbitask.tasks.models import Card, CardAssignee, CardWatcher
from orbitask.tasks.schemas import CardRead
from orbitask.tasks.service import card_read, locked_card


@command
async def set_watching(uow: UnitOfWork, actor: Actor, card_id: uuid.UUID, *, on: bool) -> CardRead:
    """Start or stop watching a card (anyone who can see it)."""
    async with uow:
        board, card = await locked_card(uow, actor, card_id, "board.read")
        existing = await uow.session.get(CardWatcher, (card.id, actor.user_id))
        if on and existing is None:
            uow.session.add(CardWatcher(card_id=card.id, user_id=actor.user_id))
            uow.emit(events.CardWatcherAdded(card_id=card.id, user_id=actor.user_id), board=board, card_id=card.id)
        elif not on and existing is not None:
            await uow.session.delete(existing)
            uow.emit(events.CardWatcherRemoved(card_id=card.id, user_id=actor.user_id), board=board, card_id=card.id)
        await uow.session.flush()
        out = await card_read(uow.session, card)
        await uow.commit()
    return out


@dataclass(frozen=True, slots=True)
class WatchedCard:
    """What notifications need of a card: where it is, its title, who watches it."""

    id: uuid.UUID
    board_id: uuid.UUID
    title: str
    watcher_ids: list[uuid.UUID]


_BRIEFS = Prepared(select(Card.id, Card.board_id, Card.title).where(Card.id.in_(bindparam("ids", expanding=True))))
_WATCHERS = Prepared(select(CardWatcher.card_id, CardWatcher.user_id)
                     .where(CardWatcher.card_id.in_(bindparam("ids", expanding=True))))


async def watched_cards(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, WatchedCard]:
    """Cards with their watchers, by id; missing ones are left out."""
    if not ids:
        return {}
    params = {"ids": list(set(ids))}
    watchers: dict[uuid.UUID, list[uuid.UUID]] = {}
    for card_id, user_id in await _WATCHERS.all(session, params):
        watchers.setdefault(card_id, []).append(user_id)
    return {row.id: WatchedCard(row.id, row.board_id, row.title, sorted(watchers.get(row.id, ())))
            for row in await _BRIEFS.all(session, params)}


@dataclass(frozen=True, slots=True)
class DueCard:
    """An open card with a due date, and who hears about it: its assignees, or its watchers when
    nobody is assigned."""

    id: uuid.UUID
    board_id: uuid.UUID
    title: str
    due_at: dt.datetime
    recipients: list[uuid.UUID]


DUE_CARDS_MAX = 5000


def _due_between(start: dt.datetime, end: dt.datetime) -> list[Any]:
    return [Card.due_at.is_not(None), Card.due_at > start, Card.due_at <= end,
            Card.completed.is_(False), Card.archived.is_(False), Card.deleted_at.is_(None)]


async def open_cards_due_between(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> list[DueCard]:
    """Cards not completed nor archived whose due date falls in (start, end], soonest first.

    Plain columns and one query for the people, not whole cards: the reminder tick runs this every
    minute over hundreds of cards, almost all of them already reminded.
    """
    window = _due_between(start, end)
    cards = (await session.execute(
        select(Card.id, Card.board_id, Card.title, Card.due_at).where(*window).order_by(Card.due_at, Card.id)
        .limit(DUE_CARDS_MAX)
    )).all()
    if not cards:
        return []
    people = union_all(
        select(literal("a").label("kind"), CardAssignee.card_id, CardAssignee.user_id)
        .join(Card, Card.id == CardAssignee.card_id).where(*window),
        select(literal("w"), CardWatcher.card_id, CardWatcher.user_id)
        .join(Card, Card.id == CardWatcher.card_id).where(*window),
    )
    assignees: dict[uuid.UUID, list[uuid.UUID]] = {}
    watchers: dict[uuid.UUID, list[uuid.UUID]] = {}
    for kind, card_id, user_id in (await session.execute(people)).all():
        (assignees if kind == "a" else watchers).setdefault(card_id, []).append(user_id)
    return [DueCard(c.id, c.board_id, c.title, c.due_at, sorted(assignees.get(c.id) or watchers.get(c.id) or []))
            for c in cards]
