"""Object storage for attachment files: a Protocol with a local-directory and an S3 implementation.

Keys are `/`-separated relative paths chosen by the application (never by users). Both
implementations stream: nothing holds a whole object in memory. The S3 one runs boto3's
(thread-safe) client in worker threads, so the event loop never blocks on the network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from anyio import to_thread

from orbitask.config import StorageLocation

if TYPE_CHECKING:
    from orbitask.core.cdn import CloudFrontUrls

CHUNK = 256 * 1024
S3_PART_BYTES = 8 * 1024 * 1024
S3_PART_CONCURRENCY = 4  # at most 4 parts of 8 MiB in flight per upload


class ObjectMissing(Exception):
    """The key holds no object."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What storage knows of an object."""

    key: str
    size: int
    modified: dt.datetime


class Storage(Protocol):
    """Where attachment files live."""

    label: str

    async def put_file(self, key: str, path: Path, *, content_type: str) -> None:
        """Store the file at `path` under `key` (replacing any object there)."""
        ...

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store a small object (thumbnails)."""
        ...

    async def stat(self, key: str) -> ObjectInfo | None:
        """Size and time of an object, or None when there is none."""
        ...

    def read(self, key: str, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """The object's bytes from `start` (all, or `length` of them), in chunks; ObjectMissing when absent."""
        ...

    async def delete(self, key: str) -> None:
        """Remove an object; no error when it is already gone."""
        ...

    def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with `prefix`."""
        ...

    async def download_url(
        self, key: str, *, expires_s: int, filename: str, content_type: str, inline: bool
    ) -> str | None:
        """A presigned GET URL that serves the object with these headers, or None when unsupported."""
        ...

    async def upload_form(self, key: str, *, max_bytes: int, expires_s: int) -> dict[str, Any] | None:
        """A presigned POST (url and form fields) for a browser to upload `key` directly, or None."""
        ...


def content_disposition(filename: str, *, inline: bool) -> str:
    """RFC 6266 Content-Disposition: an ASCII fallback plus the UTF-8 name."""
    kind = "inline" if inline else "attachment"
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "file"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def private_dirs(path: Path) -> None:
    """Create `path` and any missing parent as directories only their owner may enter (0700)."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)  # mkdir(parents=True) would give the parents the umask's mode


class LocalStorage:
    """Objects as files under one directory; writes land atomically (temp file, then rename).

    Files are 0600 and directories 0700 (attachments are private), whatever the process's umask.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.label = f"local:{self.root}"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not key or not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"invalid storage key {key!r}")
        return path

    def _write(self, key: str, fill: Any) -> None:
        path = self._path(key)
        private_dirs(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mode 0600, kept by the rename
        try:
            with os.fdopen(fd, "wb") as out:
                fill(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put_file(self, key: str, path: Path, *, content_type: str) -> None:
        """Copy the file in."""

        def fill(out: Any) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, out, CHUNK)

        await to_thread.run_sync(self._write, key, fill)

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """Write a small object."""
        await to_thread.run_sync(self._write, key, lambda out: out.write(data))

    async def stat(self, key: str) -> ObjectInfo | None:
        """The file's size and modification time."""
        try:
            st = await to_thread.run_sync(os.stat, self._path(key))
        except FileNotFoundError:
            return None
        return ObjectInfo(key, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC))

    async def read(self, key: str, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Read the file in chunks, in a worker thread."""
        try:
            handle = await to_thread.run_sync(open, self._path(key), "rb")
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        try:
            await to_thread.run_sync(handle.seek, start)
            left = length
            while left is None or left > 0:
                chunk = await to_thread.run_sync(handle.read, CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        """Unlink the file and prune empty directories up to the root."""

        def remove() -> None:
            path = self._path(key)
            path.unlink(missing_ok=True)
            parent = path.parent
            while parent != self.root:
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent

        await to_thread.run_sync(remove)

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Walk the directory (temp files of unfinished writes are skipped)."""

        def walk() -> list[ObjectInfo]:
            found = []
            for dirpath, _, files in os.walk(self.root):
                for name in files:
                    if name.startswith(".tmp-"):
                        continue
                    full = Path(dirpath) / name
                    key = full.relative_to(self.root).as_posix()
                    if key.startswith(prefix):
                        st = full.stat()
                        found.append(ObjectInfo(key, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)))
            return sorted(found, key=lambda o: o.key)

        for info in await to_thread.run_sync(walk):
            yield info

    async def download_url(
        self, key: str, *, expires_s: int, filename: str, content_type: str, inline: bool
    ) -> str | None:
        """Files on disk are served by the API itself."""
        return None

    async def upload_form(self, key: str, *, max_bytes: int, expires_s: int) -> dict[str, Any] | None:
        """Uploads to disk go through the API."""
        return None


class S3Storage:
    """Objects in an S3 bucket (or any S3-compatible endpoint), through boto3 in worker threads."""

    def __init__(self, bucket: str, *, region: str | None = None, endpoint_url: str | None = None) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.label = f"s3://{bucket}" + (f" at {endpoint_url}" if endpoint_url else "")
        config = Config(
            signature_version="s3v4", connect_timeout=5, read_timeout=30, max_pool_connections=32,
            retries={"max_attempts": 3, "mode": "standard"},
            # custom endpoints (MinIO, moto) rarely have per-bucket DNS names
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        self.client = boto3.session.Session().client(
            "s3", region_name=region, endpoint_url=endpoint_url, config=config
        )
        self.transfer = TransferConfig(
            multipart_threshold=S3_PART_BYTES, multipart_chunksize=S3_PART_BYTES, max_concurrency=S3_PART_CONCURRENCY
        )

    async def put_file(self, key: str, path: Path, *, content_type: str) -> None:
        """Upload, in parts of 8 MiB past that size."""
        await to_thread.run_sync(lambda: self.client.upload_file(
            str(path), self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=self.transfer
        ))

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """One PUT."""
        await to_thread.run_sync(lambda: self.client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
        ))

    async def stat(self, key: str) -> ObjectInfo | None:
        """HEAD the object."""
        from botocore.exceptions import ClientError

        try:
            head = await to_thread.run_sync(lambda: self.client.head_object(Bucket=self.bucket, Key=key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(key, int(head["ContentLength"]), head["LastModified"].astimezone(dt.UTC))

    async def read(self, key: str, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """A ranged GET, read in chunks."""
        from botocore.exceptions import ClientError

        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start or length is not None:
            args["Range"] = f"bytes={start}-" + (str(start + length - 1) if length is not None else "")
        if length == 0:
            return
        try:
            response = await to_thread.run_sync(lambda: self.client.get_object(**args))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise ObjectMissing(key) from None
            raise
        body = response["Body"]
        try:
            while chunk := await to_thread.run_sync(body.read, CHUNK):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        """DELETE (S3 answers success for a missing key too)."""
        await to_thread.run_sync(lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """ListObjectsV2, page by page."""
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": 1000}
            if token:
                args["ContinuationToken"] = token
            page = await to_thread.run_sync(lambda a=args: self.client.list_objects_v2(**a))
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"], int(item["Size"]), item["LastModified"].astimezone(dt.UTC))
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    async def download_url(
        self, key: str, *, expires_s: int, filename: str, content_type: str, inline: bool
    ) -> str | None:
        """A presigned GET that makes S3 answer with our Content-Type and Content-Disposition."""
        params = {
            "Bucket": self.bucket, "Key": key, "ResponseContentType": content_type,
            "ResponseContentDisposition": content_disposition(filename, inline=inline),
        }
        return await to_thread.run_sync(lambda: self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_s
        ))

    async def upload_form(self, key: str, *, max_bytes: int, expires_s: int) -> dict[str, Any] | None:
        """A presigned POST limited to this key and 1..max_bytes bytes."""
        return await to_thread.run_sync(lambda: self.client.generate_presigned_post(
            self.bucket, key, Conditions=[["content-length-range", 1, max_bytes]], ExpiresIn=expires_s
        ))


def open_storage(location: StorageLocation) -> Storage:
    """The implementation a location names."""
    if location.backend == "s3":
        assert location.bucket is not None
        return S3Storage(location.bucket, region=location.region, endpoint_url=location.endpoint_url)
    assert location.dir is not None
    return LocalStorage(location.dir)


@dataclass(frozen=True, slots=True)
class Copied:
    """The result of streaming an object between storages."""

    size: int
    sha256: str


async def copy_object(source: Storage, target: Storage, key: str, *, content_type: str, spool_dir: Path) -> Copied:
    """Copy one object across storages through a temp file (constant memory); returns size and SHA-256."""
    private_dirs(spool_dir)
    fd, name = tempfile.mkstemp(dir=spool_dir, prefix=f"copy-{uuid.uuid4().hex[:8]}-")
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in source.read(key):
                digest.update(chunk)
                size += len(chunk)
                await to_thread.run_sync(out.write, chunk)
        await target.put_file(key, path, content_type=content_type)
    finally:
        path.unlink(missing_ok=True)
    return Copied(size, digest.hexdigest())


@dataclass
class Storages:
    """This region's storage, the other regions' (for replication and fallback), and a local spool directory."""

    region: str
    local: Storage
    peers: dict[str, Storage]
    spool_dir: Path
    cdn: CloudFrontUrls | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Storages:
        """Build every configured storage (the settings' own region is never a peer)."""
        peers = {name: open_storage(loc) for name, loc in settings.storage_regions.items() if name != settings.region}
        cdn = None
        if settings.cloudfront_url:
            from orbitask.core.cdn import CloudFrontUrls

            cdn = CloudFrontUrls(settings.cloudfront_url, settings.cloudfront_key_id,
                                 settings.cloudfront_private_key.get_secret_value().encode())
        return cls(settings.region, open_storage(settings.local_storage), peers,
                   (settings.data_dir / "tmp").resolve(), cdn)

    def of_region(self, region: str) -> Storage | None:
        """The storage of `region` (this one's or a peer's), None when unknown."""
        return self.local if region == self.region else self.peers.get(region)
