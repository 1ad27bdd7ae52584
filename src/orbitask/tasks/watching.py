"""Watching cards, and the card queries other services (notifications, reminders) rely on."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth.policy import Actor
from orbitask.core.uow import UnitOfWork, command
from orbitask.tasks import events, service
from orbitask.tasks.models import Card, CardWatcher
from orbitask.tasks.schemas import CardRead
from orbitask.tasks.service import card_read, card_reads, locked_card


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


async def cards_by_id(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, CardRead]:
    """Cards (with assignees and watchers) by id; missing ones are left out."""
    return {c.id: c for c in await service.cards_by_id(session, list(set(ids)))}


async def open_cards_due_between(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> list[CardRead]:
    """Cards not completed nor archived whose due date falls in (start, end]."""
    rows = list((await session.execute(
        select(Card).where(Card.due_at.is_not(None), Card.due_at > start, Card.due_at <= end,
                           Card.completed.is_(False), Card.archived.is_(False)).order_by(Card.due_at).limit(5000)
    )).scalars())
    return await card_reads(session, rows)
