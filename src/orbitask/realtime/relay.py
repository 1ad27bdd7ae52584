"""The relay: tails the `event` outbox on the region's reader and publishes to the region's bus.

Sequence numbers can commit out of order on server databases (a transaction that took
seq 10 may commit after the one that took seq 11). The relay does not wait at such a gap:
it publishes what has committed and keeps looking for the skipped numbers for LATE_WINDOW_S
so a late commit is still published. Order within a board is safe without waiting: every
board event is written under the board's row lock, so a board's events commit (and
replicate) in board-version order, and a seq gap always belongs to another board or to a
transaction that rolled back. Listeners order by board version and dedupe by event id.
(Waiting at gaps used to cost up to GAP_HOLD_S per gap: with semi-sync, out-of-order commits
are frequent and the wait showed up as realtime latency in the lab drill.)

The cursor only moves past an event once the bus took it. When the lease is lost (Redis
down, or another process took over) and later regained, the relay resumes from its own
cursor if that is at most RESUME_LIMIT events behind the head (events written during a
Redis outage are published when it returns; a few duplicates are deduped by listeners),
else from the head. A relay that takes the lease without a cursor of its own (a process that
never held it: after a Redis restart any process may win) starts TAKEOVER_REPLAY_S back from
the head, not at it: events committed while nobody held the lease would otherwise never be
published, and a listener that had already caught up from the log would miss them. (Listeners
drop what they have already sent.)

A failing database or bus is retried with a bounded, jittered backoff (RETRY_MIN_S to
RETRY_MAX_S) instead of at the poll's pace, and logged once when lost and once when back
(core/backoff.py); the healthy path keeps its POLL_INTERVAL_S pacing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import orjson
import structlog
from sqlalchemy import bindparam, func, select

from orbitask.core.backoff import Backoff, Outage
from orbitask.core.bus import Bus
from orbitask.core.db import Database, utcnow
from orbitask.core.events import Event, EventRead
from orbitask.core.observability import RELAY_LAG, RELAY_PUBLISHED
from orbitask.core.prepared import Prepared
from orbitask.core.sqlite import ChangeCounter

log = structlog.get_logger("orbitask.relay")

POLL_INTERVAL_S = 0.02
GAP_HOLD_S = 0.0  # how long to hold the line at a gap; see the module docstring for why 0
LATE_WINDOW_S = 10.0
BATCH = 500
SEEN_IDS = 10_000
RESUME_LIMIT = 10_000
TAKEOVER_REPLAY_S = 30.0
RETRY_MIN_S = 0.1  # after a failed step: the first wait, doubling (jittered) up to ...
RETRY_MAX_S = 5.0  # ... this, which bounds how late live updates resume after an outage


class Lease(Protocol):
    """Who may run the region's relay."""

    async def hold(self) -> bool:
        """Take or renew the lease; True while this process holds it."""
        ...


class ProcessLease:
    """Always held: with an in-process bus every process relays to its own sockets."""

    async def hold(self) -> bool:
        """Always True."""
        return True


class RedisLease:
    """A Redis key with a TTL, renewed by its holder; fails closed when Redis is down.

    A renewal is trusted for a third of the TTL, and while another process holds the key it is
    asked for again only as often: the relay polls every 20 ms in every process, and a Redis
    round trip per poll was a visible share of an API node's CPU. A holder that dies is replaced
    within the TTL plus a third of it.
    """

    RENEW = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then "
        "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
    )

    def __init__(self, redis: object, key: str, ttl_ms: int = 3000) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = ttl_ms
        self.owner = uuid.uuid4().hex
        self._valid_until = 0.0  # monotonic time until which our last renewal is trusted
        self._next_try = 0.0  # while another process holds it (or Redis is down), when to ask again
        self.outage = Outage(log, loop="relay-lease", what="redis",
                             backoff=Backoff(min_s=ttl_ms / 3000, max_s=max(ttl_ms / 3000, RETRY_MAX_S)))

    async def hold(self) -> bool:
        """Renew if ours, else try to take it (at most every third of the TTL either way)."""
        now = time.monotonic()
        if now < self._valid_until:
            return True
        if now < self._next_try:
            return False
        try:
            held = bool(
                await self.redis.eval(self.RENEW, 1, self.key, self.owner, self.ttl_ms)  # type: ignore[attr-defined]
                or await self.redis.set(self.key, self.owner, nx=True, px=self.ttl_ms)  # type: ignore[attr-defined]
            )
        except Exception as exc:
            self._valid_until, self._next_try = 0.0, now + self.outage.failed(exc)
            return False
        self.outage.ok()
        third = self.ttl_ms / 3000
        self._valid_until = now + third if held else 0.0
        self._next_try = 0.0 if held else now + third
        return held


# built once, plain rows (no ORM objects): the relay polls every few milliseconds in every process
_AFTER = Prepared(select(*Event.__table__.c).where(Event.seq > bindparam("cursor")).order_by(Event.seq).limit(BATCH))
_SEQS = select(*Event.__table__.c).where(Event.seq.in_(bindparam("seqs", expanding=True)))
# the oldest of the newest events (at most RESUME_LIMIT, found by seq) committed since `since`
_REPLAY_FROM = select(func.min(Event.seq)).where(Event.seq > bindparam("head"), Event.created_at >= bindparam("since"))


class Relay:
    """Publishes every committed event once, in sequence order, to `channel`."""

    def __init__(self, db: Database, bus: Bus, channel: str, lease: Lease) -> None:
        self.db = db
        self.bus = bus
        self.channel = channel
        self.lease = lease
        # on SQLite: skip the poll's query while nobody has committed since the last empty one
        self.changes = ChangeCounter(db.sqlite_file) if db.sqlite_file else None
        self.cursor: int | None = None
        self.holding = False
        self._gap_since: float | None = None
        self._late: dict[int, float] = {}  # skipped seq -> when we gave up waiting in line for it
        self._seen: OrderedDict[uuid.UUID, None] = OrderedDict()
        self._caught_up = False  # the last step published everything there was (no gap, bus up)
        self.refused = False  # the last step's publish was refused by the bus
        self.outage = Outage(log, loop="relay", backoff=Backoff(min_s=RETRY_MIN_S, max_s=RETRY_MAX_S))
        self.bus_outage = Outage(log, loop="relay", what="bus", backoff=Backoff(min_s=RETRY_MIN_S, max_s=RETRY_MAX_S))

    async def run(self) -> None:
        """Relay until cancelled; failures are retried with backoff and logged once per outage."""
        while True:
            try:
                if await self.lease.hold():
                    if not self.holding:
                        self.cursor = await self._resume_point()
                        self.holding = True
                        self._caught_up = False
                    # read before the query, so that a commit during a step is seen at the next look
                    changed = self.changes is None or self.changes.changed()
                    published = await self.step() if changed or not self._caught_up or self._late else 0
                    self.outage.ok()
                else:
                    self.holding = self.refused = False  # someone else relays, or Redis is down
                    published = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await asyncio.sleep(self.outage.failed(exc))
                continue
            if self.refused:  # the bus is down (it logs why): retry with backoff, not at the poll's pace
                await asyncio.sleep(self.bus_outage.failed("publish refused"))
                continue
            if self.holding:
                self.bus_outage.ok()
            if not published or self._caught_up:
                # after a step that published everything it read, wait for the next poll too: under
                # load someone has always committed since, and stepping again at once read a batch of
                # one event per step (a read session each) instead of the poll interval's worth
                await asyncio.sleep(POLL_INTERVAL_S)

    async def _resume_point(self) -> int:
        async with self.db.read_session() as session:
            head = int(await session.scalar(select(func.coalesce(func.max(Event.seq), 0))) or 0)
            if self.cursor is None:  # never held the lease: replay the last moments (bounded, by seq)
                since = utcnow() - dt.timedelta(seconds=TAKEOVER_REPLAY_S)
                first = await session.scalar(_REPLAY_FROM, {"head": head - RESUME_LIMIT, "since": since})
                if first is not None:
                    log.info("relay_took_over", replaying=head - int(first) + 1)
                    return int(first) - 1
        if self.cursor is not None and 0 <= head - self.cursor <= RESUME_LIMIT:
            log.info("relay_resumed", cursor=self.cursor, behind=head - self.cursor)
            return self.cursor
        return head

    async def step(self) -> int:
        """Publish what is ready; returns how many events went out."""
        assert self.cursor is not None
        self._caught_up = False  # until this step has published everything it read (a failed read too)
        self.refused = False
        async with self.db.read_session() as session:
            rows = await _AFTER.all(session, {"cursor": self.cursor})
            late: Sequence[Any] = []
            if self._late:
                late = (await session.execute(_SEQS, {"seqs": list(self._late)})).all()
        count = 0
        for event in late:
            sent = await self._publish(event)
            if sent is None:
                return count
            self._late.pop(event.seq, None)
            count += sent
        now = time.monotonic()
        self._late = {seq: t for seq, t in self._late.items() if now - t < LATE_WINDOW_S}
        for event in rows:
            if event.seq != self.cursor + 1:
                self._gap_since = self._gap_since or now
                if now - self._gap_since < GAP_HOLD_S:
                    break  # a lower sequence may still commit: hold the line for a moment
                for missing in range(self.cursor + 1, event.seq):
                    self._late[missing] = now
                log.debug("relay_gap_skipped", first=self.cursor + 1, last=event.seq - 1)
            sent = await self._publish(event)
            if sent is None:
                return count  # the bus is down: the cursor stays before this event
            self._gap_since = None
            self.cursor = event.seq
            count += sent
        else:
            self._caught_up = len(rows) < BATCH
        return count

    async def _publish(self, event: Any) -> int | None:
        """Publish unless already published: 1 sent, 0 a duplicate, None when the bus did not take it."""
        if event.id in self._seen:
            return 0
        body = EventRead.model_validate(event).model_dump(mode="json")
        if not await self.bus.publish(self.channel, orjson.dumps(body)):
            self.refused = True
            return None
        self._seen[event.id] = None
        if len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
        RELAY_PUBLISHED.inc()
        RELAY_LAG.set(max(0.0, time.time() - event.created_at.timestamp()))
        return 1
