"""Events the Notification service emits.

They name no board (they are not board changes, so they take no board version) and no
card (they are not part of a card's activity); the hub routes `notification.*` events to
the sockets of `user_id` alone.
"""

from __future__ import annotations

import datetime as dt
import uuid

from orbitask.core.events import DomainEvent, event_type
from orbitask.notifications.schemas import NotificationRead


@event_type("notification.created")
class NotificationCreated(DomainEvent):
    user_id: uuid.UUID
    notification: NotificationRead
    unread_count: int


@event_type("notification.read")
class NotificationsRead(DomainEvent):
    user_id: uuid.UUID
    ids: list[uuid.UUID]  # empty with all=True
    all: bool
    read: bool
    unread_count: int


@event_type("reminder.due_soon")
class DueSoon(DomainEvent):
    user_id: uuid.UUID
    card_id: uuid.UUID
    board_id: uuid.UUID
    title: str
    due_at: dt.datetime
    offset_minutes: int


@event_type("reminder.overdue")
class Overdue(DomainEvent):
    user_id: uuid.UUID
    card_id: uuid.UUID
    board_id: uuid.UUID
    title: str
    due_at: dt.datetime


USER_EVENTS = frozenset({"notification.created", "notification.read"})
