"""The real `orbitask serve` process: migrations on start, workers, service subsets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.servers import orbitask_server


async def _register(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "A"})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}", "X-Orbitask-Token": r.headers["X-Orbitask-Token"]}


async def _hammer(url: str, email: str, creates: int, moves: int) -> None:
    """Concurrent creates and moves on one board; then versions must be 1..N with nothing lost."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        headers = await _register(client, email)
        ws = (await client.get("/api/v1/workspaces", headers=headers)).json()["items"][0]["id"]
        board = (await client.post(f"/api/v1/workspaces/{ws}/boards", json={"name": "B"}, headers=headers)).json()
        lists = [
            (await client.post(f"/api/v1/boards/{board['id']}/lists", json={"name": n}, headers=headers)).json()
            for n in ("A", "B")
        ]
        cards = [
            (await client.post(f"/api/v1/lists/{lists[0]['id']}/cards", json={"title": f"s{i}"},
                               headers=headers)).json()
            for i in range(5)
        ]
        ops = ["create"] * creates + ["move"] * moves

        async def op(i: int, kind: str) -> httpx.Response:
            if kind == "create":
                return await client.post(f"/api/v1/lists/{lists[i % 2]['id']}/cards", json={"title": f"c{i}"},
                                         headers=headers)
            return await client.post(f"/api/v1/cards/{cards[i % 5]['id']}/move",
                                     json={"list_id": lists[(i // 5) % 2]["id"]}, headers=headers)

        results = await asyncio.gather(*[op(i, kind) for i, kind in enumerate(ops)])
        assert [(r.status_code, r.text) for r in results if r.status_code >= 300] == []
        events = (await client.get(f"/api/v1/boards/{board['id']}/events?limit=1000", headers=headers)).json()
        versions = [e["board_version"] for e in events["items"]]
        assert versions == list(range(1, 1 + 1 + 2 + 5 + len(ops)))
        snap = (await client.get(f"/api/v1/boards/{board['id']}", headers=headers)).json()
        assert snap["version"] == versions[-1]
        assert len(snap["cards"]) == 5 + creates
        titles = {c["title"] for c in snap["cards"]}
        assert {f"c{i}" for i, kind in enumerate(ops) if kind == "create"} <= titles
        final_moves = {e["payload"]["card"]["id"]: e["payload"]["card"]["list_id"]
                       for e in events["items"] if e["type"] == "card.moved"}
        for card in snap["cards"]:
            if card["id"] in final_moves:  # the last move of each card is what the board shows
                assert card["list_id"] == final_moves[card["id"]]


async def test_two_worker_processes_keep_board_versions_gapless(tmp_path: Path) -> None:
    """50 concurrent creates and moves through two uvicorn workers sharing one SQLite file."""
    with orbitask_server(tmp_path, "--workers", "2") as url:
        await _hammer(url, "gapless@example.com", creates=25, moves=25)
    assert (tmp_path / "orbitask.db").exists()
    assert (tmp_path / "secret.key").exists()


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"])
async def test_server_databases_keep_versions_gapless_across_workers(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """100 concurrent creates and moves, two uvicorn workers, a real database server: no gap, no lost update, no 5xx."""
    database_url = request.getfixturevalue(f"{backend}_database")()
    env = {"ORBITASK_DATABASE_URL": database_url, "ORBITASK_SECRET_KEY": "k" * 40}
    with orbitask_server(tmp_path, "--workers", "2", "--no-migrate", env=env) as url:
        await _hammer(url, f"gapless-{backend}@example.com", creates=50, moves=50)


async def test_services_flag_mounts_only_those_routes(tmp_path: Path) -> None:
    with orbitask_server(tmp_path, "--services", "auth") as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            headers = await _register(client, "auth-only@example.com")
            assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
            missing = await client.get("/api/v1/boards/01a2101e-d0b6-76f8-a579-d13df305fa44", headers=headers)
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
            paths = (await client.get("/api/openapi.json")).json()["paths"]
            assert "/api/v1/auth/login" in paths
            assert not any(p.startswith(("/api/v1/boards", "/api/v1/cards", "/api/v1/lists")) for p in paths)
            docs = await client.get("/api/docs")
            assert docs.status_code == 200 and "swagger" in docs.text.lower()


@pytest.mark.parametrize("setting", ["false", "true"])
async def test_websocket_compression_follows_the_setting(tmp_path: Path, setting: str) -> None:
    from websockets.asyncio.client import connect

    with orbitask_server(tmp_path, env={"ORBITASK_WS_COMPRESSION": setting}) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            headers = await _register(client, f"ws-{setting}@example.com")
            ticket = (await client.post("/api/v1/ws/tickets", headers=headers)).json()["ticket"]
        # the client offers permessage-deflate, as browsers do; the server accepts it only when configured
        async with connect(f"ws{url[4:]}/api/v1/ws?ticket={ticket}", compression="deflate") as ws:
            accepted = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            await ws.send('{"type": "ping"}')
            assert '"pong"' in await ws.recv()
    assert ("permessage-deflate" in accepted) is (setting == "true")



def _raw(url: str, request: bytes, *, read_timeout: float = 10.0) -> tuple[bytes, bool]:
    """Send raw bytes; read until the server closes (True) or stays silent for `read_timeout` (False)."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            return b"".join(chunks), False
        except ConnectionResetError:
            pass
        return b"".join(chunks), True


async def test_serve_bounds_headers_and_idle_connections(tmp_path: Path) -> None:
    env = {"ORBITASK_HTTP_MAX_HEADER_BYTES": "8192", "ORBITASK_HTTP_KEEP_ALIVE_SECONDS": "1"}
    with orbitask_server(tmp_path, env=env) as url:
        fine, closed = _raw(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 4000 + b"\r\n\r\n")
        assert fine.startswith(b"HTTP/1.1 200")
        assert closed, "the idle keep-alive connection should have been closed by the server"
        huge, _ = _raw(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n")
        assert huge.startswith(b"HTTP/1.1 431") and b"headers-too-large" in huge, huge[:300]


def test_a_test_that_fails_while_a_server_runs_reports_the_end_of_its_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failure in a multi-process test is often explained only by the server's log, which goes
    with its temporary directory: the end of it is printed into the failure's report."""
    with pytest.raises(AssertionError, match="the test failed"), orbitask_server(tmp_path) as url:
        assert httpx.get(url + "/api/v1/healthz", timeout=10).status_code == 200
        with (tmp_path / "server.log").open("a") as log:
            log.write("a line only the log has\n")
        raise AssertionError("the test failed")
    err = capsys.readouterr().err
    assert f"last lines of {tmp_path / 'server.log'}" in err and "a line only the log has" in err
