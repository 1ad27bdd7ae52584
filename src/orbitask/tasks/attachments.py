"""Attachments: files on cards. Bytes go to object storage first, then one command records them.

A file is stored before its row commits (a transaction must not stay open through a long
upload); when the command fails the objects are removed again, and anything left over by a
crash is an orphan that garbage collection (tasks/replication.py) removes after a grace period.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.auth.policy import Actor, require_board
from orbitask.core.db import utcnow
from orbitask.core.errors import DomainError, NotFound, ServiceUnavailable
from orbitask.core.ids import new_id
from orbitask.core.pagination import decode_cursor, page_of
from orbitask.core.storage import ObjectMissing, Storage, Storages
from orbitask.core.uow import UnitOfWork, command
from orbitask.tasks import events
from orbitask.tasks.files import Staged
from orbitask.tasks.models import Attachment
from orbitask.tasks.schemas import AttachmentRead
from orbitask.tasks.service import card_read, locked_card, readable_card

KEY_PREFIX = "attachments/"
API_PREFIX = "/api/v1"
log = structlog.get_logger("orbitask.attachments")


class QuotaExceeded(DomainError):
    status, type, title = 413, "quota-exceeded", "Storage quota exceeded"


class AttachmentUnavailable(ServiceUnavailable):
    type, title = "attachment-unavailable", "Attachment temporarily unavailable"


def object_key(attachment_id: uuid.UUID) -> str:
    """Where an attachment's file lives."""
    return f"{KEY_PREFIX}{attachment_id}/original"


def thumbnail_key(attachment_id: uuid.UUID) -> str:
    """Where an attachment's preview lives."""
    return f"{KEY_PREFIX}{attachment_id}/thumbnail.webp"


def attachment_id_of(key: str) -> uuid.UUID | None:
    """The attachment a storage key belongs to (None for keys that are not ours)."""
    if not key.startswith(KEY_PREFIX):
        return None
    try:
        return uuid.UUID(key[len(KEY_PREFIX):].split("/", 1)[0])
    except ValueError:
        return None


def attachment_read(row: Attachment) -> AttachmentRead:
    """The API view of a row, with the URLs that serve it."""
    out = AttachmentRead.model_validate(row)
    out.has_thumbnail = row.thumbnail_key is not None
    out.content_url = f"{API_PREFIX}/attachments/{row.id}/content"
    out.thumbnail_url = f"{API_PREFIX}/attachments/{row.id}/thumbnail" if row.thumbnail_key else None
    return out


async def workspace_usage(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    """Bytes of live attachments in a workspace."""
    used = await session.scalar(
        select(func.coalesce(func.sum(Attachment.size), 0))
        .where(Attachment.workspace_id == workspace_id, Attachment.deleted_at.is_(None))
    )
    return int(used or 0)


def _check_quota(used: int, adding: int, quota: int) -> None:
    if quota and used + adding > quota:
        raise QuotaExceeded(
            f"This workspace's attachments would use {used + adding} bytes; its quota is {quota} bytes "
            f"({quota / 1048576:g} MiB). Delete attachments to make room.", used_bytes=used, quota_bytes=quota,
        )


async def check_can_attach(
    session: AsyncSession, actor: Actor, card_id: uuid.UUID, *, size: int, quota: int
) -> uuid.UUID:
    """Before reading an upload: the card is within reach, the caller may edit it, the quota has room."""
    board, _, role = await readable_card(session, actor, card_id)
    require_board(role, "board.write", "card")
    _check_quota(await workspace_usage(session, board.workspace_id), size, quota)
    return board.workspace_id


@command
async def create_attachment(
    uow: UnitOfWork, actor: Actor, card_id: uuid.UUID, staged: Staged, *, attachment_id: uuid.UUID, quota: int
) -> AttachmentRead:
    """Record a stored file on a card (editors and up); a repeat for the same id returns the first result."""
    async with uow:
        board, card = await locked_card(uow, actor, card_id, "board.write")
        existing = await uow.session.get(Attachment, attachment_id)
        if existing is not None:
            if existing.card_id != card.id or existing.deleted_at is not None:
                raise NotFound("No such upload.")
            return attachment_read(existing)
        _check_quota(await workspace_usage(uow.session, board.workspace_id), staged.size, quota)
        row = Attachment(
            id=attachment_id, card_id=card.id, workspace_id=board.workspace_id, uploader_id=actor.user_id,
            filename=staged.filename, content_type=staged.content_type, size=staged.size, sha256=staged.sha256,
            storage_key=object_key(attachment_id),
            thumbnail_key=thumbnail_key(attachment_id) if staged.thumbnail else None,
            width=staged.width, height=staged.height, region=uow.region, created_at=utcnow(),
        )
        uow.session.add(row)
        await uow.session.flush()
        out = attachment_read(row)
        uow.emit(events.AttachmentCreated(attachment=out), board=board, card_id=card.id)
        await uow.commit()
    return out


async def store_and_record(
    uow: UnitOfWork, storages: Storages, actor: Actor, card_id: uuid.UUID, staged: Staged, *,
    quota: int, attachment_id: uuid.UUID | None = None, file_stored: bool = False,
) -> AttachmentRead:
    """Put the staged file (and its thumbnail) in this region's storage, then record it; undo the puts on failure."""
    attachment_id = attachment_id or new_id()
    written: list[str] = []
    storage = storages.local
    try:
        if not file_stored:
            written.append(object_key(attachment_id))
            await storage.put_file(object_key(attachment_id), staged.path, content_type=staged.content_type)
        if staged.thumbnail is not None:
            written.append(thumbnail_key(attachment_id))
            await storage.put_bytes(thumbnail_key(attachment_id), staged.thumbnail, content_type="image/webp")
        return await create_attachment(uow, actor, card_id, staged, attachment_id=attachment_id, quota=quota)
    except BaseException:
        if file_stored:
            written.append(object_key(attachment_id))
        await asyncio.shield(_remove(storage, written))
        raise


async def _remove(storage: Storage, keys: list[str]) -> None:
    for key in keys:
        try:
            await storage.delete(key)
        except Exception:  # best effort: garbage collection removes what is left
            pass


async def readable_attachment(session: AsyncSession, actor: Actor, attachment_id: uuid.UUID) -> Attachment:
    """A live attachment on a card the caller can see (404 otherwise)."""
    row = await session.get(Attachment, attachment_id)
    if row is None or row.deleted_at is not None:
        raise NotFound("No such attachment.")
    try:
        await readable_card(session, actor, row.card_id)
    except NotFound:
        raise NotFound("No such attachment.") from None
    return row


async def list_attachments(
    session: AsyncSession, actor: Actor, card_id: uuid.UUID, *, cursor: str | None, limit: int
) -> tuple[list[AttachmentRead], str | None]:
    """A card's live attachments, oldest first."""
    await readable_card(session, actor, card_id)
    stmt = (
        select(Attachment).where(Attachment.card_id == card_id, Attachment.deleted_at.is_(None))
        .order_by(Attachment.id).limit(limit + 1)
    )
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(Attachment.id > after)
    rows, next_cursor = page_of(list((await session.execute(stmt)).scalars()), limit)
    return [attachment_read(r) for r in rows], next_cursor


@command
async def delete_attachment(uow: UnitOfWork, actor: Actor, attachment_id: uuid.UUID) -> None:
    """Soft-delete (editors and up): gone from the card and its activity says so; the file is collected later."""
    async with uow:
        card_id = await uow.session.scalar(
            select(Attachment.card_id).where(Attachment.id == attachment_id, Attachment.deleted_at.is_(None))
        )
        if card_id is None:
            raise NotFound("No such attachment.")
        board, card = await locked_card(uow, actor, card_id, "board.write", "attachment")
        row = await uow.session.get(Attachment, attachment_id)
        if row is None or row.deleted_at is not None:
            raise NotFound("No such attachment.")
        row.deleted_at = utcnow()
        row.deleted_by = actor.user_id
        cover = card.cover_attachment_id == row.id
        uow.emit(events.AttachmentDeleted(attachment_id=row.id, card_id=card.id, filename=row.filename,
                                          cover_cleared=cover), board=board, card_id=card.id)
        if cover:
            card.cover_attachment_id = None
            card.updated_at = utcnow()
            await uow.session.flush()
            out = await card_read(uow.session, card)
            uow.emit(events.CardUpdated(card=out, changes=["cover_attachment_id"]), board=board, card_id=card.id)
        await uow.commit()


async def _primed(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Read the first chunk now (so a missing object fails before the response starts), then the rest."""
    first = await anext(chunks, None)

    async def rest() -> AsyncIterator[bytes]:
        try:
            if first is not None:
                yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    return rest()


async def open_object(
    storages: Storages, row: Attachment, key: str, start: int = 0, length: int | None = None
) -> AsyncIterator[bytes]:
    """The object's bytes from this region's storage, or from the origin region's while replication catches up.

    A committed attachment never answers 404: when neither copy can be read the caller
    gets 503 with Retry-After.
    """
    sources = [storages.local]
    origin = storages.of_region(row.region)
    if origin is not None and origin is not storages.local:
        sources.append(origin)
    for storage in sources:
        try:
            return await _primed(storage.read(key, start, length))
        except ObjectMissing:
            continue
        except Exception as exc:  # an unreachable peer or bucket: try the next, then answer 503
            log.warning(
                "storage_read_failed", storage=storage.label, error_type=type(exc).__name__)
            continue
    raise AttachmentUnavailable(
        "The file is not readable right now (its region's storage has not answered); retry shortly.",
        retry_after=5,
    )


async def download_url(
    storages: Storages, row: Attachment, *, expires_s: int, inline: bool, content_type: str
) -> str | None:
    """A presigned GET on the storage that has the file (local first, then the origin region's)."""
    origin = storages.of_region(row.region)
    for storage in (storages.local, origin):
        if storage is None:
            continue
        if await storage.stat(row.storage_key) is not None:
            return await storage.download_url(row.storage_key, expires_s=expires_s, filename=row.filename,
                                              content_type=content_type, inline=inline)
    return None
