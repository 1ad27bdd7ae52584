"""Events the transfer service emits."""

from __future__ import annotations

import uuid

from orbitask.core.events import DomainEvent, event_type


@event_type("board.imported")
class BoardImported(DomainEvent):
    """A board was filled (or refreshed) from an export in one go: clients reload its snapshot.

    One event for the whole import, not one per card: a 50,000-card board would otherwise
    write 50,000 outbox rows and push as many messages to every open socket.
    """

    board_id: uuid.UUID
    source: str
    created: bool
    counts: dict[str, int]
