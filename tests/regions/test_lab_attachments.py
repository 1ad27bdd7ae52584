"""Attachments across the lab's regions: each region keeps files in its own directory (its "bucket") and
runs a replication worker; a download where the copy has not arrived is served from the origin region.

Issue 7's lab acceptance: an attachment uploaded in eu-west-1 downloads in ap-southeast-1 immediately
(from eu-west-1's storage) and from ap-southeast-1's own copy once replicated. A write is forwarded, whole,
to the writer region, so the file lands in the writer's storage: the test first switches the writer to
eu-west-1, then the upload is stored there. ap-southeast-1's worker is held (SIGSTOP) around the first
download, so "before replication" is certain rather than a race; it is released afterwards.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from orbitask.lab import control
from orbitask.lab.procs import alive
from orbitask.lab.state import REGIONS, LabState
from orbitask.lab.workload import Client, metric, sign_up
from orbitask.tasks.attachments import object_key
from tests.regions.labs import orbitask, running_lab

EU, AP = "eu-west-1", "ap-southeast-1"
READS = "orbitask_attachment_reads_total"
FORWARDED_TO = "x-orbitask-forwarded-to"
WRITABLE_DEADLINE_S = 30.0  # nodes re-read the topology every second after a switchover
REPLICATION_DEADLINE_S = 30.0  # the worker polls every second; the lab's storage is a local directory


@pytest.fixture(scope="module")
def lab() -> Iterator[Path]:
    with running_lab("orbitask-lab-files-") as lab_dir:
        yield lab_dir


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (96, 64), "orange").save(out, "PNG")
    return out.getvalue()


async def written(client: Client, path: str, body: dict) -> dict:
    """POST with one Idempotency-Key, retried while the nodes learn of a new writer (503), bounded."""
    key = uuid.uuid4().hex
    deadline = time.monotonic() + WRITABLE_DEADLINE_S
    while True:
        r, _ = await client.call("POST", path, json=body, headers={"Idempotency-Key": key})
        if r.status_code < 300:
            return r.json()
        assert r.status_code == 503 and time.monotonic() < deadline, (r.status_code, r.text[:300])
        await asyncio.sleep(0.2)  # retry pacing; the deadline bounds the wait


async def arrived(path: Path) -> None:
    """Wait, bounded, until the replication worker put the file at `path`."""
    deadline = time.monotonic() + REPLICATION_DEADLINE_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} not replicated within {REPLICATION_DEADLINE_S:.0f} s"
        await asyncio.sleep(0.1)  # polling a file the worker writes atomically; the deadline bounds it


async def download(client: Client, attachment: dict) -> httpx.Response:
    r, _ = await client.call("GET", attachment["content_url"].removeprefix("/api/v1"))
    assert r.status_code == 200, (r.status_code, r.text[:300])
    return r


def test_every_region_has_its_own_storage_and_a_replication_worker(lab: Path) -> None:
    info = json.loads(orbitask("lab", "status", "--dir", str(lab), "--json").stdout)
    for region, row in info["regions"].items():
        assert row["worker"], (region, row)
        assert Path(row["storage"]) == (lab / region / "files").resolve()
    env = control.node_env(LabState.load(lab), AP)
    assert Path(env["ORBITASK_STORAGE_DIR"]) == (lab / AP / "files").resolve()
    peers = json.loads(env["ORBITASK_STORAGE_REGIONS"])
    assert {name: Path(loc["dir"]) for name, loc in peers.items()} == {
        r: (lab / r / "files").resolve() for r in REGIONS if r != AP}


async def test_an_upload_in_eu_west_1_downloads_in_ap_southeast_1_from_the_origin_then_locally(lab: Path) -> None:
    eu = await sign_up(EU, LabState.load(lab).entry_url(EU))
    orbitask("lab", "switchover", "--dir", str(lab), "--to", EU)
    state = LabState.load(lab)
    assert state.writer == EU
    ap = Client(AP, httpx.AsyncClient(base_url=state.entry_url(AP), timeout=30), dict(eu.headers))
    try:
        board = await written(eu, f"/workspaces/{eu.workspace_id}/boards", {"name": "Attachments"})
        lst = await written(eu, f"/boards/{board['id']}/lists", {"name": "Designs"})
        card = await eu.ok("POST", f"/lists/{lst['id']}/cards", json={"title": "Mock-up"})
        data = png()
        attachment = await _upload_and_download_held(eu, ap, state, card["id"], data)
        key = object_key(uuid.UUID(attachment["id"]))
        # released: the worker copies the file into ap-southeast-1's directory, and downloads read it there
        await arrived(control.storage_dir(state, AP) / key)
        assert (control.storage_dir(state, AP) / key).read_bytes() == data
        origin = await metric(state.api_url(AP), READS, {"source": "origin"})
        local = await metric(state.api_url(AP), READS, {"source": "local"})
        r = await download(ap, attachment)
        assert r.content == data and FORWARDED_TO not in r.headers
        assert await metric(state.api_url(AP), READS, {"source": "local"}) == local + 1
        assert await metric(state.api_url(AP), READS, {"source": "origin"}) == origin
        await arrived(control.storage_dir(state, "us-east-1") / key)  # every other region gets its copy
    finally:
        await ap.http.aclose()
        await eu.http.aclose()


async def _upload_and_download_held(eu: Client, ap: Client, state: LabState, card_id: str, data: bytes) -> dict:
    """Upload in eu-west-1, then download in ap-southeast-1 while its worker is stopped; returns the attachment."""
    worker = state.regions[AP].worker_pid
    assert worker is not None and alive(worker)
    os.kill(worker, signal.SIGSTOP)
    try:
        attachment = await eu.ok("POST", f"/cards/{card_id}/attachments",
                                 files={"file": ("mock-up.png", data, "image/png")})
        assert attachment["region"] == EU and attachment["content_type"] == "image/png"
        key = object_key(uuid.UUID(attachment["id"]))
        assert (control.storage_dir(state, EU) / key).read_bytes() == data
        # ap-southeast-1's replica holds the row, so the read is served there (not forwarded to the writer)
        await asyncio.to_thread(control.sync_replicas, LabState.load(state.dir))
        ap.token = eu.token
        origin = await metric(state.api_url(AP), READS, {"source": "origin"})
        r = await download(ap, attachment)
        assert r.content == data and FORWARDED_TO not in r.headers
        assert await metric(state.api_url(AP), READS, {"source": "origin"}) == origin + 1
        assert not (control.storage_dir(state, AP) / key).exists()
        return attachment
    finally:
        os.kill(worker, signal.SIGCONT)


def test_down_stops_the_workers(lab: Path) -> None:
    pids = [r.worker_pid for r in LabState.load(lab).regions.values()]
    orbitask("lab", "down", "--dir", str(lab))
    info = json.loads(orbitask("lab", "status", "--dir", str(lab), "--json").stdout)
    assert not any(row["worker"] for row in info["regions"].values())
    assert not any(alive(pid) for pid in pids)
