"""Time-ordered identifiers (UUID version 7)."""

from __future__ import annotations

import uuid

import uuid_utils


def new_id() -> uuid.UUID:
    """A new UUIDv7: unique and sortable by creation time."""
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)
