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

from sqlalchemy import select

from orbitask.boards import service as boards
from orbitask.core.db import Database
from orbitask.core.events import outbox_row
from orbitask.notifications.events import DueSoon, Overdue
from orbitask.notifications.models import NotificationSettings, ReminderSent
from orbitask.notifications.schemas import DEFAULT_DUE_OFFSETS
from orbitask.notifications.service import user_settings
from orbitask.tasks import watching

OVERDUE_LOOKBACK = dt.timedelta(days=1)
MAX_OFFSET_MINUTES = 60 * 24 * 30


async def remind(db: Database, *, now: dt.datetime, region: str) -> int:
    """One scheduler tick at `now`; returns how many reminder events it emitted."""
    emitted = 0
    async with db.write_transaction() as session:
        widest = max(DEFAULT_DUE_OFFSETS)
        for offsets in (await session.execute(select(NotificationSettings.due_offsets_minutes))).scalars():
            widest = max([widest, *offsets])
        cards = await watching.open_cards_due_between(
            session, now - OVERDUE_LOOKBACK, now + dt.timedelta(minutes=min(widest, MAX_OFFSET_MINUTES))
        )
        if not cards:
            return 0
        recipients = {c.id: list(c.assignee_ids or c.watcher_ids) for c in cards}
        chosen = await user_settings(session, list({u for users in recipients.values() for u in users}))
        sent = {(r.card_id, r.user_id, r.due_at, r.offset_minutes) for r in (await session.execute(
            select(ReminderSent).where(ReminderSent.card_id.in_([c.id for c in cards]))
        )).scalars()}
        board_rows = await boards.boards_by_id(session, list({c.board_id for c in cards}))
        for card in cards:
            board = board_rows.get(card.board_id)
            assert card.due_at is not None
            for user_id in recipients[card.id]:
                if board is None or await boards.role_on_board(session, board, user_id) is None:
                    continue
                offsets = [0] if card.due_at <= now else chosen[user_id].due_offsets_minutes
                passed = [o for o in offsets if card.due_at - dt.timedelta(minutes=o) <= now]
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
                session.add(outbox_row(event, region=region, workspace_id=board.workspace_id))
                emitted += 1
    return emitted

