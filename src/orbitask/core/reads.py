"""Read sessions that honour a client's consistency token (read-your-writes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.core.db import Database
from orbitask.core.events import Event
from orbitask.core.observability import READ_FALLBACK, READ_WAIT
from orbitask.core.tokens import ConsistencyToken

_FIRST_POLL_S = 0.002
_MAX_POLL_S = 0.05


async def replica_has(db: Database, token: ConsistencyToken) -> bool:
    """Whether the reader already holds the event named by `token`."""
    async with db.read_session() as session:
        found = await session.execute(select(Event.seq).where(Event.seq == token.seq, Event.id == token.event_id))
        return found.first() is not None


async def wait_for_replica(db: Database, token: ConsistencyToken, timeout: float) -> bool:
    """Wait (at most `timeout` s) until the reader holds `token`'s event; False if it never did."""
    started = time.monotonic()
    delay = _FIRST_POLL_S
    while True:
        if await replica_has(db, token):
            READ_WAIT.observe(time.monotonic() - started)
            return True
        remaining = timeout - (time.monotonic() - started)
        if remaining <= 0:
            READ_WAIT.observe(time.monotonic() - started)
            READ_FALLBACK.inc()
            return False
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, _MAX_POLL_S)


class ReplicaBehind(Exception):
    """The local replica did not reach the client's token in time and no writer is reachable from here.

    In a reader region of a multi-region deployment the region-forwarding middleware answers
    it by sending the read, whole, to the writer region (one hop).
    """


@asynccontextmanager
async def consistent_read(db: Database, token: ConsistencyToken | None, timeout: float) -> AsyncIterator[AsyncSession]:
    """A read session on the reader once it has caught up with `token`, else on the writer."""
    on_writer = False
    if token is not None and db.replica:
        on_writer = not await wait_for_replica(db, token, timeout)
        if on_writer and not db.split:
            raise ReplicaBehind()
    async with db.read_session(on_writer=on_writer) as session:
        yield session
