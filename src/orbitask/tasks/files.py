"""Attachment files: streaming multipart parsing to a staged temp file, names, content sniffing, thumbnails.

Nothing here holds a whole file in memory: the request body is parsed as it arrives and
written to a temp file in bounded batches, with the SHA-256 and size computed on the way.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
import re
import tempfile
import unicodedata
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filetype
from anyio import to_thread
from python_multipart.multipart import MultipartParser, parse_options_header

from orbitask.core.errors import DomainError, InvalidInput, PayloadTooLarge

SNIFF_BYTES = 8192
FLUSH_BYTES = 1024 * 1024  # parsed bytes are written to disk in batches of at most this size
MAX_FILENAME_BYTES = 255
THUMBNAIL_BOX = (640, 640)
MAX_IMAGE_PIXELS = 64_000_000  # larger images get no thumbnail (decompression bombs)
THUMBNAIL_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/tiff"})
# types a browser may show in a tab without running anything; everything else downloads
INLINE_TYPES = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/avif", "application/pdf",
    "text/plain", "text/csv", "text/markdown", "audio/mpeg", "audio/ogg", "audio/wav", "audio/x-wav",
    "video/mp4", "video/webm", "video/ogg",
})
# text files whose extension may refine "text/plain" (never into something a browser runs)
TEXT_BY_EXTENSION = {".csv": "text/csv", ".md": "text/markdown", ".markdown": "text/markdown", ".json": "application/json"}
_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<title", b"<a ",
                 b"<img", b"<div", b"<style", b"<meta", b"<table", b"<br", b"<p>", b"<h1", b"<b>", b"<font")
_RESERVED = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')


class UnsupportedMediaType(DomainError):
    status, type, title = 415, "unsupported-media-type", "Unsupported media type"


class EmptyFile(InvalidInput):
    type, title = "empty-file", "Empty file"


def sanitize_filename(raw: str) -> str:
    """A display name safe anywhere: no directories, control or reserved characters, at most 255 bytes."""
    name = unicodedata.normalize("NFC", raw)
    name = re.split(r"[/\\]", name)[-1]  # clients may send a path ("C:\\Users\\x\\a.png", "../../etc/passwd")
    name = _RESERVED.sub("_", name)
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cf", "Cc", "Zl", "Zp"))  # bidi overrides
    name = name.strip().strip(".").strip()
    if not name:
        return "file"
    if len(name.encode()) > MAX_FILENAME_BYTES:
        stem, ext = os.path.splitext(name)
        ext = ext if len(ext.encode()) <= 16 else ""
        budget = MAX_FILENAME_BYTES - len(ext.encode())
        stem = stem.encode()[:budget].decode(errors="ignore")
        name = stem + ext
    return name


def sniff_content_type(head: bytes, filename: str) -> str:
    """The media type the bytes show (magic numbers, then markup and text checks); the client's claim is ignored."""
    kind = filetype.guess(head) if head else None
    if kind is not None:
        return kind.mime
    if b"\x00" in head:
        return "application/octet-stream"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not merely a character cut at the end of the sample
            return "application/octet-stream"
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in lowered[:4096]:
        return "image/svg+xml"
    if any(marker in lowered[:4096] for marker in _HTML_MARKERS):
        return "text/html"
    if lowered.startswith(b"<?xml"):
        return "application/xml"
    return TEXT_BY_EXTENSION.get(os.path.splitext(filename)[1].lower(), "text/plain")


def is_inline(content_type: str) -> bool:
    """Whether a browser may show the file inline (else: Content-Disposition: attachment)."""
    return content_type in INLINE_TYPES


def served_type(content_type: str) -> str:
    """The Content-Type header for a stored type (text gets its charset)."""
    return f"{content_type}; charset=utf-8" if content_type.startswith("text/") else content_type


def extension_for(content_type: str) -> str:
    """A conventional extension for a type, for messages."""
    return mimetypes.guess_extension(content_type) or ""


@dataclass
class Staged:
    """A file received in full into a temp file, with what was learnt on the way."""

    path: Path
    filename: str
    size: int = 0
    sha256: str = ""
    head: bytes = b""
    content_type: str = "application/octet-stream"
    thumbnail: bytes | None = None
    width: int | None = None
    height: int | None = None

    def discard(self) -> None:
        """Remove the temp file."""
        self.path.unlink(missing_ok=True)


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    field: bytes = b""
    value: bytes = b""


class _StagingSink:
    """Writes parsed bytes to a temp file, hashing and counting, refusing more than `limit`."""

    def __init__(self, spool_dir: Path, limit: int) -> None:
        spool_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=spool_dir, prefix="upload-")
        self.file = os.fdopen(fd, "wb")
        self.path = Path(name)
        self.limit = limit
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = bytearray()
        self.pending: list[bytes] = []
        self.pending_bytes = 0

    def take(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise PayloadTooLarge(
                f"The file is larger than the {self.limit} bytes ({self.limit / 1048576:g} MiB) allowed.",
                max_bytes=self.limit,
            )
        if len(self.head) < SNIFF_BYTES:
            self.head += data[: SNIFF_BYTES - len(self.head)]
        self.digest.update(data)
        self.pending.append(data)
        self.pending_bytes += len(data)

    async def flush(self) -> None:
        if self.pending:
            batch, self.pending, self.pending_bytes = b"".join(self.pending), [], 0
            await to_thread.run_sync(self.file.write, batch)

    async def close(self) -> None:
        await self.flush()
        await to_thread.run_sync(self.file.close)


async def stage_multipart(
    content_type: str, body: AsyncIterator[bytes], *, spool_dir: Path, limit: int
) -> Staged:
    """Parse a multipart/form-data body with one file in the field `file` into a staged temp file."""
    mime, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType("Send the file as multipart/form-data with the file in the field `file`.")
    sink = _StagingSink(spool_dir, limit)
    part = _Part()
    header_field = bytearray()
    header_value = bytearray()
    state: dict[str, Any] = {"in_file": False, "filename": None, "done": False, "files": 0}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        part.headers[bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.field = disposition.get(b"name", b"")
        if part.field == b"file" and b"filename" in disposition:
            if state["files"]:
                raise InvalidInput("Send one file per request.")
            state["files"] += 1
            state["in_file"] = True
            state["filename"] = disposition[b"filename"].decode("utf-8", errors="replace")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["in_file"]:
            sink.take(data[start:end])
        elif len(part.value) + end - start > 1024:
            raise InvalidInput("Form fields other than `file` are not accepted.")
        else:
            part.value += data[start:end]

    def on_part_end() -> None:
        nonlocal part
        state["in_file"] = False
        part = _Part()

    def on_end() -> None:
        state["done"] = True

    parser = MultipartParser(boundary, {  # type: ignore[arg-type]
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_end": on_end,
    })
    try:
        async for chunk in body:
            try:
                parser.write(chunk)
            except DomainError:
                raise
            except Exception as exc:  # python-multipart's parse errors
                raise InvalidInput(f"The multipart body is malformed: {exc}") from None
            if sink.pending_bytes >= FLUSH_BYTES:
                await sink.flush()
        parser.finalize()
        await sink.close()
        if not state["done"]:
            raise InvalidInput("The multipart body ended early (no closing boundary): the upload was cut off.")
        if state["filename"] is None:
            raise InvalidInput("No file: send it in the multipart field `file` (with a filename).")
        if sink.size == 0:
            raise EmptyFile("The file is empty (0 bytes); nothing was attached.")
    except BaseException:
        sink.file.close()
        sink.path.unlink(missing_ok=True)
        raise
    staged = Staged(sink.path, sanitize_filename(state["filename"]), sink.size, sink.digest.hexdigest(),
                    bytes(sink.head))
    await inspect(staged)
    return staged


async def stage_stream(
    chunks: AsyncIterator[bytes], filename: str, *, spool_dir: Path, limit: int
) -> Staged:
    """Stage an object read back from storage (direct uploads), checked like an API upload."""
    sink = _StagingSink(spool_dir, limit)
    try:
        async for chunk in chunks:
            sink.take(chunk)
            if sink.pending_bytes >= FLUSH_BYTES:
                await sink.flush()
        await sink.close()
        if sink.size == 0:
            raise EmptyFile("The uploaded file is empty (0 bytes); nothing was attached.")
    except BaseException:
        sink.file.close()
        sink.path.unlink(missing_ok=True)
        raise
    staged = Staged(sink.path, sanitize_filename(filename), sink.size, sink.digest.hexdigest(), bytes(sink.head))
    await inspect(staged)
    return staged


async def inspect(staged: Staged) -> None:
    """Sniff the type and, for images, measure and make a thumbnail (in a worker thread)."""
    staged.content_type = sniff_content_type(staged.head, staged.filename)
    if staged.content_type in THUMBNAIL_TYPES:
        result = await to_thread.run_sync(make_thumbnail, staged.path)
        if result is not None:
            staged.thumbnail, staged.width, staged.height = result


def make_thumbnail(path: Path) -> tuple[bytes, int, int] | None:
    """A WebP preview fitting 640x640 and the image's size, or None when Pillow cannot (safely) read it."""
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.size[0] * image.size[1] > MAX_IMAGE_PIXELS:
                    return None
                image.draft("RGB", THUMBNAIL_BOX)  # JPEG: decode at a reduced scale
                image = ImageOps.exif_transpose(image)  # phones store portraits sideways plus a rotation tag
                width, height = image.size if image.mode else (0, 0)
                if image.mode not in ("RGB", "RGBA"):
                    image = image.convert("RGBA" if "transparency" in image.info or image.mode in ("LA", "PA")
                                          else "RGB")
                image.thumbnail(THUMBNAIL_BOX)
                out = io.BytesIO()
                image.save(out, "WEBP", quality=80, method=4)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        return None
    return out.getvalue(), width, height
