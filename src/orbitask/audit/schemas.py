"""Audit API shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from orbitask.core.schemas import Output


class AuditEntryRead(Output):
    id: uuid.UUID
    at: dt.datetime
    workspace_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    action: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    request_id: str | None
    region: str
    detail: dict[str, Any]


class AuditPage(Output):
    items: list[AuditEntryRead]
    next_cursor: str | None
