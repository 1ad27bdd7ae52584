"""Per-user iCalendar feeds (RFC 5545): a secret URL listing the due dates of the user's cards."""

from __future__ import annotations

import datetime as dt
import uuid

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth.policy import Actor
from orbitask.auth.security import digest, random_token
from orbitask.boards import bulk as boards_bulk
from orbitask.core.db import utcnow
from orbitask.core.errors import NotFound
from orbitask.core.uow import UnitOfWork, command
from orbitask.tasks import service as tasks
from orbitask.transfer.models import CalendarFeed

PAGE = 200
MAX_PAGES = 100  # at most 20,000 events in one feed
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FEED_PREFIX = "cal_"


@command
async def rotate_feed(uow: UnitOfWork, actor: Actor) -> tuple[str, dt.datetime]:
    """A new secret for the caller's feed (the old URL stops working); returns it once, stores only its hash."""
    raw = FEED_PREFIX + random_token(24)
    async with uow:
        row = await uow.session.get(CalendarFeed, actor.user_id)
        now = utcnow()
        if row is None:
            uow.session.add(CalendarFeed(user_id=actor.user_id, token_hash=digest(raw), created_at=now))
        else:
            row.token_hash, row.created_at = digest(raw), now
        await uow.commit()
    return raw, now


@command
async def revoke_feed(uow: UnitOfWork, actor: Actor) -> None:
    """Turn the caller's feed off (404 when there is none)."""
    async with uow:
        row = await uow.session.get(CalendarFeed, actor.user_id)
        if row is None:
            raise NotFound("You have no calendar feed.")
        await uow.session.delete(row)
        await uow.commit()


async def feed_status(session: AsyncSession, actor: Actor) -> dt.datetime | None:
    """When the caller's current feed URL was made (None: no feed)."""
    return await session.scalar(select(CalendarFeed.created_at).where(CalendarFeed.user_id == actor.user_id))


async def feed_owner(session: AsyncSession, raw: str) -> uuid.UUID:
    """The user a feed secret belongs to (404 for unknown or revoked secrets)."""
    user_id = await session.scalar(select(CalendarFeed.user_id).where(CalendarFeed.token_hash == digest(raw)))
    if user_id is None:
        raise NotFound("No such calendar feed; it may have been revoked or replaced.")
    return user_id


async def render_feed(session: AsyncSession, user_id: uuid.UUID) -> bytes:
    """The user's open and completed, unarchived assigned cards that have a due date, on boards they can see."""
    actor = Actor(user_id)
    cal = Calendar()
    cal.add("prodid", "-//Orbitask//Due dates//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Orbitask: my cards")
    cursor: str | None = None
    board_names: dict[uuid.UUID, str] = {}
    for _ in range(MAX_PAGES):
        cards, cursor = await tasks.my_tasks(session, actor, due_before=None, due_after=EPOCH, include_completed=True,
                                             cursor=cursor, limit=PAGE)
        missing = [c.board_id for c in cards if c.board_id not in board_names]
        board_names.update({b.id: b.name for b in await boards_bulk.boards_of(session, list(set(missing)))})
        for card in cards:
            assert card.due_at is not None
            event = Event()
            event.add("uid", f"{card.id}@orbitask")
            event.add("dtstamp", card.updated_at)
            event.add("last-modified", card.updated_at)
            event.add("dtstart", card.due_at)
            event.add("summary", ("✓ " if card.completed else "") + card.title)
            board = board_names.get(card.board_id, "")
            event.add("categories", [board] if board else [])
            event.add("description", f"Board: {board}\n\n{card.description[:2000]}".rstrip())
            event.add("status", "CONFIRMED")
            cal.add_component(event)
        if cursor is None:
            break
    return cal.to_ical()
