"""One-hop write forwarding between two regions on a real MariaDB primary and GTID replica.

us-east-1 holds the writer (the primary); eu-west-1 reads from its replica, which is
read-only and which the eu node reaches as a user without the privilege to bypass
read_only: a write the eu node tried to run locally would fail. Every write sent to eu
must therefore travel, whole, to us — counted once there — and come back with its token,
so a read through eu carrying it sees the write.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from orbitask.core.migrate import upgrade
from tests.conftest import PASSWORD, TEST_SECRET
from tests.dbservers import MariaDB, replicated_pair
from tests.servers import free_port, orbitask_server

DATABASE = "orbitask_regions"
APP_USER, APP_PASSWORD = "orbitask_app", "app-pw"
RECEIVED = re.compile(rb'^orbitask_forward_received_total\{origin="eu-west-1"\} (\S+)$', re.M)


@dataclass
class Regions:
    us: str
    eu: str
    primary: MariaDB
    replica: MariaDB
    stack: contextlib.ExitStack  # closing it stops the us node

    def received(self) -> float:
        """Forwarded writes the us node accepted from eu so far."""
        found = RECEIVED.search(httpx.get(self.us + "/metrics").content)
        return float(found.group(1)) if found else 0.0


@pytest.fixture(scope="module")
def regions() -> Iterator[Regions]:
    with replicated_pair("orbitask-regions-") as (primary, replica):
        primary.sql(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
                    f"CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}';"
                    f"GRANT SELECT, INSERT, UPDATE, DELETE ON {DATABASE}.* TO '{APP_USER}'@'%';")
        upgrade(primary.url(DATABASE))
        pos = primary.sql("SELECT @@GLOBAL.gtid_binlog_pos").strip()
        assert replica.sql(f"SELECT MASTER_GTID_WAIT('{pos}', 30)").strip() == "0"
        base = Path(tempfile.mkdtemp(prefix="orbitask-region-nodes-"))

        def app_url(server: MariaDB) -> str:
            return f"mysql+asyncmy://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{server.port}/{DATABASE}"

        ports = {"us-east-1": free_port(), "eu-west-1": free_port()}
        topology = orjson.dumps([
            {"name": name, "internal_url": f"http://127.0.0.1:{port}"} for name, port in ports.items()
        ]).decode()
        common = {"ORBITASK_SECRET_KEY": TEST_SECRET, "ORBITASK_REGIONS": topology,
                  "ORBITASK_WRITER_REGION": "us-east-1"}
        with contextlib.ExitStack() as stack:
            us_stack = stack.enter_context(contextlib.ExitStack())
            (base / "us").mkdir()
            (base / "eu").mkdir()
            us = us_stack.enter_context(orbitask_server(
                base / "us", "--no-migrate", port=ports["us-east-1"],
                env={**common, "ORBITASK_REGION": "us-east-1", "ORBITASK_DATABASE_URL": app_url(primary)}))
            eu = stack.enter_context(orbitask_server(
                base / "eu", "--no-migrate", port=ports["eu-west-1"],
                env={**common, "ORBITASK_REGION": "eu-west-1", "ORBITASK_DATABASE_URL": app_url(replica)}))
            yield Regions(us, eu, primary, replica, us_stack)
        shutil.rmtree(base, ignore_errors=True)


def register(client: httpx.Client) -> dict[str, str]:
    r = client.post("/api/v1/auth/register", json={
        "email": f"r-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "name": "R"})
    assert r.status_code == 201, r.text
    assert r.headers["x-orbitask-forwarded-to"] == "us-east-1"
    # the sign-up's consistency token: the next reads here wait for the replica to have the new account's workspace
    return {"Authorization": f"Bearer {r.json()['access_token']}", "X-Orbitask-Token": r.headers["x-orbitask-token"]}


def test_writes_in_a_reader_region_take_one_hop_and_are_read_back_there(regions: Regions) -> None:
    before = regions.received()
    with httpx.Client(base_url=regions.eu, timeout=30) as eu:
        auth = register(eu)
        ws = eu.get("/api/v1/workspaces", headers=auth).json()["items"][0]["id"]
        writes = 1
        board = eu.post(f"/api/v1/workspaces/{ws}/boards", json={"name": "Far"}, headers=auth)
        lst = eu.post(f"/api/v1/boards/{board.json()['id']}/lists", json={"name": "L"}, headers=auth)
        writes += 2
        token = lst.headers["X-Orbitask-Token"]
        titles = []
        for i in range(20):
            r = eu.post(f"/api/v1/lists/{lst.json()['id']}/cards", json={"title": f"card {i}"},
                        headers={**auth, "X-Orbitask-Token": token})
            assert r.status_code == 201, r.text
            assert r.headers["x-orbitask-forwarded-to"] == "us-east-1"
            token = r.headers["X-Orbitask-Token"]
            titles.append(f"card {i}")
            writes += 1
            # read-your-writes in the reader region: the token makes eu wait for its replica
            card = eu.get(f"/api/v1/cards/{r.json()['id']}", headers={**auth, "X-Orbitask-Token": token})
            assert card.status_code == 200 and card.json()["title"] == f"card {i}", card.text
        snapshot = eu.get(f"/api/v1/boards/{board.json()['id']}", headers={**auth, "X-Orbitask-Token": token})
        assert [c["title"] for c in snapshot.json()["cards"]] == titles
    assert regions.received() - before == writes  # each write crossed exactly once


def test_the_idempotency_key_survives_the_hop(regions: Regions) -> None:
    with httpx.Client(base_url=regions.eu, timeout=30) as eu:
        auth = register(eu)
        ws = eu.get("/api/v1/workspaces", headers=auth).json()["items"][0]["id"]
        key = {"Idempotency-Key": uuid.uuid4().hex}
        first = eu.post(f"/api/v1/workspaces/{ws}/boards", json={"name": "Once"}, headers={**auth, **key})
        again = eu.post(f"/api/v1/workspaces/{ws}/boards", json={"name": "Once"}, headers={**auth, **key})
        assert first.status_code == again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
        boards = eu.get(f"/api/v1/workspaces/{ws}/boards", headers={**auth, "X-Orbitask-Token":
                                                                     again.headers["X-Orbitask-Token"]})
        assert [b["name"] for b in boards.json()["items"]].count("Once") == 1


def test_a_hop_is_never_forwarded_twice_and_a_forged_one_is_not_trusted(regions: Regions) -> None:
    from orbitask.regions.forwarding import HopSigner, forward_key

    signer = HopSigner(forward_key(TEST_SECRET))
    path = "/api/v1/auth/register"
    body = {"email": f"h-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "name": "H"}
    # a genuine hop that reaches a region without the writer: refused, not passed on
    hop = signer.sign("us-east-1", "198.51.100.7", "POST", path)
    r = httpx.post(regions.eu + path, json=body, headers={"X-Orbitask-Forwarded": hop})
    assert r.status_code == 503 and r.json()["type"].endswith("/not-writer"), r.text
    assert r.headers["Retry-After"]
    # a forged hop reaching the writer is served as a plain client request, not counted as a hop
    before = regions.received()
    r = httpx.post(regions.us + path, json=body, headers={"X-Orbitask-Forwarded": "v1;1;n;eu-west-1;1.2.3.4;bad"})
    assert r.status_code == 201, r.text
    assert regions.received() == before


def test_a_read_the_lagging_replica_cannot_serve_in_time_goes_to_the_writer_region(regions: Regions) -> None:
    with httpx.Client(base_url=regions.eu, timeout=30) as eu:
        auth = register(eu)
        ws = eu.get("/api/v1/workspaces", headers=auth).json()["items"][0]["id"]
        regions.replica.sql("STOP SLAVE SQL_THREAD")  # eu's database stops applying: it falls behind
        try:
            board = eu.post(f"/api/v1/workspaces/{ws}/boards", json={"name": "Fresh"}, headers=auth)
            assert board.status_code == 201, board.text
            token = {"X-Orbitask-Token": board.headers["X-Orbitask-Token"]}
            read = eu.get(f"/api/v1/boards/{board.json()['id']}", headers={**auth, **token})
            assert read.status_code == 200 and read.json()["board"]["name"] == "Fresh", read.text
            assert read.headers["x-orbitask-forwarded-to"] == "us-east-1"  # waited, then one hop
            assert eu.get(f"/api/v1/boards/{board.json()['id']}", headers=auth).status_code == 404  # local: behind
        finally:
            regions.replica.sql("START SLAVE")


def test_an_unreachable_writer_region_answers_503_and_nothing_is_applied(regions: Regions) -> None:
    with httpx.Client(base_url=regions.eu, timeout=30) as eu:
        auth = register(eu)
        ws = eu.get("/api/v1/workspaces", headers=auth).json()["items"][0]["id"]
        regions.stack.close()  # the us node goes away (its database stays: nothing could be written there)
        before = regions.primary.sql("SELECT COUNT(*) FROM board", DATABASE).strip()
        r = eu.post(f"/api/v1/workspaces/{ws}/boards", json={"name": "Lost?"}, headers=auth)
        assert r.status_code == 503 and r.json()["type"].endswith("/writer-unavailable"), r.text
        assert int(r.headers["Retry-After"]) >= 1
        assert "nothing was applied" in r.json()["detail"]
        assert regions.primary.sql("SELECT COUNT(*) FROM board", DATABASE).strip() == before
        # reads keep working in the region
        assert eu.get(f"/api/v1/workspaces/{ws}/boards", headers=auth).status_code == 200
