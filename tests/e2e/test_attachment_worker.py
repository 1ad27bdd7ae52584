"""Two real regions (two `orbitask serve` processes on one database, each with its own file directory)
and the real `orbitask worker run` replicating between them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import PASSWORD, TEST_SECRET
from tests.servers import orbitask_server

EU, AP = "eu-west-1", "ap-southeast-1"
REPLICATION_DEADLINE_S = 30.0


def region_env(tmp_path: Path, name: str, other: str) -> dict[str, str]:
    return {
        "ORBITASK_REGION": name,
        "ORBITASK_SECRET_KEY": TEST_SECRET,
        "ORBITASK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        "ORBITASK_STORAGE_DIR": str(tmp_path / f"{name}-files"),
        "ORBITASK_STORAGE_REGIONS": json.dumps({other: {"backend": "local", "dir": str(tmp_path / f"{other}-files")}}),
    }


def test_upload_in_one_region_downloads_in_the_other_at_once_and_replicates(tmp_path: Path) -> None:
    (tmp_path / EU).mkdir()
    (tmp_path / AP).mkdir()
    eu_env, ap_env = region_env(tmp_path, EU, AP), region_env(tmp_path, AP, EU)
    with orbitask_server(tmp_path / EU, env=eu_env) as eu_url, orbitask_server(tmp_path / AP, env=ap_env) as ap_url:
        eu, ap = httpx.Client(base_url=eu_url, timeout=30), httpx.Client(base_url=ap_url, timeout=30)
        r = eu.post("/api/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD, "name": "Ada"})
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        ws = eu.get("/api/v1/workspaces", headers=auth).json()["items"][0]["id"]
        board = eu.post(f"/api/v1/workspaces/{ws}/boards", json={"name": "B"}, headers=auth).json()
        lst = eu.post(f"/api/v1/boards/{board['id']}/lists", json={"name": "L"}, headers=auth).json()
        card = eu.post(f"/api/v1/lists/{lst['id']}/cards", json={"title": "C"}, headers=auth).json()
        data = os.urandom(300_000)
        att = eu.post(f"/api/v1/cards/{card['id']}/attachments", files={"file": ("plan.pdf", data)},
                      headers=auth).json()
        assert att["region"] == EU

        replica = tmp_path / f"{AP}-files" / "attachments" / att["id"] / "original"
        assert not replica.exists()
        got = ap.get(att["content_url"], headers=auth)  # immediately: served from the origin's storage
        assert got.status_code == 200 and got.content == data

        log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
        worker = subprocess.Popen(
            [sys.executable, "-m", "orbitask.cli", "worker", "run", "--interval", "0.2", "--gc-every", "0"],
            env={**os.environ, "ORBITASK_DATA_DIR": str(tmp_path / AP), "ORBITASK_LOG_LEVEL": "WARNING", **ap_env},
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + REPLICATION_DEADLINE_S
            while not replica.exists():
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                assert time.monotonic() < deadline, "not replicated in time: " + (tmp_path / "worker.log").read_text()
                time.sleep(0.1)  # polling another process's progress, bounded by the deadline
        finally:
            worker.terminate()
            worker.wait(timeout=15)
            log.close()
        assert replica.read_bytes() == data
        (tmp_path / f"{EU}-files" / "attachments" / att["id"] / "original").unlink()  # the origin loses its copy
        got = ap.get(att["content_url"], headers=auth)
        assert got.status_code == 200 and got.content == data  # the local copy serves
        eu.close()
        ap.close()
