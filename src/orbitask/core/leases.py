"""Leases in the database: one holder at a time for a named background job, across processes."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import structlog
from sqlalchemy import String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from orbitask.core.db import Base, Database, UTCDateTime, utcnow

log = structlog.get_logger("orbitask.leases")
MAX_RETRY_S = 2.0


class LeaseRow(Base):
    """Who holds a named lease, and until when (the holder renews it)."""

    __tablename__ = "lease"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DbLease:
    """A row with an expiry, taken when free or expired and renewed by its holder.

    Renewals are written every third of the TTL, not on every `hold()`, so a job polling
    many times a second costs one small write every few seconds; processes that do not hold
    it ask again every third of the TTL (at most every 2 s). A holder that stops renewing
    (crashed, partitioned) loses the lease after `ttl_s`. When the database cannot be asked,
    `hold()` answers False with the failure in `error`, and asks again at the next call: the
    caller's loop logs the outage and paces its retries (core/backoff.py).
    """

    def __init__(self, db: Database, name: str, ttl_s: float = 15.0) -> None:
        self.db = db
        self.name = name
        self.ttl_s = ttl_s
        self.owner = uuid.uuid4().hex
        self._valid_until = 0.0  # monotonic time until which we trust our hold without asking
        self._next_try = 0.0  # while another process holds it, when to ask again
        self.error: Exception | None = None  # why the last call's claim failed (None: no failure)

    async def hold(self) -> bool:
        """Take or renew the lease; True while this process holds it."""
        now_mono = time.monotonic()
        if now_mono < self._valid_until:
            return True
        self.error = None
        if now_mono < self._next_try:
            return False  # someone else holds it: ask again later, not on every poll
        try:
            held = await self._claim()
        except Exception as exc:  # the caller logs it (once per outage) and decides when to ask again
            self.error, self._valid_until, self._next_try = exc, 0.0, 0.0
            return False
        self._valid_until = now_mono + self.ttl_s / 3 if held else 0.0
        self._next_try = 0.0 if held else now_mono + min(self.ttl_s / 3, MAX_RETRY_S)
        return held

    async def _claim(self) -> bool:
        now = utcnow()
        expires = now + dt.timedelta(seconds=self.ttl_s)
        try:
            async with self.db.write_transaction() as session:
                row = await session.scalar(select(LeaseRow).where(LeaseRow.name == self.name).with_for_update())
                if row is None:
                    session.add(LeaseRow(name=self.name, owner=self.owner, expires_at=expires))
                    return True
                if row.owner != self.owner and row.expires_at > now:
                    return False
                row.owner, row.expires_at = self.owner, expires
                return True
        except IntegrityError:  # another process inserted it first
            return False

    async def release(self) -> None:
        """Give the lease up now (on shutdown), so another process takes over without waiting."""
        if self._valid_until == 0.0:
            return
        self._valid_until = 0.0
        try:
            async with self.db.write_transaction() as session:
                await session.execute(
                    update(LeaseRow).where(LeaseRow.name == self.name, LeaseRow.owner == self.owner)
                    .values(expires_at=utcnow())
                )
        except Exception as exc:  # it expires on its own
            log.warning("lease_release_failed", lease=self.name, error=type(exc).__name__)
