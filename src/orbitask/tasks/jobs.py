"""The Task service's background job: erasing what has been in the trash longer than the retention.

`trash-purge` (the writer region, hourly, BATCH items a step) deletes the files of the expired cards'
attachments from this region's storage, then the rows: the cards (or a list with all its cards) and,
by the foreign keys' cascades, their checklists, comments, attachment rows, labels and assignees.
Files first, so that a crash in between leaves rows whose files the next step finds gone, never files
no row names; other regions' copies become orphans their `orbitask worker` garbage collection
removes (tasks/replication.py). Nothing older than the retention can be restored meanwhile
(tasks/trash.py), so no restore races the purge.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import delete, or_, select

from orbitask.boards.models import BoardList
from orbitask.core.db import Database, utcnow
from orbitask.core.jobs import Step, register_job
from orbitask.core.storage import Storage
from orbitask.tasks.models import Attachment, Card

if TYPE_CHECKING:
    from orbitask.core.runtime import Runtime

log = structlog.get_logger("orbitask.trash")
BATCH = 100  # lists and cards per step (a step that erased this many runs again at once)
INTERVAL_S = 3600.0


@dataclass
class PurgeReport:
    """What one step erased."""

    lists: int = 0
    cards: int = 0
    files: int = 0


async def purge_trash(db: Database, storage: Storage, *, retention_days: int, now: dt.datetime | None = None) -> PurgeReport:
    """Erase up to BATCH lists and BATCH cards deleted longer than `retention_days` ago, with their files."""
    cutoff = (now or utcnow()) - dt.timedelta(days=retention_days)
    report = PurgeReport()
    async with db.read_session(on_writer=True) as session:
        lists = list((await session.execute(
            select(BoardList.id).where(BoardList.deleted_at < cutoff).order_by(BoardList.deleted_at).limit(BATCH)
        )).scalars())
        cards = list((await session.execute(
            select(Card.id).where(Card.deleted_at < cutoff).order_by(Card.deleted_at).limit(BATCH)
        )).scalars())
        if not lists and not cards:
            return report
        of_list = Attachment.card_id.in_(select(Card.id).where(Card.list_id.in_(lists)))
        files = list((await session.execute(
            select(Attachment.storage_key, Attachment.thumbnail_key).where(or_(Attachment.card_id.in_(cards), of_list))
        )).all())
    for key, thumbnail in files:
        for name in (key, thumbnail):
            if name is not None and await storage.stat(name) is not None:
                await storage.delete(name)
                report.files += 1
    async with db.write_transaction() as session:
        if cards:
            report.cards = (await session.execute(
                delete(Card).where(Card.id.in_(cards), Card.deleted_at < cutoff))).rowcount  # type: ignore[attr-defined]
        if lists:
            report.lists = (await session.execute(
                delete(BoardList).where(BoardList.id.in_(lists), BoardList.deleted_at < cutoff)
            )).rowcount  # type: ignore[attr-defined]
    log.info("trash_purged", lists=report.lists, cards=report.cards, files=report.files)
    return report


@register_job("trash-purge", interval=lambda s: INTERVAL_S)
def _trash_purge(rt: Runtime) -> Step:
    async def step() -> int:
        report = await purge_trash(rt.db, rt.files.local, retention_days=rt.settings.trash_retention_days)
        return report.lists + report.cards

    return step
