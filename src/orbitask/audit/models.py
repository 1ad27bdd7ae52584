"""The audit table. No foreign keys: entries outlive the users, workspaces and tokens they name."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from orbitask.core.db import Base, UTCDateTime, id_default, utcnow


class AuditEntry(Base):
    """One security-relevant event: who did what to what, from where, when."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_workspace", "workspace_id", "id"),
        Index("ix_audit_log_actor", "actor_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=id_default)  # time-ordered
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
