"""What the logs say when things go away: the database (a few lines per outage, not one per retry) and a
browser's socket (nothing above debug).

The database test runs one app (TestClient) with its background loops (relay, jobs, topology refresh) on a
MariaDB server of its own, stops the server until every loop has retried a few times, starts it again on the
same port and data directory, and reads what was logged: per loop one `dependency_lost` warning and one
`dependency_restored` line with the outage's duration, the retries at debug, their waits following the
backoff schedule, and the connection attempts the database saw bounded by the retries logged.

The socket test runs a real `orbitask serve` (uvicorn) and ends board sockets every way a browser tab does
(a closing handshake, a dropped connection, while events are on their way, and a client that stopped reading
and then reset): uvicorn used to log `ERROR: Exception in ASGI application` with a traceback for them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import logging
import os
import shutil
import socket
import struct
import tempfile
import termios
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import structlog
import websockets
from sqlalchemy import event
from starlette.testclient import TestClient

from orbitask.app import create_app
from orbitask.config import RegionConfig
from orbitask.core import jobs
from orbitask.core.backoff import Backoff
from orbitask.realtime import relay
from orbitask.regions import topology
from tests.conftest import PASSWORD, TEST_DATABASE, make_settings
from tests.dbservers import PASSWORD as DB_PASSWORD
from tests.dbservers import MariaDB, MissingServer
from tests.realtime.test_gateway import Client
from tests.servers import free_port, orbitask_server

RETRIES = 3  # failed retries each loop shows before the server comes back
DEADLINE_S = 90.0  # generous bound on every wait below (a busy machine); never reached when things work
# the loops that reach the database all the time; others (reminders: once a minute) may not try during the outage
LOOPS = ("relay", "topology", "job:notifications", "job:webhook-fanout", "job:webhook-delivery")
IN_FLIGHT = 10  # connects already under way when the server stopped (pool pings, a step between two reads)
# ~60 KB each: a replay of three batch frames (64 messages each, ~4 MB), more than the kernel buffers of a
# loopback connection take in (the sender's at most net.ipv4.tcp_wmem's 4 MiB; the receiver's is kept tiny)
BACKED_UP_CARDS = 130


def _until(condition: Callable[[], Any], what: str) -> Any:
    """Poll `condition` until it is truthy (bounded)."""
    deadline = time.monotonic() + DEADLINE_S
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S:.0f} s: {what}")
        time.sleep(0.05)  # polling the app's logs, bounded by the deadline
    return result


@pytest.fixture(scope="module")
def mariadb() -> Iterator[tuple[MariaDB, str]]:
    """A server of our own, stopped and started by the test (the session's server is shared)."""
    from orbitask.core.migrate import upgrade

    base = Path(tempfile.mkdtemp(prefix="orbitask-outage-"))
    server = MariaDB(base, binlog=False)
    try:
        try:
            server.start()
        except MissingServer as exc:
            pytest.fail(str(exc), pytrace=False)
        server.sql(f"CREATE DATABASE {TEST_DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        url = server.url(TEST_DATABASE)
        upgrade(url)
        yield server, url
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _schedule(loop: str, job_interval: float) -> Backoff:
    """The backoff each loop is meant to follow (from their modules' constants)."""
    if loop == "relay":
        return Backoff(min_s=relay.RETRY_MIN_S, max_s=relay.RETRY_MAX_S)
    if loop == "topology":
        return Backoff(min_s=topology.REFRESH_S, max_s=topology.RETRY_MAX_S)
    return Backoff(min_s=job_interval, max_s=jobs.ERROR_BACKOFF_MAX_S)


def test_a_database_outage_logs_once_per_loop_and_retries_back_off(
    mariadb: tuple[MariaDB, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server, url = mariadb
    monkeypatch.setattr(topology, "REFRESH_S", 0.25)  # its healthy pace, and so its first retry: a quicker test
    settings = make_settings(
        tmp_path, database_url=url, log_level="DEBUG", worker_in_serve="on", writer_region="local",
        regions=[RegionConfig(name="local", internal_url="http://127.0.0.1:9"),  # two regions: topology refreshes
                 RegionConfig(name="far", internal_url="http://127.0.0.1:9")],
    )
    app = create_app(settings)
    runtime = app.state.runtime
    engines = {id(e): e for e in (runtime.db.writer, runtime.db.reader, runtime.db.primary_reader)}
    connects: list[float] = []
    for engine in engines.values():  # every connection attempt, failed or not, as the database driver is asked
        event.listen(engine.sync_engine, "do_connect", lambda *_: connects.append(time.monotonic()))
    caplog.set_level(logging.WARNING)  # the libraries' own lines (the pool's, the driver's) count as well
    with structlog.testing.capture_logs() as logs, TestClient(app) as http:
        alice = Client(http, "alice")
        alice.do("POST", f"/workspaces/{alice.workspace}/boards", json={"name": "Before"})

        def lines(name: str, loop: str | None = None) -> list[dict[str, Any]]:
            return [e for e in list(logs) if e["event"] == name and (loop is None or e["loop"] == loop)]

        caplog.clear()
        start = len(logs)
        server.stop()
        stopped = time.monotonic()
        try:
            _until(lambda: all(len(lines("dependency_retry", loop)) >= RETRIES for loop in LOOPS),
                   f"every loop retried {RETRIES} times")
        finally:
            server.start()  # same data directory and port
        _until(lambda: all(lines("dependency_restored", loop) for loop in LOOPS), "every loop saw the database back")
        outage = list(logs)[start:]
        library_lines = [r.getMessage()[:200] for r in caplog.records]
        attempts = [t for t in connects if t >= stopped]
        # the app works again without a restart
        alice.do("POST", f"/workspaces/{alice.workspace}/boards", json={"name": "After"})

    loud = [e for e in outage if e["log_level"] != "debug"]
    for loop in LOOPS:
        (lost,) = [e for e in loud if e["event"] == "dependency_lost" and e["loop"] == loop]
        assert lost["log_level"] == "warning" and lost["what"] == "database", lost
        assert lost["error"].endswith("Error") and lost["detail"], lost  # the driver's error, named and quoted
        assert DB_PASSWORD not in str(lost)
        (restored,) = [e for e in loud if e["event"] == "dependency_restored" and e["loop"] == loop]
        assert restored["log_level"] == "info" and restored["what"] == "database", restored
        retries = [e for e in outage if e["event"] == "dependency_retry" and e["loop"] == loop]
        assert restored["attempts"] == 1 + len(retries), (restored, len(retries))
        # each failure's wait is drawn from the schedule's n-th range: it grows, and is bounded
        waits = [lost["retry_in"], *(e["retry_in"] for e in retries)]
        schedule = _schedule(loop, settings.worker_poll_interval_seconds)
        for n, wait in enumerate(waits, start=1):
            low, high = schedule.bounds(n)
            assert low - 0.001 <= wait <= high + 0.001, (loop, n, wait, (low, high))
        # and the loop did wait them: the outage, as it measured it, spans every wait before the attempt that worked
        assert sum(waits) <= restored["down_seconds"] + 0.01, (loop, waits, restored)
    # nothing else above debug: one warning and one info line per loop (a loop that tried rarely may add its own)
    others = [e for e in loud if e["event"] not in ("dependency_lost", "dependency_restored")]
    assert not others, others
    assert len(loud) <= 2 * (len(LOOPS) + 1), [(e["event"], e.get("loop")) for e in loud]
    assert len(library_lines) <= 3, library_lines
    # the database was asked about as often as the loops say they retried (a step may connect twice), not every poll
    failures = sum(1 + len([e for e in outage if e["event"] == "dependency_retry" and e["loop"] == loop])
                   for loop in {e["loop"] for e in outage if e["event"] == "dependency_lost"})
    assert len(attempts) <= 2 * failures + IN_FLIGHT, (len(attempts), failures)


# -- sockets that close ---------------------------------------------------------------------------------------


async def _sockets_open_and_close(base: str) -> int:
    """Open board sockets and end them every way a browser does; returns how many were opened."""
    ws_base = base.replace("http://", "ws://")
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        email = f"tabs-{uuid.uuid4().hex[:8]}@example.com"
        r = await http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "Tabs"})
        assert r.status_code == 201, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        workspace = (await http.get("/api/v1/workspaces", headers=headers)).json()["items"][0]["id"]
        board = (await http.post(f"/api/v1/workspaces/{workspace}/boards", json={"name": "B"}, headers=headers)).json()
        lst = (await http.post(f"/api/v1/boards/{board['id']}/lists", json={"name": "L"}, headers=headers)).json()
        subscribe = orjson.dumps({"type": "subscribe", "board_id": board["id"]}).decode()

        async def open_socket() -> Any:
            ticket = (await http.post("/api/v1/ws/tickets", headers=headers)).json()["ticket"]
            return await websockets.connect(f"{ws_base}/api/v1/ws?ticket={ticket}")

        async def subscribed(ws: Any) -> None:
            await ws.send(subscribe)
            for _ in range(20):  # bounded: `subscribed` comes first, maybe in a batch
                if any(m["type"] == "subscribed" for m in _messages(await ws.recv())):
                    return
            raise AssertionError("no `subscribed`")

        async def cards(n: int, description: str = "") -> None:
            for i in range(n):
                r = await http.post(f"/api/v1/lists/{lst['id']}/cards", headers=headers,
                                    json={"title": f"c{i}", "description": description})
                assert r.status_code == 201, r.text

        opened = 0
        for ending in ("close", "abort", "abort_before_subscribed", "abort_while_sending", "close_while_sending"):
            ws = await open_socket()
            opened += 1
            if ending == "abort_before_subscribed":
                await ws.send(subscribe)
            else:
                await subscribed(ws)
            if ending.endswith("_while_sending"):
                await cards(5)  # events on their way to the socket as it goes
            if ending.startswith("close"):
                await ws.close()
            else:
                ws.transport.abort()  # a closed tab or a lost network: no closing handshake
        # a tab that stops reading, then goes: the server is in the middle of a send when it learns
        await cards(BACKED_UP_CARDS, description="x" * 60_000)
        ticket = (await http.post("/api/v1/ws/tickets", headers=headers)).json()["ticket"]
        sock = await asyncio.to_thread(_stalled_socket, base, f"/api/v1/ws?ticket={ticket}")
        opened += 1
        replay = orjson.dumps({"type": "subscribe", "board_id": board["id"], "after_version": 0}).decode()
        sock.sendall(_text_frame(replay))
        await asyncio.to_thread(_until, lambda: _unread(sock) > 1024, "the replay reached the socket")
        # more than `subscribed` (~100 bytes) arrived: the replay's first batch frame was written, and in the same
        # turn of its event loop the server's writer went on until the buffers were full and it had to wait for room
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset, as a lost network
        return opened


def _stalled_socket(base: str, path: str) -> socket.socket:
    """A WebSocket opened by hand that will read nothing past the handshake, with a tiny receive buffer."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(DEADLINE_S)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    response = b""
    while not response.endswith(b"\r\n\r\n"):  # a byte at a time: nothing past the handshake is read
        byte = sock.recv(1)
        assert byte, response
        response += byte
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def _text_frame(text: str) -> bytes:
    """A client's (masked) text frame."""
    payload, mask = text.encode(), os.urandom(4)
    size = bytes([0x80 | len(payload)]) if len(payload) < 126 else bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
    return b"\x81" + size + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _unread(sock: socket.socket) -> int:
    """Bytes the server sent that sit unread in the socket's receive buffer."""
    return struct.unpack("i", fcntl.ioctl(sock, termios.FIONREAD, b"\0\0\0\0"))[0]


def _messages(frame: str | bytes) -> list[dict[str, Any]]:
    message = orjson.loads(frame)
    return message["messages"] if message["type"] == "batch" else [message]


def _open_sockets(base: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith("orbitask_websockets "):
            return float(line.split()[1])
    raise AssertionError("no orbitask_websockets gauge")


def test_sockets_that_close_or_drop_log_nothing_above_debug(tmp_path: Path) -> None:
    port = free_port()  # with its public URL given: an unset one is a warning at start, not this test's business
    env = {"ORBITASK_LOG_LEVEL": "DEBUG", "ORBITASK_LOG_JSON": "true", "ORBITASK_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    with orbitask_server(tmp_path, env=env, port=port) as base:
        assert asyncio.run(_sockets_open_and_close(base)) == 6
        # the server has finished every socket (its handler returned, or raised) once the gauge is back to 0
        _until(lambda: _open_sockets(base) == 0, "the server saw every socket go")
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-5000:]
    assert "Task exception was never retrieved" not in log, log[-5000:]
    ours = []
    for line in log.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(orjson.JSONDecodeError):
                ours.append(orjson.loads(line))
                assert ours[-1].get("level") not in ("warning", "error", "critical"), line
        else:
            assert not line.startswith(("ERROR", "WARNING", "CRITICAL")), line
    # the send interrupted by the reset was noticed, at debug (a task that died of it would be reported only
    # whenever the garbage collector got to it, as "Task exception was never retrieved")
    assert any(e.get("event") == "socket_gone" and e.get("during") == "send" for e in ours), log[-5000:]
