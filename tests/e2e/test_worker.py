"""The real `orbitask worker` process, killed mid-stream and restarted; and the jobs inside `orbitask serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import PASSWORD, TEST_SECRET
from tests.servers import orbitask_server

MENTIONS = 120


def _user(http: httpx.Client, name: str) -> tuple[dict[str, str], str, str]:
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    r = http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": name})
    assert r.status_code == 201, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    ws = http.get("/api/v1/workspaces", headers=headers).json()["items"][0]["id"]
    return headers, email, ws


def _mentioned_card(http: httpx.Client) -> tuple[dict[str, str], dict[str, str], str, str]:
    """Alice and Bob on one board; returns their headers, a card id and Alice's e-mail."""
    alice, alice_email, ws = _user(http, "alice")
    bob, _, _ = _user(http, "bob")
    token = http.post(f"/api/v1/workspaces/{ws}/invitations", json={"role": "member"}, headers=alice).json()["token"]
    assert http.post(f"/api/v1/invitations/{token}/accept", headers=bob).status_code == 200
    board = http.post(f"/api/v1/workspaces/{ws}/boards", json={"name": "B"}, headers=alice).json()
    lst = http.post(f"/api/v1/boards/{board['id']}/lists", json={"name": "L"}, headers=alice).json()
    card = http.post(f"/api/v1/lists/{lst['id']}/cards", json={"title": "C"}, headers=alice).json()
    return alice, bob, card["id"], alice_email


def _poll(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout_s} s"
        time.sleep(0.02)  # polling another process, bounded by the deadline


def _unread(http: httpx.Client, headers: dict[str, str]) -> int:
    return http.get("/api/v1/notifications/unread-count", headers=headers).json()["unread_count"]


def test_worker_killed_mid_stream_resumes_without_losing_or_repeating(tmp_path: Path) -> None:
    env = {"ORBITASK_SECRET_KEY": TEST_SECRET, "ORBITASK_WORKER_IN_SERVE": "off", "ORBITASK_LOG_JSON": "false",
           "ORBITASK_WORKER_LEASE_SECONDS": "2", "ORBITASK_WORKER_POLL_INTERVAL_SECONDS": "0.05"}
    worker_env = {**os.environ, "ORBITASK_DATA_DIR": str(tmp_path), "ORBITASK_LOG_LEVEL": "WARNING", **env}
    with orbitask_server(tmp_path, env=env) as url, httpx.Client(base_url=url, timeout=30) as http:
        alice, bob, card, alice_email = _mentioned_card(http)
        log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
        command = [sys.executable, "-m", "orbitask.cli", "worker", "--jobs", "notifications"]
        first = subprocess.Popen(command, env=worker_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            for i in range(MENTIONS):
                r = http.post(f"/api/v1/cards/{card}/comments", json={"body": f"@{alice_email} {i}"}, headers=bob)
                assert r.status_code == 201, r.text
                if i == MENTIONS // 4:  # part of the stream is handled: kill the worker while writes go on
                    _poll(lambda: _unread(http, alice) > 0, 30, "the worker notified nobody")
                    first.send_signal(signal.SIGKILL)  # no goodbye: its lease must expire
                    first.wait(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(timeout=10)
        partial = _unread(http, alice)
        assert 0 < partial < MENTIONS
        second = subprocess.Popen(command, env=worker_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _poll(lambda: _unread(http, alice) >= MENTIONS, 60, f"not all {MENTIONS} notifications arrived")
            assert _unread(http, alice) == MENTIONS
            page = http.get("/api/v1/notifications?limit=200", headers=alice).json()["items"]
            assert len(page) == MENTIONS == len({n["event_id"] for n in page})
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=15) == 0, (tmp_path / "worker.log").read_text()
            log.close()
        assert "Worker stopped." in (tmp_path / "worker.log").read_text()


def test_serve_runs_the_jobs_itself_on_sqlite(tmp_path: Path) -> None:
    env = {"ORBITASK_SECRET_KEY": TEST_SECRET, "ORBITASK_WORKER_POLL_INTERVAL_SECONDS": "0.05"}
    with orbitask_server(tmp_path, env=env) as url, httpx.Client(base_url=url, timeout=30) as http:
        alice, bob, card, alice_email = _mentioned_card(http)
        http.post(f"/api/v1/cards/{card}/comments", json={"body": f"@{alice_email} hi"}, headers=bob)
        _poll(lambda: _unread(http, alice) == 1, 30, "no notification from the serve process")
