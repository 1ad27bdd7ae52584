"""The `notifications` consumer: turns events into in-app notifications and e-mails.

Who hears about what:
  mentioned     the users a new comment @mentions
  assigned      a user assigned to a card (on creation or later)
  comment       watchers of the card (or its board) when someone comments
  card_changed  watchers of the card (or its board) when it is created, changed or moved
  due_soon      assignees (else watchers) at each of their reminder offsets (from the scheduler)
  overdue       the same, once the due date has passed
Nobody is notified of their own action, nor about a board they can no longer see; one
event gives a user at most one notification (the most specific kind).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth import service as auth_service
from orbitask.boards import service as boards
from orbitask.config import Settings
from orbitask.core.db import utcnow
from orbitask.core.events import Event, outbox_values
from orbitask.core.ids import new_id
from orbitask.notifications import email, events
from orbitask.notifications.models import Notification
from orbitask.notifications.schemas import NotificationRead
from orbitask.notifications.service import board_watcher_ids, preference_table, unread_counts, user_settings
from orbitask.tasks import watching
from orbitask.tasks.watching import WatchedCard

CHANGE_EVENTS = {
    "card.updated": "changed {what} of", "card.moved": "moved", "card.label_added": "labelled",
    "card.label_removed": "changed the labels of", "checklist.created": "added a checklist to",
    "checklist_item.created": "added a checklist item to", "checklist_item.updated": "updated a checklist item of",
    "checklist_item.deleted": "removed a checklist item from",
}
HANDLED = {"comment.created", "card.created", "card.assignee_added", "reminder.due_soon", "reminder.overdue",
           *CHANGE_EVENTS}
PRIORITY = ["mentioned", "assigned", "overdue", "due_soon", "comment", "card_changed"]
EXCERPT = 280


@dataclass
class Plan:
    """A notification to write, before access and preference checks."""

    event: Event
    user_id: uuid.UUID
    kind: str
    card: WatchedCard | None
    title: str
    body: str = ""


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def _in(minutes: int) -> str:
    if minutes <= 0:
        return "now"
    for unit, size in (("day", 1440), ("hour", 60), ("minute", 1)):
        if minutes % size == 0 or unit == "minute":
            n = minutes // size
            return f"in {n} {unit}{'s' if n != 1 else ''}"
    return f"in {minutes} minutes"


def card_link(public_url: str, board_id: uuid.UUID, card_id: uuid.UUID | None) -> str:
    """The web app's address of a card (its board when there is none): /b/<board>/c/<card> opens its dialog."""
    return f"{public_url}/b/{board_id}/c/{card_id}" if card_id else f"{public_url}/b/{board_id}"


def _card_id(event: Event) -> uuid.UUID | None:
    if event.card_id is not None:
        return event.card_id
    raw = event.payload.get("card_id")
    return uuid.UUID(raw) if raw else None


def plans_for(event: Event, card: WatchedCard | None, actor: str, board_watchers: list[uuid.UUID]) -> list[Plan]:
    """The notifications one event calls for (before access, preferences and de-duplication)."""
    p = event.payload
    if event.type in ("reminder.due_soon", "reminder.overdue"):
        user = uuid.UUID(p["user_id"])
        if event.type == "reminder.overdue":
            return [Plan(event, user, "overdue", card, f"“{p['title']}” is overdue")]
        return [Plan(event, user, "due_soon", card, f"“{p['title']}” is due {_in(p['offset_minutes'])}")]
    if card is None:
        return []  # the card is gone already
    # watchers when the event happened, where the event says (card changes); else as they are now
    at_event = [uuid.UUID(u) for u in p["card"]["watcher_ids"]] if "card" in p else card.watcher_ids
    watchers = list(dict.fromkeys([*at_event, *board_watchers]))
    name = f"“{card.title}”"
    if event.type == "comment.created":
        body = _excerpt(p["comment"]["body"])
        out = [Plan(event, uuid.UUID(u), "mentioned", card, f"{actor} mentioned you on {name}", body)
               for u in p["comment"].get("mentions", [])]
        return out + [Plan(event, u, "comment", card, f"{actor} commented on {name}", body) for u in watchers]
    if event.type == "card.assignee_added":
        return [Plan(event, uuid.UUID(p["user_id"]), "assigned", card, f"{actor} assigned you to {name}")]
    if event.type == "card.created":
        assigned = [Plan(event, uuid.UUID(u), "assigned", card, f"{actor} assigned you to {name}")
                    for u in p["card"].get("assignee_ids", [])]
        return assigned + [Plan(event, u, "card_changed", card, f"{actor} added {name}") for u in board_watchers]
    verb = CHANGE_EVENTS[event.type].format(what=", ".join(c.replace("_", " ") for c in p.get("changes", [])))
    return [Plan(event, u, "card_changed", card, f"{actor} {verb} {name}") for u in watchers]


@dataclass
class Prepared:
    """What a batch writes: its notifications, and the e-mails to queue (note, address, name)."""

    notes: list[Notification]
    mails: list[tuple[Notification, str, str]]


class NotificationConsumer:
    """The handler the `notifications` event consumer calls with each batch.

    In two phases: `prepare` reads (cards, watchers, preferences, access) on a read session and
    `write` writes, so that on SQLite the single writer is held only for the inserts (reading a
    batch inside the write transaction held it for tens of milliseconds, which users' writes waited
    out: docs/benchmarks.md).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __call__(self, session: AsyncSession, batch: list[Event]) -> None:
        """Both phases on one session."""
        prepared = await self.prepare(session, batch)
        if prepared is not None:
            await self.write(session, prepared)

    async def prepare(self, session: AsyncSession, batch: list[Event]) -> Prepared | None:
        """The batch's notifications and e-mails, from reads only; None when there are none."""
        relevant = [e for e in batch if e.type in HANDLED]
        if not relevant:
            return None
        cards = await watching.watched_cards(session, [c for e in relevant if (c := _card_id(e)) is not None])
        board_ids = {c.board_id for c in cards.values()} | {
            uuid.UUID(e.payload["board_id"]) for e in relevant if e.payload.get("board_id")}
        board_rows = await boards.boards_by_id(session, list(board_ids))
        watchers = await board_watcher_ids(session, list(board_ids))
        actors = await auth_service.users_brief(session, [e.actor_id for e in relevant if e.actor_id])
        plans: list[Plan] = []
        for event in relevant:
            card = cards.get(_card_id(event)) if _card_id(event) else None
            actor = actors[event.actor_id].name if event.actor_id in actors else "Someone"
            found = plans_for(event, card, actor, watchers.get(card.board_id, []) if card else [])
            best: dict[uuid.UUID, Plan] = {}
            for plan in found:
                if plan.user_id == event.actor_id:
                    continue
                if plan.user_id not in best or PRIORITY.index(plan.kind) < PRIORITY.index(best[plan.user_id].kind):
                    best[plan.user_id] = plan
            plans.extend(best.values())
        if not plans:
            return None
        return await self._notes(session, plans, board_rows)

    async def _notes(self, session: AsyncSession, plans: list[Plan], board_rows: dict[uuid.UUID, Any]) -> Prepared | None:
        user_ids = list({p.user_id for p in plans})
        users = await auth_service.users_brief(session, user_ids)
        prefs = await preference_table(session, user_ids)
        chosen = await user_settings(session, user_ids)
        access: dict[tuple[uuid.UUID, uuid.UUID], bool] = {}
        mail = self.settings.smtp_host is not None
        prepared = Prepared([], [])
        for plan in plans:
            board_id = plan.card.board_id if plan.card else uuid.UUID(plan.event.payload["board_id"])
            board = board_rows.get(board_id)
            if plan.user_id not in users or board is None:
                continue
            key = (board_id, plan.user_id)
            if key not in access:
                access[key] = await boards.role_on_board(session, board, plan.user_id) is not None
            in_app, by_mail = prefs[plan.user_id][(plan.kind, "in_app")], prefs[plan.user_id][(plan.kind, "email")]
            if not access[key] or not (in_app or (by_mail and mail)):
                continue
            card_id = plan.card.id if plan.card else _card_id(plan.event)
            note = Notification(
                id=new_id(), user_id=plan.user_id, event_id=plan.event.id, kind=plan.kind,
                workspace_id=plan.event.workspace_id or board.workspace_id, board_id=board_id, card_id=card_id,
                actor_id=plan.event.actor_id, title=plan.title[:300], body=plan.body,
                url=card_link(self.settings.public_url, board_id, card_id), in_app=in_app,
                email_status=None, created_at=utcnow(), read_at=None,
            )
            prepared.notes.append(note)
            if by_mail and mail:
                if chosen[plan.user_id].email_digest == "off":
                    note.email_status = "queued"
                    prepared.mails.append((note, users[plan.user_id].email, users[plan.user_id].name))
                else:
                    note.email_status = "digest"
        return prepared if prepared.notes else None

    async def write(self, session: AsyncSession, prepared: Prepared) -> None:
        """Insert the notifications, queue their e-mails, announce them to the users' sockets."""
        notes = prepared.notes
        for note, to, name in prepared.mails:
            email.queue_notification(session, self.settings, note, to=to, name=name)
        # bulk inserts (no ORM bookkeeping, no RETURNING): a batch writes thousands of rows
        await session.execute(insert(Notification), [_values(n) for n in notes])
        counts = await unread_counts(session, list({n.user_id for n in notes if n.in_app}))
        announcements = [
            outbox_values(
                events.NotificationCreated(user_id=n.user_id, notification=NotificationRead.model_validate(n),
                                           unread_count=counts.get(n.user_id, 0)),
                region=self.settings.region, actor_id=n.actor_id, workspace_id=n.workspace_id,
            )
            for n in notes if n.in_app
        ]
        if announcements:
            await session.execute(insert(Event), announcements)


def _values(row: Any) -> dict[str, Any]:
    """Column values of an ORM object, for a bulk insert."""
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}
