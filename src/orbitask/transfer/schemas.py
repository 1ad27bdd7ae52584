"""Transfer request and response models."""

from __future__ import annotations

import datetime as dt
import uuid

from orbitask.core.schemas import Output


class ImportedBoardRead(Output):
    id: uuid.UUID
    name: str
    created: bool
    counts: dict[str, int]


class ImportResult(Output):
    boards: list[ImportedBoardRead]


class CalendarFeedCreated(Output):
    url: str
    created_at: dt.datetime


class CalendarFeedRead(Output):
    active: bool
    created_at: dt.datetime | None
