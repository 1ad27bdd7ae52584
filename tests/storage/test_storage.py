"""The Storage implementations: a local directory on disk, and S3 against a real S3-compatible server (moto)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import httpx
import pytest

from orbitask.core.storage import LocalStorage, ObjectMissing, S3Storage, Storage, copy_object


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "files")
    moto = request.getfixturevalue("moto_server")
    return S3Storage(moto.bucket(), region="us-east-1", endpoint_url=moto.url)


async def read_all(storage: Storage, key: str, start: int = 0, length: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key, start, length)])


async def test_put_stat_read_list_delete(storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(700_000)  # several read chunks
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    await storage.put_file("attachments/a/original", source, content_type="application/octet-stream")
    await storage.put_bytes("attachments/a/thumbnail.webp", b"thumb", content_type="image/webp")
    await storage.put_bytes("attachments/b/original", b"bee", content_type="text/plain")

    info = await storage.stat("attachments/a/original")
    assert info is not None and info.size == len(data)
    assert abs(info.modified - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert await storage.stat("attachments/missing") is None
    assert await read_all(storage, "attachments/a/original") == data
    assert await read_all(storage, "attachments/a/original", 1000, 10) == data[1000:1010]
    assert await read_all(storage, "attachments/a/original", 699_990) == data[699_990:]
    assert await read_all(storage, "attachments/a/original", 5, 0) == b""
    with pytest.raises(ObjectMissing):
        await read_all(storage, "attachments/missing")

    assert [o.key async for o in storage.list("attachments/")] == [
        "attachments/a/original", "attachments/a/thumbnail.webp", "attachments/b/original"]
    assert [o.key async for o in storage.list("attachments/b")] == ["attachments/b/original"]
    await storage.put_bytes("attachments/b/original", b"replaced", content_type="text/plain")
    assert await read_all(storage, "attachments/b/original") == b"replaced"

    await storage.delete("attachments/a/original")
    await storage.delete("attachments/a/original")  # already gone: no error
    assert await storage.stat("attachments/a/original") is None
    assert [o.key async for o in storage.list("")] == ["attachments/a/thumbnail.webp", "attachments/b/original"]


async def test_copy_between_storages_checks_size_and_hash(tmp_path: Path, moto_server: object) -> None:
    local = LocalStorage(tmp_path / "files")
    bucket = S3Storage(moto_server.bucket(), region="us-east-1", endpoint_url=moto_server.url)  # type: ignore[attr-defined]
    data = os.urandom(300_000)
    await local.put_bytes("k/original", data, content_type="application/pdf")
    copied = await copy_object(local, bucket, "k/original", content_type="application/pdf", spool_dir=tmp_path / "tmp")
    assert (copied.size, copied.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert await read_all(bucket, "k/original") == data
    assert list((tmp_path / "tmp").iterdir()) == []


def test_local_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "files")
    for key in ("../outside", "a/../../outside", "/etc/passwd", "", "."):
        with pytest.raises(ValueError, match="invalid storage key"):
            storage._path(key)


async def test_local_storage_has_no_presigned_urls(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    assert await storage.download_url("k", expires_s=60, filename="a", content_type="text/plain", inline=True) is None
    assert await storage.upload_form("k", max_bytes=10, expires_s=60) is None


async def test_s3_presigned_get_and_post(moto_server: object) -> None:
    storage = S3Storage(moto_server.bucket(), region="us-east-1", endpoint_url=moto_server.url)  # type: ignore[attr-defined]
    form = await storage.upload_form("attachments/x/original", max_bytes=1000, expires_s=60)
    assert form is not None
    assert '"content-length-range", 1, 1000' in __import__("base64").b64decode(form["fields"]["policy"]).decode()
    async with httpx.AsyncClient() as client:
        posted = await client.post(form["url"], data=form["fields"], files={"file": ("a.txt", b"direct")})
        assert posted.status_code in (200, 204), posted.text
        url = await storage.download_url("attachments/x/original", expires_s=60, filename="naïve report.txt",
                                         content_type="text/plain; charset=utf-8", inline=False)
        assert url is not None and "X-Amz-Expires=60" in url
        got = await client.get(url)
    assert got.content == b"direct"
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"na_ve report.txt\"; filename*=UTF-8''na%C3%AFve%20report.txt")
