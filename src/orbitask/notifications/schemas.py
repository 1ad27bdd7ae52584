"""Notification API input and output."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, StringConstraints

from orbitask.core.schemas import Input, Output

KINDS = ("mentioned", "assigned", "comment", "card_changed", "due_soon", "overdue")
CHANNELS = ("in_app", "email")
Kind = Literal["mentioned", "assigned", "comment", "card_changed", "due_soon", "overdue"]
# what a user gets before choosing: everything in the app; e-mail for what is addressed to them
DEFAULT_EMAIL = frozenset({"mentioned", "assigned", "due_soon", "overdue"})
DEFAULT_DUE_OFFSETS = [1440, 60]
Digest = Literal["off", "hourly", "daily"]


class NotificationRead(Output):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    url: str
    workspace_id: uuid.UUID | None
    board_id: uuid.UUID | None
    card_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    event_id: uuid.UUID
    created_at: dt.datetime
    read_at: dt.datetime | None


class NotificationPage(Output):
    items: list[NotificationRead]
    next_cursor: str | None
    unread_count: int


class UnreadCount(Output):
    unread_count: int


class MarkRead(Input):
    ids: list[uuid.UUID] = Field(default_factory=list, max_length=500, description="empty: use `all`")
    all: bool = Field(False, description="mark every notification (read=true only)")
    read: bool = True


class ChannelChoice(Output):
    in_app: bool
    email: bool


class ChannelUpdate(Input):
    in_app: bool | None = None
    email: bool | None = None


class PreferencesRead(Output):
    kinds: dict[str, ChannelChoice]
    email_digest: Digest
    due_offsets_minutes: list[int]
    email_enabled: bool = Field(description="whether this server sends e-mail at all")


class PreferencesUpdate(Input):
    kinds: dict[Kind, ChannelUpdate] = Field(default_factory=dict)
    email_digest: Digest | None = None
    due_offsets_minutes: list[Annotated[int, Field(ge=0, le=60 * 24 * 30)]] | None = Field(
        None, max_length=5, description="minutes before a due date to remind (0: at the due time); at most 5"
    )


class WatchState(Output):
    watching: bool


EventPattern = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z_]+(\.[a-z_*]+)?$|^\*$")]


class WebhookCreate(Input):
    url: AnyHttpUrl
    board_id: uuid.UUID | None = None
    event_types: list[EventPattern] = Field(["*"], min_length=1, max_length=50,
                                            description="event types, `card.*` style prefixes, or `*`")
    description: Annotated[str, StringConstraints(max_length=200)] = ""


class WebhookUpdate(Input):
    url: AnyHttpUrl | None = None
    event_types: list[EventPattern] | None = Field(None, min_length=1, max_length=50)
    description: Annotated[str, StringConstraints(max_length=200)] | None = None
    active: bool | None = None


class WebhookRead(Output):
    id: uuid.UUID
    workspace_id: uuid.UUID
    board_id: uuid.UUID | None
    url: str
    event_types: list[str]
    description: str
    active: bool
    created_at: dt.datetime
    secret: str | None = Field(None, description="the signing secret: present only in the create response")


class WebhookPage(Output):
    items: list[WebhookRead]
    next_cursor: str | None


class DeliveryRead(Output):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class DeliveryPage(Output):
    items: list[DeliveryRead]
    next_cursor: str | None
