"""Garbage collection of attachment files: deleted past the grace period, orphans, and what must be kept."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from orbitask.tasks.attachments import object_key
from orbitask.tasks.jobs import purge_trash
from orbitask.tasks.replication import collect_garbage
from tests.api.test_attachments import (  # noqa: F401 - the storage-parametrised settings
    a_card,
    attachment_rows,
    png,
    settings,
    storage_backend,
    stored_keys,
    upload,
)
from tests.conftest import Api

DAY = 86400


async def test_gc_removes_deleted_and_orphaned_files_after_the_grace_period(api: Api, app: Any, tmp_path: Path) -> None:
    rt = app.state.runtime
    storage = rt.files.local
    alice, _, card = await a_card(api)
    kept = (await upload(api, alice, card["id"], "kept.png", png(), "image/png")).json()
    gone = (await upload(api, alice, card["id"], "gone.png", png(), "image/png")).json()
    await api.ok(alice, "DELETE", f"/attachments/{gone['id']}")
    orphan = object_key(uuid.uuid4())  # stored, but its row never committed (a crash, an unconfirmed upload)
    stray = tmp_path / "stray.bin"
    stray.write_bytes(b"x" * 1000)
    await storage.put_file(orphan, stray, content_type="application/octet-stream")
    await storage.put_file("other/not-ours.txt", stray, content_type="text/plain")
    before = sorted(await stored_keys(app))
    assert len(before) == 6

    # within the grace period nothing goes
    report = await collect_garbage(rt.db, storage, grace_s=DAY)
    assert (report.objects_deleted, report.rows_purged) == (0, 0)
    assert sorted(await stored_keys(app)) == before

    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=DAY + 60)
    report = await collect_garbage(rt.db, storage, grace_s=DAY, now=later)
    assert report.rows_purged == 1
    assert report.objects_deleted == 3  # the deleted attachment's file and preview, the orphan
    assert report.bytes_freed >= 1000
    assert sorted(await stored_keys(app)) == sorted([
        f"attachments/{kept['id']}/original", f"attachments/{kept['id']}/thumbnail.webp", "other/not-ours.txt"])
    assert await attachment_rows(app) == 1
    got = await api.call(alice, "GET", f"/attachments/{kept['id']}/content", expect=200)
    assert got.content == png()
    activity = await api.ok(alice, "GET", f"/cards/{card['id']}/activity")
    assert "attachment.deleted" in [a["type"] for a in activity]  # the history stays


async def test_files_of_a_trashed_card_stay_until_the_trash_is_purged(api: Api, app: Any) -> None:
    rt = app.state.runtime
    alice, _, card = await a_card(api)
    await upload(api, alice, card["id"], "a.txt", b"a")
    await api.ok(alice, "DELETE", f"/cards/{card['id']}")
    assert await attachment_rows(app) == 1  # in the trash: restorable with its files
    assert len(await stored_keys(app)) == 1
    retention = rt.settings.trash_retention_days
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=retention, hours=1)
    await purge_trash(rt.db, rt.files.local, retention_days=retention, now=later)
    assert await attachment_rows(app) == 0
    assert await stored_keys(app) == []


async def test_worker_gc_command(api: Api, app: Any, storage_backend: str) -> None:  # noqa: F811
    """`orbitask worker gc` on the same database and storage, as an operator would run it."""
    cfg = app.state.runtime.settings
    alice, _, card = await a_card(api)
    att = (await upload(api, alice, card["id"], "a.txt", b"a")).json()
    await api.ok(alice, "DELETE", f"/attachments/{att['id']}")
    env = {"ORBITASK_DATA_DIR": str(cfg.data_dir), "ORBITASK_SECRET_KEY": cfg.signing_key,
           "ORBITASK_DATABASE_URL": cfg.writer_url, "ORBITASK_STORAGE_BACKEND": cfg.storage_backend,
           "ORBITASK_LOG_LEVEL": "WARNING"}
    if storage_backend == "s3":
        env.update(ORBITASK_S3_BUCKET=cfg.s3_bucket, ORBITASK_S3_ENDPOINT_URL=cfg.s3_endpoint_url,
                   ORBITASK_S3_REGION="us-east-1")
    done = subprocess.run([sys.executable, "-m", "orbitask.cli", "worker", "gc", "--grace", "0"],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1 deleted" in done.stdout and "1 attachment rows purged" in done.stdout
    assert await stored_keys(app) == []
