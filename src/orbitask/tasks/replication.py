"""Attachment files across regions, and garbage collection of files nobody references.

- Replication (the lab; on AWS, S3 cross-region replication does this): each region's
  worker tails `attachment.created` events on its local replica and copies the file from
  the origin region's storage into its own. Until the copy lands, downloads fall back to
  the origin (tasks/attachments.py: open_object).
- Garbage collection: files of attachments deleted longer ago than the grace period, and
  orphans (a stored file whose row never committed, a direct upload never confirmed, a
  deleted card's files) older than the grace period.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy import delete, or_, select

from orbitask.core.db import Database, utcnow
from orbitask.core.events import Event
from orbitask.core.storage import ObjectInfo, Storage, Storages, copy_object
from orbitask.tasks.attachments import KEY_PREFIX, attachment_id_of, object_key, thumbnail_key
from orbitask.tasks.models import Attachment
from orbitask.tasks.schemas import AttachmentRead

log = structlog.get_logger("orbitask.replication")
BATCH = 500


class ReplicationError(Exception):
    """A copy could not be made or did not match its checksum (retried on the next pass)."""


async def replicate_attachment(storages: Storages, attachment: AttachmentRead) -> int:
    """Copy an attachment's file (and preview) from its origin region into this region's storage; returns copies."""
    if attachment.region == storages.region:
        return 0
    source = storages.of_region(attachment.region)
    if source is None:
        raise ReplicationError(f"no storage configured for region {attachment.region!r} (ORBITASK_STORAGE_REGIONS)")
    wanted = [(object_key(attachment.id), attachment.content_type, attachment.sha256, attachment.size)]
    if attachment.has_thumbnail:
        wanted.append((thumbnail_key(attachment.id), "image/webp", None, None))
    copied = 0
    for key, content_type, sha256, size in wanted:
        if await storages.local.stat(key) is not None:
            continue
        result = await copy_object(source, storages.local, key, content_type=content_type,
                                   spool_dir=storages.spool_dir)
        if sha256 is not None and (result.sha256 != sha256 or result.size != size):
            await storages.local.delete(key)
            raise ReplicationError(f"{key}: the copy does not match the recorded SHA-256/size")
        copied += 1
    return copied


class Replicator:
    """Tails `attachment.created` on the region's reader; its cursor is a file (replicas are read-only)."""

    def __init__(self, db: Database, storages: Storages, cursor_path: Path) -> None:
        self.db = db
        self.storages = storages
        self.cursor_path = cursor_path

    @property
    def cursor(self) -> int:
        """The last event sequence handled."""
        try:
            return int(self.cursor_path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0

    def _save(self, seq: int) -> None:
        self.cursor_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cursor_path.with_suffix(".tmp")
        tmp.write_text(str(seq))
        tmp.replace(self.cursor_path)

    async def run_once(self, limit: int = BATCH) -> int:
        """Handle the next events; stops at the first failure so it is retried. Returns objects copied."""
        async with self.db.read_session() as session:
            rows = (await session.execute(
                select(Event.seq, Event.payload)
                .where(Event.seq > self.cursor, Event.type == "attachment.created")
                .order_by(Event.seq).limit(limit)
            )).all()
        copied = 0
        for seq, payload in rows:
            attachment = AttachmentRead.model_validate(payload["attachment"])
            try:
                copied += await replicate_attachment(self.storages, attachment)
            except Exception as exc:
                log.warning("replication_failed", attachment_id=str(attachment.id), origin=attachment.region,
                            error_type=type(exc).__name__, error=str(exc)[:200])
                return copied
            self._save(seq)
        return copied

    async def reconcile(self) -> int:
        """Check every live attachment from another region and copy what is missing (after a gap or an outage)."""
        copied = 0
        after: uuid.UUID | None = None
        while True:
            async with self.db.read_session() as session:
                stmt = (select(Attachment).where(Attachment.deleted_at.is_(None),
                                                 Attachment.region != self.storages.region)
                        .order_by(Attachment.id).limit(BATCH))
                if after is not None:
                    stmt = stmt.where(Attachment.id > after)
                rows = list((await session.execute(stmt)).scalars())
            for row in rows:
                try:
                    copied += await replicate_attachment(self.storages, _read_of(row))
                except Exception as exc:
                    log.warning("replication_failed", attachment_id=str(row.id), origin=row.region,
                                error_type=type(exc).__name__, error=str(exc)[:200])
            if len(rows) < BATCH:
                return copied
            after = rows[-1].id


def _read_of(row: Attachment) -> AttachmentRead:
    out = AttachmentRead.model_validate(row)
    out.has_thumbnail = row.thumbnail_key is not None
    return out


@dataclass
class GcReport:
    """What a collection did."""

    rows_purged: int = 0
    objects_deleted: int = 0
    bytes_freed: int = 0
    objects_seen: int = 0


async def collect_garbage(
    db: Database, storage: Storage, *, grace_s: int, now: dt.datetime | None = None, purge_rows: bool = True,
    progress: Callable[[GcReport], None] | None = None,
) -> GcReport:
    """Delete files of attachments deleted (or never recorded) longer than `grace_s` ago.

    `purge_rows` (the writer region only) also deletes those attachment rows, after their files.
    """
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=grace_s)
    report = GcReport()
    if purge_rows:
        while True:
            async with db.read_session(on_writer=True) as session:
                stale = list((await session.execute(
                    select(Attachment.id, Attachment.storage_key, Attachment.thumbnail_key)
                    .where(Attachment.deleted_at.is_not(None), Attachment.deleted_at < cutoff).limit(BATCH)
                )).all())
            for _, key, thumb in stale:
                for k in (key, thumb):
                    if k is not None:
                        info = await storage.stat(k)
                        if info is not None:
                            await storage.delete(k)
                            report.objects_deleted += 1
                            report.bytes_freed += info.size
            if stale:
                async with db.write_transaction() as session:
                    await session.execute(delete(Attachment).where(Attachment.id.in_([r[0] for r in stale])))
                report.rows_purged += len(stale)
                if progress:
                    progress(report)
            if len(stale) < BATCH:
                break
    batch: list[ObjectInfo] = []
    async for info in storage.list(KEY_PREFIX):
        report.objects_seen += 1
        if info.modified < cutoff and attachment_id_of(info.key) is not None:
            batch.append(info)
        if len(batch) >= BATCH:
            await _drop_orphans(db, storage, batch, cutoff, report)
            batch = []
            if progress:
                progress(report)
    if batch:
        await _drop_orphans(db, storage, batch, cutoff, report)
    if progress:
        progress(report)
    log.info("attachment_gc", rows_purged=report.rows_purged, objects_deleted=report.objects_deleted,
             bytes_freed=report.bytes_freed)
    return report


async def _drop_orphans(db: Database, storage: Storage, batch: list[ObjectInfo], cutoff: dt.datetime,
                        report: GcReport) -> None:
    """Delete the objects of `batch` whose attachment is missing or was deleted before `cutoff`."""
    ids = {attachment_id_of(info.key) for info in batch}
    async with db.read_session() as session:  # the local replica: its lag is far below any grace period
        live = set((await session.execute(
            select(Attachment.id).where(Attachment.id.in_(ids),
                                        or_(Attachment.deleted_at.is_(None), Attachment.deleted_at >= cutoff))
        )).scalars())
    for info in batch:
        if attachment_id_of(info.key) not in live:
            await storage.delete(info.key)
            report.objects_deleted += 1
            report.bytes_freed += info.size
