"""The reminder scheduler: due-soon and overdue events at each user's chosen offsets.

One runs per deployment (the `reminders` job holds a lease) in the writer region. Each
tick looks at open cards due within the largest offset anyone chose (or overdue by less
than OVERDUE_LOOKBACK) and, for each assignee (or each watcher of a card nobody is
assigned to), emits `reminder.due_soon` when the due date is nearer than one of their
offsets, and `reminder.overdue` once it has passed. A `reminder_sent` row per (card,
user, due date, offset) makes each fire once, also across restarts and lease handovers;
moving the due date arms them again. When several offsets have passed at once (a card
created due in 30 minutes), one reminder goes out, for the nearest.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.boards import service as boards
from orbitask.core.db import Database
from orbitask.core.events import outbox_row
from orbitask.notifications.events import DueSoon, Overdue
from orbitask.notifications.models import NotificationSettings, ReminderSent
from orbitask.notifications.schemas import DEFAULT_DUE_OFFSETS
from orbitask.notifications.service import user_settings
from orbitask.tasks import watching
from orbitask.tasks.watching import DueCard

OVERDUE_LOOKBACK = dt.timedelta(days=1)
MAX_OFFSET_MINUTES = 60 * 24 * 30


async def remind(db: Database, *, now: dt.datetime, region: str) -> int:
    """One scheduler tick at `now`; returns how many reminder events it emitted.

    Everything is worked out on a read session; the write transaction opens only when there is
    something to record. On SQLite there is one writer: a tick that held it while it checked
    hundreds of due cards (most already reminded) stalled every user's write behind it.
    """
    async with db.read_session(on_writer=True) as session:
        due = await _due(session, now)
    if not due:
        return 0
    emitted = 0
    async with db.write_transaction() as session:
        # the lease makes this the only scheduler; still, never record a reminder twice
        sent = await _sent(session, [card.id for card, _, _, _ in due])
        for card, user_id, passed, workspace_id in due:
            assert card.due_at is not None
            fresh = [o for o in passed if (card.id, user_id, card.due_at, o) not in sent]
            if not fresh:
                continue
            for offset in fresh:
                session.add(ReminderSent(card_id=card.id, user_id=user_id, due_at=card.due_at,
                                         offset_minutes=offset, sent_at=now))
            if card.due_at <= now:
                event = Overdue(user_id=user_id, card_id=card.id, board_id=card.board_id, title=card.title,
                                due_at=card.due_at)
            else:
                event = DueSoon(user_id=user_id, card_id=card.id, board_id=card.board_id, title=card.title,
                                due_at=card.due_at, offset_minutes=min(fresh))
            session.add(outbox_row(event, region=region, workspace_id=workspace_id))
            emitted += 1
    return emitted


async def _sent(session: AsyncSession, card_ids: list[uuid.UUID]) -> set[tuple[uuid.UUID, uuid.UUID, dt.datetime, int]]:
    """The reminders already recorded for these cards: (card, user, due date, offset)."""
    rows = await session.execute(
        select(ReminderSent.card_id, ReminderSent.user_id, ReminderSent.due_at, ReminderSent.offset_minutes)
        .where(ReminderSent.card_id.in_(card_ids))
    )
    return {(card_id, user_id, due_at, offset) for card_id, user_id, due_at, offset in rows.all()}


async def _due(session: AsyncSession, now: dt.datetime) -> list[tuple[DueCard, uuid.UUID, list[int], uuid.UUID]]:
    """(card, recipient, offsets that have passed and were not reminded yet, workspace) for this tick."""
    widest = max(DEFAULT_DUE_OFFSETS)
    for offsets in (await session.execute(select(NotificationSettings.due_offsets_minutes))).scalars():
        widest = max([widest, *offsets])
    cards = await watching.open_cards_due_between(
        session, now - OVERDUE_LOOKBACK, now + dt.timedelta(minutes=min(widest, MAX_OFFSET_MINUTES))
    )
    if not cards:
        return []
    chosen = await user_settings(session, list({u for c in cards for u in c.recipients}))
    sent = await _sent(session, [c.id for c in cards])
    pending = []  # almost always empty: every reminder of the window already went out in an earlier tick
    for card in cards:
        for user_id in card.recipients:
            offsets = [0] if card.due_at <= now else chosen[user_id].due_offsets_minutes
            passed = [o for o in offsets if card.due_at - dt.timedelta(minutes=o) <= now]
            if [o for o in passed if (card.id, user_id, card.due_at, o) not in sent]:
                pending.append((card, user_id, passed))
    if not pending:
        return []
    board_rows = await boards.boards_by_id(session, list({card.board_id for card, _, _ in pending}))
    can_see: dict[tuple[uuid.UUID, uuid.UUID], bool] = {}  # (board, user): many due cards share both
    due = []
    for card, user_id, passed in pending:
        board = board_rows.get(card.board_id)
        if board is None:
            continue
        key = (board.id, user_id)
        if key not in can_see:
            can_see[key] = await boards.role_on_board(session, board, user_id) is not None
        if can_see[key]:
            due.append((card, user_id, passed, board.workspace_id))
    return due
