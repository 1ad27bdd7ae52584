"""The transactional outbox: one `events` log feeding every consumer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from orbitask.core.db import Base, UTCDateTime, id_default, utcnow
from orbitask.core.ids import new_id


class Event(Base):
    """One row per domain event, written in the same transaction as the change."""

    __tablename__ = "event"
    __table_args__ = (
        Index("uq_event_board_version", "board_id", "board_version", unique=True),
        Index("ix_event_card_seq", "card_id", "seq"),
        Index("ix_event_workspace_seq", "workspace_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=id_default)
    workspace_id: Mapped[uuid.UUID | None]
    board_id: Mapped[uuid.UUID | None]
    board_version: Mapped[int | None] = mapped_column(BigInteger)
    card_id: Mapped[uuid.UUID | None]
    type: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[uuid.UUID | None]
    payload: Mapped[dict[str, Any]]
    region: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DomainEvent(BaseModel):
    """Base of every event payload; subclasses register a stable `type` name."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: ClassVar[str]


REGISTRY: dict[str, type[DomainEvent]] = {}
E = TypeVar("E", bound=type[DomainEvent])


def event_type(name: str):  # noqa: ANN201 - decorator
    """Register an event payload class under its wire name."""

    def register(cls: E) -> E:
        if name in REGISTRY:
            raise ValueError(f"event type {name!r} registered twice")
        cls.type = name
        REGISTRY[name] = cls
        return cls

    return register


def outbox_row(
    event: DomainEvent, *, region: str, actor_id: uuid.UUID | None = None, workspace_id: uuid.UUID | None = None,
    board_id: uuid.UUID | None = None, board_version: int | None = None, card_id: uuid.UUID | None = None,
) -> Event:
    """The `event` row for a domain event (add it to the session of the transaction it belongs to)."""
    return Event(**outbox_values(event, region=region, actor_id=actor_id, workspace_id=workspace_id,
                                 board_id=board_id, board_version=board_version, card_id=card_id))


def outbox_values(
    event: DomainEvent, *, region: str, actor_id: uuid.UUID | None = None, workspace_id: uuid.UUID | None = None,
    board_id: uuid.UUID | None = None, board_version: int | None = None, card_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The column values of an `event` row, for bulk inserts (`insert(Event)` with a list of them)."""
    return {
        "id": new_id(), "workspace_id": workspace_id, "board_id": board_id, "board_version": board_version,
        "card_id": card_id, "type": event.type, "actor_id": actor_id, "payload": event.model_dump(mode="json"),
        "region": region, "created_at": utcnow(),
    }


class EventRead(BaseModel):
    """An event as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seq: int
    type: str
    workspace_id: uuid.UUID | None
    board_id: uuid.UUID | None
    board_version: int | None
    card_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    payload: dict[str, Any]
    region: str
    created_at: dt.datetime
