"""Direct uploads to S3: a presigned POST the client completes, then a confirm call that checks and records it.

The ticket is a signed token naming the card, the attachment id (hence the key) and the
file name, valid for `storage_url_ttl_seconds`; the server keeps no state in between. A
file that is posted but never confirmed is an orphan that garbage collection removes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import jwt

from orbitask.auth.policy import Actor
from orbitask.core.db import utcnow
from orbitask.core.errors import DomainError, InvalidInput, PayloadTooLarge
from orbitask.core.ids import new_id
from orbitask.core.runtime import Runtime
from orbitask.tasks import attachments
from orbitask.tasks.files import sanitize_filename, stage_stream
from orbitask.tasks.models import Attachment
from orbitask.tasks.schemas import AttachmentRead, UploadStart, UploadTicket

AUDIENCE = "orbitask:attachment-upload"


class DirectUploadUnsupported(DomainError):
    status, type, title = 409, "direct-upload-unsupported", "Direct uploads need S3"


class UploadExpired(DomainError):
    status, type, title = 410, "upload-expired", "Upload ticket expired"


class UploadMissing(InvalidInput):
    type, title = "upload-missing", "Nothing was uploaded"


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The file is larger than the {limit} bytes ({limit / 1048576:g} MiB) allowed.",
                           max_bytes=limit)


async def start(rt: Runtime, actor: Actor, card_id: uuid.UUID, cmd: UploadStart) -> UploadTicket:
    """A presigned POST for one file on a card the caller may edit, checked against the size limit and quota."""
    settings = rt.settings
    if cmd.size > settings.attachment_max_bytes:
        raise _too_large(settings.attachment_max_bytes)
    async with rt.db.read_session() as session:
        await attachments.check_can_attach(session, actor, card_id, size=cmd.size, quota=quota_bytes(rt))
    attachment_id = new_id()
    key = attachments.object_key(attachment_id)
    ttl = settings.storage_url_ttl_seconds
    form = await rt.files.local.upload_form(key, max_bytes=settings.attachment_max_bytes, expires_s=ttl)
    if form is None:
        raise DirectUploadUnsupported(
            "This server keeps files on its own disk: upload through POST /cards/{card_id}/attachments instead."
        )
    expires = utcnow() + dt.timedelta(seconds=ttl)
    claims = {"aud": AUDIENCE, "sub": str(actor.user_id), "card": str(card_id), "att": str(attachment_id),
              "name": sanitize_filename(cmd.filename), "exp": expires}
    ticket = jwt.encode(claims, settings.signing_key, algorithm="HS256")
    return UploadTicket(attachment_id=attachment_id, url=form["url"], fields=form["fields"], ticket=ticket,
                        expires_at=expires)


def _claims(rt: Runtime, ticket: str, *, verify_exp: bool) -> dict[str, Any]:
    return jwt.decode(ticket, rt.settings.signing_key, algorithms=["HS256"], audience=AUDIENCE,
                      options={"verify_exp": verify_exp, "require": ["exp", "sub", "card", "att", "name"]})


async def complete(rt: Runtime, actor: Actor, card_id: uuid.UUID, ticket: str) -> AttachmentRead:
    """Check the uploaded object (size, bytes, type) and record it; a repeat answers the same attachment."""
    storage = rt.files.local
    try:
        claims = _claims(rt, ticket, verify_exp=True)
    except jwt.ExpiredSignatureError:
        stale = _claims(rt, ticket, verify_exp=False)
        if stale["sub"] == str(actor.user_id) and stale["card"] == str(card_id):
            await storage.delete(attachments.object_key(uuid.UUID(stale["att"])))
        raise UploadExpired("The upload ticket has expired; start the upload again.") from None
    except jwt.PyJWTError:
        raise InvalidInput("ticket: not a valid upload ticket") from None
    if claims["sub"] != str(actor.user_id) or claims["card"] != str(card_id):
        raise InvalidInput("ticket: this ticket was issued for another user or card")
    attachment_id = uuid.UUID(claims["att"])
    key = attachments.object_key(attachment_id)
    limit = rt.settings.attachment_max_bytes
    async with rt.db.read_session(on_writer=True) as session:
        done = await session.get(Attachment, attachment_id)
        if done is not None and done.deleted_at is None and done.card_id == card_id:
            return attachments.attachment_read(done)  # confirmed before: its answer again
    info = await storage.stat(key)
    if info is None:
        raise UploadMissing("The storage has no file for this ticket: POST the file to the upload URL first.")
    if info.size > limit:
        await storage.delete(key)
        raise _too_large(limit)
    try:
        staged = await stage_stream(storage.read(key), claims["name"], spool_dir=rt.files.spool_dir, limit=limit)
    except DomainError:  # empty, or grown past the limit since the stat: refuse and keep nothing
        await storage.delete(key)
        raise
    try:
        return await attachments.store_and_record(
            rt.uow(actor.user_id), rt.files, actor, card_id, staged, quota=quota_bytes(rt),
            attachment_id=attachment_id, file_stored=True,
        )
    finally:
        await asyncio.to_thread(staged.discard)


def quota_bytes(rt: Runtime) -> int:
    """The per-workspace quota in bytes (0: none)."""
    return rt.settings.attachment_workspace_quota_mb * 1024 * 1024
