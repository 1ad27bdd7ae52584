"""Notification tables: notifications, preferences, board watchers, e-mails, webhooks, reminders."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from orbitask.core.db import Base, UTCDateTime, id_default, long_text, utcnow


class Notification(Base):
    """Something a user should know about; one per (user, source event)."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("uq_notification_user_event", "user_id", "event_id", unique=True),
        Index("ix_notification_user_id", "user_id", "id"),
        Index("ix_notification_user_unread", "user_id", "read_at"),
        Index("ix_notification_email", "email_status", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=id_default)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(32))
    workspace_id: Mapped[uuid.UUID | None]
    board_id: Mapped[uuid.UUID | None]
    card_id: Mapped[uuid.UUID | None]
    actor_id: Mapped[uuid.UUID | None]
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(String(1000), default="")
    url: Mapped[str] = mapped_column(String(500), default="")
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)
    email_status: Mapped[str | None] = mapped_column(String(16))  # None, queued, digest, sent
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class NotificationPreference(Base):
    """A user's choice for one kind on one channel (absent: the default)."""

    __tablename__ = "notification_preference"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)


class NotificationSettings(Base):
    """A user's e-mail digest and reminder offsets (absent: the defaults)."""

    __tablename__ = "notification_settings"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    email_digest: Mapped[str] = mapped_column(String(16), default="off")
    due_offsets_minutes: Mapped[list[int]] = mapped_column(default=list)
    last_digest_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class BoardWatcher(Base):
    """A user who follows every card of a board (card watchers live with the cards)."""

    __tablename__ = "board_watcher"
    __table_args__ = (Index("ix_board_watcher_user", "user_id"),)

    board_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("board.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmailMessage(Base):
    """An e-mail to send (the mail outbox); bodies are dropped once sent."""

    __tablename__ = "email_message"
    __table_args__ = (Index("ix_email_message_due", "status", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=id_default)
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    to_addr: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(long_text())
    html_body: Mapped[str] = mapped_column(long_text())
    headers: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Webhook(Base):
    """A subscription of a URL to a workspace's (or one board's) events."""

    __tablename__ = "webhook"
    __table_args__ = (Index("ix_webhook_workspace", "workspace_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=id_default)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    board_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("board.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    event_types: Mapped[list[str]]
    description: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One event for one webhook: pending until delivered, or dead after the last attempt."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("uq_webhook_delivery_event", "webhook_id", "event_id", unique=True),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=id_default)
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, succeeded, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ReminderSent(Base):
    """A reminder already sent: (card, user, due date, offset) fires once."""

    __tablename__ = "reminder_sent"

    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("card.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    offset_minutes: Mapped[int] = mapped_column(Integer, primary_key=True)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
