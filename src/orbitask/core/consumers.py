"""Consumers of the `event` log: a cursor per consumer in the database, each event handled once.

A consumer's `handle` runs in the same write transaction that moves its cursor, so what
it writes (notifications, e-mails to send, webhook deliveries) and the cursor commit
together: a worker killed mid-stream resumes after the last committed batch, losing and
repeating nothing. The cursor row carries a version; the update is conditional on it,
so two processes that both believe they hold the lease cannot both apply a batch.

Sequence numbers can commit out of order on server databases. As in the relay, the
consumer holds the line at a gap for a bounded time, then moves on and remembers the
skipped numbers (in the cursor row, so a restart keeps them) for a while, handling each
one if it commits late.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import structlog
from sqlalchemy import BigInteger, String, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from orbitask.core.db import Base, Database, UTCDateTime, utcnow
from orbitask.core.events import Event
from orbitask.core.prepared import Prepared
from orbitask.core.sqlite import ChangeCounter

log = structlog.get_logger("orbitask.consumers")

GAP_HOLD_S = 0.5
LATE_WINDOW_S = 60.0
BATCH = 200
START_WINDOW = dt.timedelta(hours=1)
MAX_REMEMBERED_GAP = 1000

Handler = Callable[[AsyncSession, list[Any]], Awaitable[None]]
# of these workspaces, those a consumer wants the events of
WorkspaceFilter = Callable[[AsyncSession, set[uuid.UUID]], Awaitable[set[uuid.UUID]]]


@runtime_checkable
class TwoPhaseHandler(Protocol):
    """A handler whose reads run outside the write transaction (SQLite's single writer is not
    held meanwhile): `prepare` on a read session, then `write` what it prepared (skipped for None)."""

    async def prepare(self, session: AsyncSession, events: list[Any]) -> Any: ...

    async def write(self, session: AsyncSession, prepared: Any) -> None: ...


class ConsumerCursor(Base):
    """Where a consumer stands in the event log."""

    __tablename__ = "consumer_cursor"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped: Mapped[dict[str, Any]]  # seq (as text) -> epoch seconds when it was skipped
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CursorMoved(Exception):
    """Another process moved the cursor: this batch was rolled back."""


_HEADS = Prepared(select(Event.seq, Event.type, Event.workspace_id).where(Event.seq > bindparam("after"))
                  .order_by(Event.seq).limit(bindparam("limit")))
_LATE = Prepared(select(Event.seq, Event.type, Event.workspace_id).where(Event.seq.in_(bindparam("seqs", expanding=True)))
                 .order_by(Event.seq))
_EVENTS = Prepared(select(*Event.__table__.c).where(Event.seq.in_(bindparam("seqs", expanding=True))))
_LOCK = Prepared(select(ConsumerCursor.version).where(ConsumerCursor.name == bindparam("name")).with_for_update())
_MOVE = Prepared(update(ConsumerCursor).where(  # SET: the columns given
    ConsumerCursor.name == bindparam("cursor_name"), ConsumerCursor.version == bindparam("was")))


@dataclass(slots=True)
class _Position:
    """A consumer's cursor as this process last read or wrote it."""

    seq: int
    version: int
    skipped: dict[int, float]  # seq -> epoch seconds when it was skipped


class EventConsumer:
    """Feeds committed events, in sequence order and each once, to `handle`.

    `handle` gets the events as rows of the `event` table (the columns as attributes, as on `Event`).
    `types`: the event types it wants (None: all); `workspaces`: which of the workspaces it is given
    it wants events of (None: all). The events it does not want only move the cursor, unread.
    """

    def __init__(
        self, db: Database, name: str, handle: Handler, *, batch: int = BATCH,
        start: Literal["recent", "head", "beginning"] = "recent",
        gap_hold_s: float = GAP_HOLD_S, late_window_s: float = LATE_WINDOW_S, types: set[str] | None = None,
        workspaces: WorkspaceFilter | None = None,
    ) -> None:
        self.db = db
        self.name = name
        self.handle = handle
        self._two_phase = handle if isinstance(handle, TwoPhaseHandler) else None
        self.batch = batch
        self.start = start  # where a consumer that has no cursor yet begins (see _start_point)
        self.gap_hold_s = gap_hold_s
        self.types = types
        self.workspaces = workspaces
        self.late_window_s = late_window_s
        self._gap_since: float | None = None
        # on SQLite: an idle consumer skips its reads while nobody has committed (core/sqlite.py)
        self.changes = ChangeCounter(db.sqlite_file) if db.sqlite_file else None
        self._caught_up = False  # the last step handled everything there was, with nothing held or skipped
        # the cursor as this process last committed it: not read again before every step (a cursor
        # another process moved meanwhile fails the conditional update, and is read again then)
        self._position: _Position | None = None

    async def _state(self) -> _Position:
        async with self.db.read_session(on_writer=True) as session:
            row = await session.get(ConsumerCursor, self.name)
            if row is not None:
                return _Position(row.seq, row.version, {int(k): float(v) for k, v in (row.skipped or {}).items()})
            head = await self._start_point(session)
        try:
            async with self.db.write_transaction() as session:
                session.add(ConsumerCursor(name=self.name, seq=head, version=0, skipped={}, updated_at=utcnow()))
        except IntegrityError:
            pass  # another process created it
        return await self._state()

    async def _start_point(self, session: AsyncSession) -> int:
        """Where a new consumer starts: by default before the events of the last START_WINDOW, else at the head.

        Not at the head: events written between a deployment's migration and its first worker
        would be missed. Not at the beginning: an old database would flood people with history.
        """
        if self.start == "beginning":  # before the oldest event (sequences need not start at 1)
            oldest = await session.scalar(select(func.min(Event.seq)))
            return int(oldest) - 1 if oldest is not None else 0
        recent = None if self.start == "head" else await session.scalar(
            select(func.min(Event.seq)).where(Event.created_at >= utcnow() - START_WINDOW)
        )
        if recent is not None:
            return int(recent) - 1
        return int(await session.scalar(select(func.coalesce(func.max(Event.seq), 0))) or 0)

    async def step(self) -> int:
        """Handle what is ready; returns how many events were handled."""
        changed = self.changes is None or self.changes.changed()  # read before the reads below
        if not changed and self._caught_up:
            return 0
        self._caught_up = False
        state = self._position or await self._state()
        self._position = None  # until this step commits
        skipped = dict(state.skipped)
        async with self.db.read_session(on_writer=True) as session:
            # sequence numbers, types and workspaces only: the payloads of events this consumer ignores stay unread
            rows = await _HEADS.all(session, {"after": state.seq, "limit": self.batch})
            late = await _LATE.all(session, {"seqs": list(skipped)}) if skipped else []
            ready = list(late)
            for head in late:
                skipped.pop(head.seq)
            now = time.time()
            cursor = state.seq
            for head in rows:
                if head.seq != cursor + 1:
                    self._gap_since = self._gap_since or time.monotonic()
                    if time.monotonic() - self._gap_since < self.gap_hold_s:
                        break  # a lower sequence may still commit: wait a moment
                    if head.seq - cursor <= MAX_REMEMBERED_GAP:  # wider: not transactions in flight
                        for missing in range(cursor + 1, head.seq):
                            skipped[missing] = now
                    log.info("consumer_gap_skipped", consumer=self.name, first=cursor + 1, last=head.seq - 1)
                self._gap_since = None
                ready.append(head)
                cursor = head.seq
            wanted = [head for head in ready if self.types is None or head.type in self.types]
            if self.workspaces is not None and wanted:
                chosen = await self.workspaces(session, {h.workspace_id for h in wanted if h.workspace_id is not None})
                wanted = [head for head in wanted if head.workspace_id in chosen]
            events: list[Any] = []
            prepared = None
            if wanted:
                found = {e.seq: e for e in await _EVENTS.all(session, {"seqs": [head.seq for head in wanted]})}
                events = [found[head.seq] for head in wanted]
                if self._two_phase is not None:  # its reads outside the write transaction
                    prepared = await self._two_phase.prepare(session, events)
        expired = [seq for seq, t in skipped.items() if now - t >= self.late_window_s]
        for seq in expired:
            del skipped[seq]
        done = len(rows) < self.batch and self._gap_since is None and not skipped
        if not ready and not expired:
            self._position = state
            self._caught_up = done
            return 0
        try:
            async with self.db.write_transaction() as session:
                # lock the cursor first: a second process waits here, then sees it moved and backs off
                if await _LOCK.scalar(session, {"name": self.name}) != state.version:
                    raise CursorMoved(self.name)
                if self._two_phase is not None:
                    if prepared is not None:
                        await self._two_phase.write(session, prepared)
                elif events:
                    await self.handle(session, events)
                moved = await _MOVE.run(session, {
                    "cursor_name": self.name, "was": state.version, "seq": cursor, "version": state.version + 1,
                    "updated_at": utcnow(), "skipped": {str(k): v for k, v in skipped.items()},
                })
                if moved != 1:
                    raise CursorMoved(self.name)
        except CursorMoved:
            log.warning("consumer_cursor_moved", consumer=self.name)
            return 0
        self._position = _Position(cursor, state.version + 1, skipped)
        self._caught_up = done
        return len(ready)

    async def drain(self, limit: int = 10_000) -> int:
        """Step until the log is handled up to its head (bounded); returns how many events were handled."""
        total = 0
        for _ in range(limit):
            handled = await self.step()
            total += handled
            if not handled:
                if self._gap_since is None:
                    return total
                await asyncio.sleep(0.01)  # holding at a gap, for at most gap_hold_s
        return total
