"""Two regions sharing one database, each with its own storage: fallback downloads and the replication consumer.

Run with two local directories and with two S3 buckets (moto). The lab test with real
replicas and a WAN in between comes with the multi-region lab.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from orbitask.app import create_app
from orbitask.config import Settings, StorageLocation
from orbitask.core.storage import Storages
from orbitask.tasks.attachments import object_key, thumbnail_key
from orbitask.tasks.replication import ReplicationError, Replicator, replicate_attachment
from orbitask.tasks.schemas import AttachmentRead
from tests.api.test_attachments import a_card, png, upload
from tests.conftest import Api, assert_problem
from tests.servers import free_port

EU, AP = "eu-west-1", "ap-southeast-1"


@dataclass
class Region:
    name: str
    settings: Settings
    app: Any
    api: Api

    @property
    def storages(self) -> Storages:
        return self.app.state.runtime.files

    def replicator(self) -> Replicator:
        rt = self.app.state.runtime
        return Replicator(rt.db, self.storages, self.settings.data_dir / f"replication-{self.name}.cursor")


@pytest.fixture(params=["local", "s3"])
def locations(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, StorageLocation]:
    if request.param == "local":
        return {EU: StorageLocation(backend="local", dir=tmp_path / "eu-files"),
                AP: StorageLocation(backend="local", dir=tmp_path / "ap-files")}
    moto = request.getfixturevalue("moto_server")
    return {name: StorageLocation(backend="s3", bucket=moto.bucket(name), endpoint_url=moto.url, region="us-east-1")
            for name in (EU, AP)}


def region_settings(base: Settings, name: str, locations: dict[str, StorageLocation]) -> Settings:
    own = locations[name]
    update: dict[str, Any] = {"region": name, "storage_regions": {n: loc for n, loc in locations.items() if n != name}}
    if own.backend == "s3":
        update.update(storage_backend="s3", s3_bucket=own.bucket, s3_endpoint_url=own.endpoint_url,
                      s3_region=own.region)
    else:
        update.update(storage_backend="local", storage_dir=own.dir)
    return base.model_copy(update=update)


@pytest.fixture
async def regions(settings: Settings, locations: dict[str, StorageLocation]) -> AsyncIterator[dict[str, Region]]:
    async with AsyncExitStack() as stack:
        out = {}
        for name in (EU, AP):
            s = region_settings(settings, name, locations)
            app = create_app(s)
            await stack.enter_async_context(LifespanManager(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver"))
            out[name] = Region(name, s, app, Api(client))
        yield out


async def test_download_falls_back_to_the_origin_until_replicated(regions: dict[str, Region]) -> None:
    eu, ap = regions[EU], regions[AP]
    alice, _, card = await a_card(eu.api)
    data = png(900, 300)
    att = (await upload(eu.api, alice, card["id"], "plan.png", data, "image/png")).json()
    assert att["region"] == EU
    assert await ap.storages.local.stat(object_key(att["id"])) is None  # not replicated yet

    got = await ap.api.call(alice, "GET", f"/attachments/{att['id']}/content", expect=200)
    assert got.content == data
    part = await ap.api.call(alice, "GET", f"/attachments/{att['id']}/content", headers={"Range": "bytes=8-15"},
                             expect=206)
    assert part.content == data[8:16]
    assert (await ap.api.call(alice, "GET", f"/attachments/{att['id']}/thumbnail", expect=200)).content

    assert await ap.replicator().run_once() == 2  # the file and its preview
    assert await ap.replicator().run_once() == 0  # the cursor moved on
    assert (await ap.storages.local.stat(object_key(att["id"]))).size == len(data)  # type: ignore[union-attr]
    # the local copy now serves even when the origin has lost its own
    await eu.storages.local.delete(object_key(att["id"]))
    await eu.storages.local.delete(thumbnail_key(att["id"]))
    got = await ap.api.call(alice, "GET", f"/attachments/{att['id']}/content", expect=200)
    assert got.content == data
    assert hashlib.sha256(got.content).hexdigest() == att["sha256"]


async def test_unreachable_origin_answers_503_never_404(
    settings: Settings, regions: dict[str, Region], locations: dict[str, StorageLocation], tmp_path: Path
) -> None:
    eu = regions[EU]
    alice, _, card = await a_card(eu.api)
    att = (await upload(eu.api, alice, card["id"], "a.txt", b"committed")).json()
    dead = (StorageLocation(backend="s3", bucket="gone", endpoint_url=f"http://127.0.0.1:{free_port()}",
                            region="us-east-1")
            if locations[EU].backend == "s3" else StorageLocation(backend="local", dir=tmp_path / "unmounted"))
    cut_off = region_settings(settings, AP, {**locations, EU: dead})
    app = create_app(cut_off)
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                       base_url="http://testserver") as client:
        r = await Api(client).call(alice, "GET", f"/attachments/{att['id']}/content")
        body = assert_problem(r, 503, "attachment-unavailable")
        assert r.headers["retry-after"] == "5" and "retry" in body["detail"]
        assert await Replicator(app.state.runtime.db, app.state.runtime.files, tmp_path / "c").run_once() == 0


async def test_replication_verifies_the_checksum_and_retries(regions: dict[str, Region]) -> None:
    eu, ap = regions[EU], regions[AP]
    alice, _, card = await a_card(eu.api)
    att = (await upload(eu.api, alice, card["id"], "a.txt", b"original bytes")).json()
    tampered = ap.settings.data_dir / "tampered.txt"
    tampered.write_bytes(b"tampered bytes")
    await eu.storages.local.put_file(object_key(att["id"]), tampered, content_type="text/plain")
    with pytest.raises(ReplicationError, match="SHA-256"):
        await replicate_attachment(ap.storages, AttachmentRead.model_validate(att))
    assert await ap.storages.local.stat(object_key(att["id"])) is None
    replicator = ap.replicator()
    assert await replicator.run_once() == 0 and replicator.cursor == 0  # not skipped: retried next pass

    original = ap.settings.data_dir / "original.txt"
    original.write_bytes(b"original bytes")
    await eu.storages.local.put_file(object_key(att["id"]), original, content_type="text/plain")
    assert await replicator.run_once() == 1 and replicator.cursor > 0


async def test_reconcile_copies_what_events_missed(regions: dict[str, Region]) -> None:
    eu, ap = regions[EU], regions[AP]
    alice, _, card = await a_card(eu.api)
    first = (await upload(eu.api, alice, card["id"], "a.txt", b"one")).json()
    second = (await upload(eu.api, alice, card["id"], "b.txt", b"two")).json()
    local = (await upload(ap.api, alice, card["id"], "c.txt", b"three")).json()
    assert local["region"] == AP
    assert await ap.replicator().reconcile() == 2
    for att in (first, second):
        assert await ap.storages.local.stat(object_key(att["id"])) is not None
    assert await eu.replicator().reconcile() == 1  # and the other way round
    assert await eu.replicator().reconcile() == 0
