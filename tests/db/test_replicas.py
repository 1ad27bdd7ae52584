"""Read-your-writes against a real MariaDB primary and a GTID replica.

The replica's SQL thread is stopped to make lag on purpose (`STOP SLAVE SQL_THREAD`):
the IO thread keeps fetching the primary's binlog, nothing is applied until it restarts.
Synchronisation is always on a real condition (`MASTER_GTID_WAIT`, an asyncio.Event set
by the replica probe), never on a sleep.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from orbitask.app import create_app
from orbitask.core import reads
from orbitask.core.migrate import upgrade
from orbitask.core.observability import READ_FALLBACK
from tests.conftest import Api, User, make_settings
from tests.dbservers import MariaDB, replicated_pair

DATABASE = "orbitask_repl"
SYNC_TIMEOUT_S = 10
WAIT_S = 20.0  # bound on any wait of a test: generous, and below LONG_WAIT_S
LONG_WAIT_S = 30.0  # read_wait_timeout_seconds at its maximum: a read served at the bound fails the test


def _tables() -> list[str]:
    from orbitask.models import metadata

    return [t.name for t in metadata.sorted_tables]


def _fallbacks() -> float:
    return READ_FALLBACK._value.get()


@dataclass
class Pair:
    """A primary and its replica, with the helpers the tests need."""

    primary: MariaDB
    replica: MariaDB
    wipe: str

    def sync(self) -> None:
        """Block until the replica has applied everything the primary has binlogged (bounded)."""
        pos = self.primary.sql("SELECT @@GLOBAL.gtid_binlog_pos").strip()
        waited = self.replica.sql(f"SELECT MASTER_GTID_WAIT('{pos}', {SYNC_TIMEOUT_S})").strip()
        if waited != "0":
            status = self.replica.sql("SHOW SLAVE STATUS\\G")
            raise AssertionError(f"replica did not reach {pos} within {SYNC_TIMEOUT_S} s:\n{status}")

    def stop_applying(self) -> None:
        """Artificial lag: the replica keeps receiving the binlog but applies nothing."""
        self.replica.sql("STOP SLAVE SQL_THREAD")

    def start_applying(self) -> None:
        self.replica.sql("START SLAVE")  # both threads; a no-op (with a note) for a running one

    def replica_lists(self) -> int:
        """Rows in `board_list` on the replica (to prove it really is behind)."""
        return int(self.replica.sql("SELECT COUNT(*) FROM board_list", DATABASE).strip())


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    """A GTID primary (binlog) and a replica of it, the schema migrated on the primary and replicated."""
    with replicated_pair("orbitask-repl-") as (primary, replica):
        primary.sql(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        upgrade(primary.url(DATABASE))
        wipe = "SET FOREIGN_KEY_CHECKS=0;" + "".join(f"DELETE FROM `{t}`;" for t in _tables())
        servers = Pair(primary, replica, wipe)
        servers.sync()
        tables = replica.sql("SHOW TABLES", DATABASE).split()
        assert set(_tables()) <= set(tables), f"schema missing on the replica: {set(_tables()) - set(tables)}"
        yield servers


@pytest.fixture(autouse=True)
def clean(pair: Pair) -> Iterator[None]:
    """Replication running, every table empty on both servers."""
    pair.start_applying()
    pair.primary.sql(pair.wipe, DATABASE)
    pair.sync()
    yield
    pair.start_applying()


@dataclass
class Probe:
    """Counts what `wait_for_replica` does: calls, reads that had to wait, time spent, bounds and outcomes."""

    waits: int = 0
    waited: int = 0
    misses: int = 0
    wait_s: list[float] = field(default_factory=list)
    bounds: list[float] = field(default_factory=list)  # the timeout each wait was given
    caught_up: list[bool] = field(default_factory=list)  # what each wait returned (False: read on the writer)
    missed: asyncio.Event = field(default_factory=asyncio.Event)  # set once `misses` reaches `target`
    target: int = 1


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Probe:
    """Wrap the replica probe and the wait (module globals, looked up at call time)."""
    seen = Probe()
    real_has, real_wait = reads.replica_has, reads.wait_for_replica

    async def replica_has(db: Any, token: Any) -> bool:
        found = await real_has(db, token)
        if not found:
            seen.misses += 1
            if seen.misses >= seen.target:
                seen.missed.set()
        return found

    async def wait_for_replica(db: Any, token: Any, timeout: float) -> bool:
        misses, started = seen.misses, time.monotonic()
        seen.bounds.append(timeout)
        try:
            found = await real_wait(db, token, timeout)
            seen.caught_up.append(found)
            return found
        finally:
            seen.waits += 1
            seen.wait_s.append(time.monotonic() - started)
            if seen.misses > misses:
                seen.waited += 1

    monkeypatch.setattr(reads, "replica_has", replica_has)
    monkeypatch.setattr(reads, "wait_for_replica", wait_for_replica)
    return seen


@asynccontextmanager
async def running(pair: Pair, tmp_path: Path, wait_s: float) -> AsyncIterator[Api]:
    """The app on primary (writer) + replica (reader), and a client factory."""
    settings = make_settings(
        tmp_path, database_url=pair.primary.url(DATABASE), database_reader_url=pair.replica.url(DATABASE),
        read_wait_timeout_seconds=wait_s,
    )
    app = create_app(settings)
    assert app.state.runtime.db.split
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            yield Api(c)


NO_TOKEN = {"X-Orbitask-Token": ""}


async def _user_with_board(api: Api) -> tuple[User, dict[str, Any]]:
    user = await api.user()
    board = await api.board(user)
    return user, board


async def test_token_read_falls_back_to_writer_when_replica_lags(pair: Pair, tmp_path: Path, probe: Probe) -> None:
    """Replica stopped: the token read waits for the replica (0.5 s), then reads the writer; a token-less
    read gets the replica."""
    async with running(pair, tmp_path, 0.5) as api:
        alice, board = await _user_with_board(api)
        bid = board["id"]
        await asyncio.to_thread(pair.sync)
        await asyncio.to_thread(pair.stop_applying)
        try:
            fresh_list = await api.list(alice, bid, "Fresh")
            assert await asyncio.to_thread(pair.replica_lists) == 0, "the replica should be behind"
            fallbacks, waits, waited = _fallbacks(), probe.waits, probe.waited
            mine = await api.ok(alice, "GET", f"/boards/{bid}")
            assert [x["id"] for x in mine["lists"]] == [fresh_list["id"]], "read-your-writes broken"
            # it asked the replica first, with the configured bound, was told "not yet", and gave up on it
            assert (probe.waits, probe.waited) == (waits + 1, waited + 1), "the read should have waited for the replica"
            assert (probe.bounds[-1], probe.caught_up[-1]) == (0.5, False)
            assert _fallbacks() == fallbacks + 1, "the token read should have been served by the writer"
            old = await api.ok(alice, "GET", f"/boards/{bid}", headers=NO_TOKEN)
            assert old["lists"] == [], "a read without a token is served by the (lagging) replica"
            assert old["version"] == mine["version"] - 1
        finally:
            await asyncio.to_thread(pair.start_applying)
        await asyncio.to_thread(pair.sync)
        fallbacks = _fallbacks()
        caught_up = await api.ok(alice, "GET", f"/boards/{bid}")
        assert [x["id"] for x in caught_up["lists"]] == [fresh_list["id"]]
        assert _fallbacks() == fallbacks, "a caught-up replica serves the token read itself"


async def test_token_read_waits_exactly_as_long_as_the_lag(pair: Pair, tmp_path: Path, probe: Probe) -> None:
    """The replica resumes during the wait: the read is served by the replica as soon as it catches up.

    The bound is the longest allowed and the test waits for less: a read that returned only at the
    bound, or fell back to the writer, fails.
    """
    async with running(pair, tmp_path, LONG_WAIT_S) as api:
        alice, board = await _user_with_board(api)
        bid = board["id"]
        await asyncio.to_thread(pair.sync)
        await asyncio.to_thread(pair.stop_applying)
        try:
            fresh_list = await api.list(alice, bid, "Fresh")
            fallbacks = _fallbacks()
            probe.missed.clear()
            probe.target = probe.misses + 6  # let the lag last a while: six "not yet" answers
            before = len(probe.bounds)
            read = asyncio.create_task(api.ok(alice, "GET", f"/boards/{bid}"))
            await asyncio.wait_for(probe.missed.wait(), WAIT_S)
            assert not read.done(), "the read should still be waiting for the replica"
            await asyncio.to_thread(pair.start_applying)
            try:
                mine = await asyncio.wait_for(read, WAIT_S)
            except TimeoutError:
                pytest.fail(f"the read still waited {WAIT_S} s after the replica resumed (bound {LONG_WAIT_S} s)")
        finally:
            await asyncio.to_thread(pair.start_applying)
        assert [x["id"] for x in mine["lists"]] == [fresh_list["id"]]
        assert _fallbacks() == fallbacks, "served by the replica once it caught up, not by the writer"
        assert probe.waited == 1
        # one wait, given the configured bound, ended by the replica catching up
        assert (probe.bounds[before:], probe.caught_up[before:]) == ([LONG_WAIT_S], [True])


async def test_token_reads_see_own_latest_write_when_replica_lags_several(
    pair: Pair, tmp_path: Path, probe: Probe
) -> None:
    """Five writes behind: the token read sees all five; token-less reads (any client) see the older state."""
    async with running(pair, tmp_path, 0.5) as api:
        alice, board = await _user_with_board(api)
        bob = await api.user("Bob")  # another client: no writes since the lag began, no token for them
        await api.join(alice, bob, "member")
        bid = board["id"]
        base = await api.ok(alice, "GET", f"/boards/{bid}")
        await asyncio.to_thread(pair.sync)
        await asyncio.to_thread(pair.stop_applying)
        try:
            todo = await api.list(alice, bid, "Todo")  # 1
            done = await api.list(alice, bid, "Done")  # 2
            card = await api.card(alice, todo["id"], "Draft")  # 3
            card = await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"title": "Final"})  # 4
            card = await api.ok(alice, "POST", f"/cards/{card['id']}/move", json={"list_id": done["id"]})  # 5
            assert await asyncio.to_thread(pair.replica_lists) == 0, "the replica should be behind"

            fallbacks = _fallbacks()
            mine = await api.ok(alice, "GET", f"/boards/{bid}")
            assert mine["version"] == base["version"] + 5
            assert [x["name"] for x in mine["lists"]] == ["Todo", "Done"]
            assert [(c["id"], c["title"], c["list_id"], c["position"]) for c in mine["cards"]] == [
                (card["id"], "Final", done["id"], card["position"])
            ]
            detail = await api.ok(alice, "GET", f"/cards/{card['id']}")
            assert (detail["title"], detail["list_id"], detail["updated_at"]) == (
                "Final", done["id"], card["updated_at"])
            assert _fallbacks() == fallbacks + 2

            for who in (alice, bob):  # without a token: the replica's older state is allowed
                old = await api.ok(who, "GET", f"/boards/{bid}", headers=NO_TOKEN)
                assert old["version"] == base["version"] and old["lists"] == [] and old["cards"] == []
            missing = await api.call(alice, "GET", f"/cards/{card['id']}", headers=NO_TOKEN)
            assert missing.status_code == 404
        finally:
            await asyncio.to_thread(pair.start_applying)


@dataclass
class Checker:
    """One client driving writes on its own board, each followed by a token read."""

    api: Api
    user: User
    board_id: str
    list_ids: list[str]
    rng: random.Random
    version: int = 0
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)
    reads: int = 0
    last_seen_version: int = 0

    async def write(self) -> dict[str, Any]:
        roll = self.rng.random()
        if not self.cards or roll < 0.4:
            target = self.rng.choice(self.list_ids)
            out = await self.api.card(self.user, target, f"card {len(self.cards)}")
        elif roll < 0.7:
            cid = self.rng.choice(list(self.cards))
            target = self.rng.choice(self.list_ids)
            body: dict[str, Any] = {"list_id": target}
            neighbours = [c for c, v in self.cards.items() if v["list_id"] == target and c != cid]
            if neighbours and self.rng.random() < 0.7:
                body["after_id" if self.rng.random() < 0.5 else "before_id"] = self.rng.choice(neighbours)
            out = await self.api.ok(self.user, "POST", f"/cards/{cid}/move", json=body)
        else:
            cid = self.rng.choice(list(self.cards))
            out = await self.api.ok(self.user, "PATCH", f"/cards/{cid}",
                                    json={"title": f"t{self.rng.randrange(10**9)}"})
        self.version += 1
        self.cards[out["id"]] = out
        return out

    def _check(self, what: str, got: dict[str, Any] | None, want: dict[str, Any]) -> None:
        keys = ("list_id", "position", "title", "updated_at")
        if got is None:
            self.stale.append(f"{what}: card {want['id']} missing")
        elif any(got[k] != want[k] for k in keys):
            self.stale.append(f"{what}: {[got[k] for k in keys]} != written {[want[k] for k in keys]}")

    async def read(self, written: dict[str, Any]) -> None:
        self.reads += 1
        if self.rng.random() < 0.5:
            snap = await self.api.ok(self.user, "GET", f"/boards/{self.board_id}")
            if snap["version"] < self.version:
                self.stale.append(f"snapshot v{snap['version']} < written v{self.version}")
            if snap["version"] < self.last_seen_version:
                self.stale.append(f"snapshot v{snap['version']} went back from v{self.last_seen_version}")
            self.last_seen_version = max(self.last_seen_version, snap["version"])
            self._check("snapshot", next((c for c in snap["cards"] if c["id"] == written["id"]), None), written)
        else:
            r = await self.api.call(self.user, "GET", f"/cards/{written['id']}")
            self._check("card", r.json() if r.status_code == 200 else None, written)

    async def run(self, ops: int) -> None:
        for _ in range(ops):
            await self.read(await self.write())


async def test_write_then_read_checker_finds_no_stale_reads(pair: Pair, tmp_path: Path, probe: Probe) -> None:
    """1,000 writes (card create / move / update), each read back at once with the client's token."""
    clients, ops = 4, 250
    async with running(pair, tmp_path, 2.0) as api:
        checkers = []
        for i in range(clients):
            user, board = await _user_with_board(api)
            lists = [await api.list(user, board["id"], f"L{j}") for j in range(3)]
            snap = await api.ok(user, "GET", f"/boards/{board['id']}")
            assert snap["version"] == 4
            checkers.append(Checker(api, user, board["id"], [x["id"] for x in lists], random.Random(1000 + i),
                                    version=snap["version"], last_seen_version=snap["version"]))
        fallbacks, waits_before, waited_before = _fallbacks(), probe.waits, probe.waited
        started = time.monotonic()
        await asyncio.gather(*(c.run(ops) for c in checkers))
        elapsed = time.monotonic() - started

    stale = [s for c in checkers for s in c.stale]
    reads_done = sum(c.reads for c in checkers)
    waits = sorted(probe.wait_s[waits_before:])
    fell_back = int(_fallbacks() - fallbacks)
    waited = probe.waited - waited_before
    p99 = waits[int(len(waits) * 0.99) - 1] if waits else 0.0
    print(
        f"\nwrite-then-read checker: {clients * ops} writes, {reads_done} token reads in {elapsed:.1f} s; "
        f"stale reads: {len(stale)}; fallbacks to the writer: {fell_back}; reads that waited for the replica: "
        f"{waited}; wait p50 {waits[len(waits) // 2] * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {waits[-1] * 1000:.1f} ms"
    )
    assert reads_done == clients * ops
    assert len(waits) == reads_done, "every token read goes through the replica wait"
    assert not stale, f"{len(stale)} stale reads, first: {stale[:5]}"


async def test_search_is_served_by_the_replica_whose_index_replicates(pair: Pair, tmp_path: Path, probe: Probe) -> None:
    """The search index is ordinary tables: it reaches the replica with the data, and searches read the replica
    (a token-less search of a lagging replica misses the new card; the writer's token finds it)."""
    async with running(pair, tmp_path, 0.5) as api:
        alice, board = await _user_with_board(api)
        todo = await api.list(alice, board["id"])
        await asyncio.to_thread(pair.sync)
        await asyncio.to_thread(pair.stop_applying)
        try:
            card = await api.card(alice, todo["id"], "Aurora borealis")
            behind = await api.ok(alice, "GET", "/search?q=aurora", headers=NO_TOKEN)
            assert behind["items"] == [], "a token-less search is served by the (lagging) replica"
            mine = await api.ok(alice, "GET", "/search?q=aurora")
            assert [h["card"]["id"] for h in mine["items"]] == [card["id"]], "read-your-writes broken"
        finally:
            await asyncio.to_thread(pair.start_applying)
        await asyncio.to_thread(pair.sync)
        caught_up = await api.ok(alice, "GET", "/search?q=borealis", headers=NO_TOKEN)
        assert [h["card"]["id"] for h in caught_up["items"]] == [card["id"]], "the replica's index holds the card"
