"""Which region writes: read from the replicated `topology` row, re-read every second.

A node serves reads from its own region's replica and forwards every write to the writer
region (regions/forwarding.py). The writer region and an epoch live in one row of the
`topology` table, written only on the writer database (by `set_writer` at promotion), so
the row travels to the other regions with the data it governs. Each node re-reads it every
REFRESH_S (backing off up to RETRY_MAX_S while the reader fails, logged once per outage) and
at once after a forwarding failure. Without a row (a fresh database, or a
single-region deployment) the writer is ORBITASK_WRITER_REGION, else this node's region.

The failover controller writes the row with plain SQL on the database it promotes:
SET_WRITER_SQL (MySQL/MariaDB placeholders), then the replicas receive it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from sqlalchemy import select

from orbitask.config import RegionConfig, Settings
from orbitask.core.backoff import Backoff, Outage
from orbitask.core.db import Database, utcnow
from orbitask.regions.models import TOPOLOGY_ID, Topology

log = structlog.get_logger("orbitask.topology")

REFRESH_S = 1.0
RETRY_MAX_S = 5.0
SET_WRITER_SQL = (
    "INSERT INTO topology (id, writer_region, epoch, updated_at) VALUES (1, %s, 1, UTC_TIMESTAMP(6)) "
    "ON DUPLICATE KEY UPDATE writer_region = VALUES(writer_region), epoch = epoch + 1, "
    "updated_at = VALUES(updated_at)"
)


@dataclass(frozen=True)
class WriterView:
    """The writer region as this node last read it."""

    region: str
    epoch: int


async def read_writer(db: Database, default: str) -> WriterView:
    """The topology row from this region's reader (`default` with epoch 0 when there is none)."""
    async with db.read_session() as session:
        row = await session.scalar(select(Topology).where(Topology.id == TOPOLOGY_ID))
    return WriterView(row.writer_region, row.epoch) if row is not None else WriterView(default, 0)


async def set_writer(db: Database, region: str) -> int:
    """Record `region` as the writer on this (writer) database; returns the new epoch."""
    async with db.write_transaction() as session:
        row = await session.get(Topology, TOPOLOGY_ID, with_for_update=True)
        if row is None:
            row = Topology(id=TOPOLOGY_ID, writer_region=region, epoch=1, updated_at=utcnow())
            session.add(row)
        else:
            row.writer_region, row.epoch, row.updated_at = region, row.epoch + 1, utcnow()
        epoch = row.epoch
    log.info("topology_writer_set", writer=region, epoch=epoch)
    return epoch


class RegionMap:
    """This node's view of the regions: its own, the writer, and how to reach each."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.local = settings.region
        self.regions: dict[str, RegionConfig] = {r.name: r for r in settings.regions}
        self.db = db
        self.default_writer = settings.writer_region or self.local
        self.writer = WriterView(self.default_writer, 0)
        self._refreshing: asyncio.Lock = asyncio.Lock()

    @property
    def multi_region(self) -> bool:
        """Whether any other region is configured (else every write is local)."""
        return len(self.regions) > 1 or any(name != self.local for name in self.regions)

    @property
    def is_writer(self) -> bool:
        """Whether this node's region holds the writer now."""
        return self.writer.region == self.local

    def writer_url(self) -> str | None:
        """Internal URL of the writer region (None when it is this region or unknown)."""
        if self.is_writer:
            return None
        region = self.regions.get(self.writer.region)
        return region.internal_url.rstrip("/") if region is not None else None

    async def refresh(self) -> WriterView:
        """Re-read the topology row now (concurrent callers share one read)."""
        async with self._refreshing:
            view = await read_writer(self.db, self.default_writer)
            if view != self.writer:
                if view.epoch >= self.writer.epoch:
                    log.info("topology_changed", writer=view.region, epoch=view.epoch, was=self.writer.region)
                    self.writer = view
        return self.writer

    async def watch(self) -> None:
        """Until cancelled: refresh every REFRESH_S; failures keep the last view and back off."""
        outage = Outage(log, loop="topology", backoff=Backoff(min_s=REFRESH_S, max_s=RETRY_MAX_S))
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await asyncio.sleep(outage.failed(exc))
                continue
            outage.ok()
            await asyncio.sleep(REFRESH_S)
