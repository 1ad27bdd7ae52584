"""Attachment HTTP routes: streaming upload, direct (presigned) upload, download with ranges, delete."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from starlette.responses import RedirectResponse, Response, StreamingResponse

from orbitask.auth.deps import CurrentActor, ReadSession, RuntimeDep, Uow
from orbitask.auth.policy import Actor
from orbitask.core import context
from orbitask.core.errors import NotFound
from orbitask.core.pagination import DEFAULT_LIMIT, Limit
from orbitask.core.ranges import parse_range
from orbitask.core.reads import consistent_read
from orbitask.core.runtime import Runtime
from orbitask.core.storage import content_disposition
from orbitask.tasks import attachments, uploads
from orbitask.tasks.files import is_inline, served_type, stage_multipart
from orbitask.tasks.models import Attachment
from orbitask.tasks.schemas import AttachmentPage, AttachmentRead, UploadComplete, UploadStart, UploadTicket

router = APIRouter(tags=["attachments"])
# requests that move file bytes: a larger body limit and a longer deadline than the rest of the API
LARGE_TRANSFER = re.compile(
    r"^/api/v1/(cards/[^/]+/attachments(/uploads/complete)?|attachments/[^/]+/(content|thumbnail))$"
)
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file
_MULTIPART_BODY = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary", "description": "the file, with its name"}},
    }}}},
}


async def _load(rt: Runtime, actor: Actor, attachment_id: uuid.UUID) -> Attachment:
    """The attachment, read in a short session: no connection stays checked out while bytes stream."""
    state = context.current()
    token = state.read_token if state is not None else None
    async with consistent_read(rt.db, token, rt.settings.read_wait_timeout_seconds) as session:
        return await attachments.readable_attachment(session, actor, attachment_id)


@router.post("/cards/{card_id}/attachments", status_code=status.HTTP_201_CREATED, response_model=AttachmentRead,
             openapi_extra=_MULTIPART_BODY)
async def upload_attachment(card_id: uuid.UUID, request: Request, actor: CurrentActor, rt: RuntimeDep,
                            uow: Uow) -> AttachmentRead:
    """Attach a file (multipart/form-data, field `file`), streamed to storage; its type is sniffed from the bytes."""
    settings = rt.settings
    declared = request.headers.get("content-length", "")
    estimate = max(0, int(declared) - MULTIPART_OVERHEAD) if declared.isdigit() else 0
    state = context.current()
    async with consistent_read(rt.db, state.read_token if state else None, settings.read_wait_timeout_seconds) as s:
        await attachments.check_can_attach(s, actor, card_id, size=estimate, quota=uploads.quota_bytes(rt))
    staged = await stage_multipart(request.headers.get("content-type", ""), request.stream(),
                                   spool_dir=rt.files.spool_dir, limit=settings.attachment_max_bytes)
    try:
        return await attachments.store_and_record(uow, rt.files, actor, card_id, staged, quota=uploads.quota_bytes(rt))
    finally:
        await asyncio.to_thread(staged.discard)


@router.post("/cards/{card_id}/attachments/uploads", status_code=status.HTTP_201_CREATED, response_model=UploadTicket)
async def start_direct_upload(card_id: uuid.UUID, cmd: UploadStart, actor: CurrentActor, rt: RuntimeDep) -> UploadTicket:
    """With S3: a presigned POST to send the file straight to the bucket; then call .../uploads/complete."""
    return await uploads.start(rt, actor, card_id, cmd)


@router.post("/cards/{card_id}/attachments/uploads/complete", status_code=status.HTTP_201_CREATED,
             response_model=AttachmentRead)
async def complete_direct_upload(
    card_id: uuid.UUID, cmd: UploadComplete, actor: CurrentActor, rt: RuntimeDep
) -> AttachmentRead:
    """Verify the directly uploaded file (size, bytes, type, SHA-256) and attach it."""
    return await uploads.complete(rt, actor, card_id, cmd.ticket)


@router.get("/cards/{card_id}/attachments", response_model=AttachmentPage)
async def list_attachments(
    card_id: uuid.UUID, actor: CurrentActor, session: ReadSession, cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> AttachmentPage:
    """A card's attachments, oldest first."""
    items, next_cursor = await attachments.list_attachments(session, actor, card_id, cursor=cursor, limit=limit)
    return AttachmentPage(items=items, next_cursor=next_cursor)


@router.get("/attachments/{attachment_id}", response_model=AttachmentRead)
async def get_attachment(attachment_id: uuid.UUID, actor: CurrentActor, rt: RuntimeDep) -> AttachmentRead:
    """One attachment's metadata."""
    return attachments.attachment_read(await _load(rt, actor, attachment_id))


@router.delete("/attachments/{attachment_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_attachment(attachment_id: uuid.UUID, actor: CurrentActor, uow: Uow) -> None:
    """Remove an attachment from its card (editors and up); the file is collected later."""
    await attachments.delete_attachment(uow, actor, attachment_id)


@router.get("/attachments/{attachment_id}/content", response_class=Response,
            responses={200: {"description": "the file"}, 206: {"description": "the requested byte range"},
                       307: {"description": "with presigned downloads or CloudFront: a signed URL"},
                       416: {"description": "the range is outside the file"}})
async def download_attachment(
    attachment_id: uuid.UUID, request: Request, actor: CurrentActor, rt: RuntimeDep,
    download: Annotated[bool, Query(description="always as a download, never shown inline")] = False,
) -> Response:
    """The file (viewers and up), with single-range support; anything a browser could run is a download."""
    row = await _load(rt, actor, attachment_id)
    inline = is_inline(row.content_type) and not download
    ctype = served_type(row.content_type)
    if rt.settings.storage_presigned_downloads or rt.files.cdn is not None:
        url = await attachments.download_url(rt.files, row, expires_s=rt.settings.storage_url_ttl_seconds,
                                             inline=inline, content_type=ctype)
        if url is not None:
            return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    etag = f'"{row.sha256}"'
    headers = {
        "ETag": etag, "Accept-Ranges": "bytes", "Content-Disposition": content_disposition(row.filename, inline=inline),
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if_range = request.headers.get("if-range")
    wanted = parse_range(request.headers.get("range"), row.size) if if_range in (None, etag) else None
    start, length = wanted if wanted is not None else (0, row.size)
    body = await attachments.open_object(rt.files, row, row.storage_key, start, length)
    headers["Content-Length"] = str(length)
    if wanted is not None:
        headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{row.size}"
    return StreamingResponse(body, status_code=206 if wanted is not None else 200, media_type=ctype, headers=headers)


@router.get("/attachments/{attachment_id}/thumbnail", response_class=Response,
            responses={200: {"content": {"image/webp": {}}, "description": "a preview within 640x640"}})
async def attachment_thumbnail(attachment_id: uuid.UUID, actor: CurrentActor, rt: RuntimeDep) -> Response:
    """An image attachment's preview (WebP), for card covers and galleries."""
    row = await _load(rt, actor, attachment_id)
    if row.thumbnail_key is None:
        raise NotFound("This attachment has no preview (only images have one).")
    body = await attachments.open_object(rt.files, row, row.thumbnail_key)
    return StreamingResponse(body, media_type="image/webp", headers={
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=86400, immutable",
        "ETag": f'"{row.sha256}-thumb"',
    })
