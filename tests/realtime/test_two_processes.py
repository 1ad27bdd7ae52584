"""Two real `orbitask serve` processes sharing MariaDB and a real redis-server.

What a browser sees when it talks to one process while writes go through another: the region's
single relay publishes each committed event once on Redis pub/sub, every process hears it, and a
socket gets every board event, once, in version order. Reconnecting with `after_version` replays
exactly what was missed. A Redis crash never breaks HTTP, and live delivery comes back by itself
once Redis does (missed events are filled in from the log). How fast events arrive is measured by
bench/realtime.py, not here: the waits below are generous bounds on whether they arrive at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import PASSWORD, TEST_SECRET
from tests.realtime.frames import unpack
from tests.redisserver import RedisServer
from tests.servers import orbitask_server

WAIT_S = 15.0  # bound on any single wait in these tests
RESUME_S = 60.0  # bound on live delivery coming back after Redis restarts
NUDGE_S = 1.5  # while waiting for it, another write this often (not a bound: earlier writes still count)
CHANNEL = "orbitask:local:events"  # the default region's bus channel
RELAY_METRIC = re.compile(rb"^orbitask_relay_published_total (\S+)$", re.M)


# -- servers -----------------------------------------------------------------------------------


@dataclass
class Cluster:
    """Two processes (a, b) of one region, on one database and one Redis."""

    redis: RedisServer
    a: str
    b: str


@contextlib.contextmanager
def cluster(database_url: str) -> Iterator[Cluster]:
    """Start redis-server and two `orbitask serve` processes pointed at it and at `database_url`."""
    base = Path(tempfile.mkdtemp(prefix="orbitask-2proc-"))
    redis_server = RedisServer(base / "redis").start()
    env = {"ORBITASK_REDIS_URL": redis_server.url, "ORBITASK_DATABASE_URL": database_url,
           "ORBITASK_SECRET_KEY": TEST_SECRET}
    try:
        with contextlib.ExitStack() as stack:
            urls = []
            for name in ("a", "b"):
                (base / name).mkdir()
                urls.append(stack.enter_context(orbitask_server(base / name, "--no-migrate", env=env)))
            yield Cluster(redis_server, *urls)
    finally:
        redis_server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def database_url(mariadb_database: Callable[[], str]) -> str:
    """One emptied MariaDB database for this module (tests use their own users and boards)."""
    return mariadb_database()


@pytest.fixture(scope="module")
def shared(database_url: str) -> Iterator[Cluster]:
    """A cluster kept for the whole module (Redis is never killed in it)."""
    with cluster(database_url) as c:
        yield c


# -- clients -----------------------------------------------------------------------------------


class User:
    """A signed-in user calling either process over HTTP."""

    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str], workspace: str) -> None:
        self.http = http
        self.headers = headers
        self.workspace = workspace

    @classmethod
    async def register(cls, http: httpx.AsyncClient, base: str) -> User:
        email = f"rt-{uuid.uuid4().hex[:10]}@example.com"
        r = await http.post(f"{base}/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "RT"})
        assert r.status_code == 201, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await http.get(f"{base}/api/v1/workspaces", headers=headers)
        assert r.status_code == 200, r.text
        return cls(http, headers, r.json()["items"][0]["id"])

    async def call(self, base: str, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.http.request(method, f"{base}/api/v1{path}", headers=self.headers, **kw)

    async def do(self, base: str, method: str, path: str, **kw: Any) -> Any:
        r = await self.call(base, method, path, **kw)
        assert r.status_code < 300, f"{method} {path} on {base}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    async def board(self, base: str) -> dict[str, Any]:
        return await self.do(base, "POST", f"/workspaces/{self.workspace}/boards", json={"name": "Live"})

    async def log(self, base: str, board_id: str, after: int) -> list[dict[str, Any]]:
        """The board's event log after a version, through `base` (every page)."""
        events: list[dict[str, Any]] = []
        for _ in range(100):  # bounded paging
            page = await self.do(base, "GET", f"/boards/{board_id}/events?after_version={after}")
            if not page["items"]:
                return events
            events += page["items"]
            after = page["items"][-1]["board_version"]
        raise AssertionError("event log did not end within 100 pages")

    async def socket(self, base: str) -> Socket:
        ticket = (await self.do(base, "POST", "/ws/tickets"))["ticket"]
        ws = await asyncio.wait_for(connect(f"ws{base[4:]}/api/v1/ws?ticket={ticket}"), WAIT_S)
        return Socket(ws)


class Socket:
    """A WebSocket client that records every message, in arrival order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self.closed = False
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                for message in unpack(raw):
                    self.received.append(message)
                    if message["type"] == "ping":
                        await self.ws.send('{"type": "pong"}')
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self._changed.set()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m["type"] == kind]

    def events(self, board_id: str) -> list[dict[str, Any]]:
        """The board's events, in arrival order."""
        return [m["event"] for m in self.received if m["type"] == "event" and m["event"]["board_id"] == board_id]

    async def until(self, check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
        """Wait (bounded) until `check()` is truthy; returns its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._changed.clear()
            value = check()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0 or self.closed:
                tail = self.received[-5:]
                raise AssertionError(f"no {what} within {timeout} s (closed={self.closed}); last messages: {tail}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def subscribe(self, board_id: str, after_version: int | None = None) -> int:
        """Subscribe; returns the board version the server reports."""
        before = len(self.received)
        message: dict[str, Any] = {"type": "subscribe", "board_id": board_id}
        if after_version is not None:
            message["after_version"] = after_version
        await self.send(message)

        def answer() -> dict[str, Any] | None:
            for m in self.received[before:]:
                if m.get("board_id") == board_id and m["type"] in ("subscribed", "resync", "error"):
                    return m
            return None

        reply = await self.until(answer, f"answer to subscribe {board_id}")
        assert reply["type"] == "subscribed", reply
        return reply["version"]

    async def versions_reach(self, board_id: str, version: int, timeout: float = WAIT_S) -> None:
        await self.until(lambda: any(e["board_version"] >= version for e in self.events(board_id)),
                         f"event version {version} of board {board_id}", timeout)

    async def pong(self) -> None:
        """Round trip: everything the server queued before this is now received."""
        count = len(self.of("pong"))
        await self.send({"type": "ping"})
        await self.until(lambda: len(self.of("pong")) > count, "pong")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def assert_in_order_once(events: list[dict[str, Any]], first: int, last: int) -> None:
    versions = [e["board_version"] for e in events]
    assert versions == list(range(first, last + 1)), versions
    assert len({e["id"] for e in events}) == len(events)


class Writer:
    """Mixed board writes (lists, cards, moves, comments, renames) through one process, tracked."""

    def __init__(self, user: User, board_id: str, seed: int) -> None:
        self.user = user
        self.board_id = board_id
        self.rng = random.Random(seed)
        self.lists: list[str] = []
        self.cards: list[str] = []
        self.expected: list[str] = []  # event type of each write, in commit order

    async def one(self, base: str, kind: str | None = None) -> None:
        if kind is None:
            if len(self.lists) < 3:
                kind = "list"
            elif len(self.cards) < 3:
                kind = "card"
            else:
                kind = self.rng.choice(["card", "card", "move", "move", "comment", "rename"])
        u, rng = self.user, self.rng
        if kind == "list":
            self.lists.append((await u.do(base, "POST", f"/boards/{self.board_id}/lists",
                                          json={"name": f"L{len(self.lists)}"}))["id"])
            self.expected.append("list.created")
        elif kind == "card":
            card = await u.do(base, "POST", f"/lists/{rng.choice(self.lists)}/cards", json={"title": "c"})
            self.cards.append(card["id"])
            self.expected.append("card.created")
        elif kind == "move":
            await u.do(base, "POST", f"/cards/{rng.choice(self.cards)}/move", json={"list_id": rng.choice(self.lists)})
            self.expected.append("card.moved")
        elif kind == "comment":
            await u.do(base, "POST", f"/cards/{rng.choice(self.cards)}/comments", json={"body": "hello"})
            self.expected.append("comment.created")
        else:
            await u.do(base, "PATCH", f"/cards/{rng.choice(self.cards)}", json={"title": f"t{rng.randrange(1000)}"})
            self.expected.append("card.updated")


def implied_state(events: list[dict[str, Any]]) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """Lists and cards (list, title, comment count) as the events describe them."""
    lists: set[str] = set()
    cards: dict[str, dict[str, Any]] = {}
    for e in events:
        p = e["payload"]
        if e["type"] == "list.created":
            lists.add(p["list"]["id"])
        elif e["type"] in ("card.created", "card.moved", "card.updated"):
            comments = cards.get(p["card"]["id"], {}).get("comments", 0)
            cards[p["card"]["id"]] = {"list_id": p["card"]["list_id"], "title": p["card"]["title"],
                                      "comments": comments}
        elif e["type"] == "comment.created":
            cards[p["comment"]["card_id"]]["comments"] += 1
    return lists, cards


async def relay_published(http: httpx.AsyncClient, base: str) -> float:
    r = await http.get(f"{base}/metrics")
    found = RELAY_METRIC.search(r.content)
    return float(found.group(1)) if found else 0.0


# -- tests -------------------------------------------------------------------------------------


async def test_writes_through_b_reach_a_socket_once_in_order_as_the_log_has_them(
    shared: Cluster, http: httpx.AsyncClient,
) -> None:
    user = await User.register(http, shared.a)
    board = await user.board(shared.a)
    sock = await user.socket(shared.a)
    try:
        start = await sock.subscribe(board["id"])
        writer = Writer(user, board["id"], seed=1)
        for _ in range(30):
            await writer.one(shared.b)
        last = start + 30
        await sock.versions_reach(board["id"], last)
        await sock.pong()  # anything queued after the last event (a duplicate) has arrived too
        events = sock.events(board["id"])
        assert_in_order_once(events, start + 1, last)
        assert [e["type"] for e in events] == writer.expected
        assert events == await user.log(shared.a, board["id"], start)  # the same events the log holds

        snapshot = await user.do(shared.a, "GET", f"/boards/{board['id']}")
        assert snapshot["version"] == last
        lists, cards = implied_state(events)
        assert {x["id"] for x in snapshot["lists"]} == lists == set(writer.lists)
        shown = {c["id"]: {"list_id": c["list_id"], "title": c["title"], "comments": c["comment_count"]}
                 for c in snapshot["cards"]}
        assert shown == cards
        assert set(shown) == set(writer.cards)
    finally:
        await sock.close()


async def test_reconnect_with_after_version_replays_exactly_the_missed_events(
    shared: Cluster, http: httpx.AsyncClient,
) -> None:
    user = await User.register(http, shared.a)
    board = await user.board(shared.a)
    writer = Writer(user, board["id"], seed=2)
    sock = await user.socket(shared.a)
    try:
        start = await sock.subscribe(board["id"])
        for _ in range(4):  # lists and a card
            await writer.one(shared.b)
        seen = start + 4
        await sock.versions_reach(board["id"], seen)
    finally:
        await sock.close()

    for _ in range(20):
        await writer.one(shared.b)
    missed = await user.log(shared.b, board["id"], seen)
    assert len(missed) == 20

    sock = await user.socket(shared.a)
    try:
        assert await sock.subscribe(board["id"], after_version=seen) == seen + 20
        await sock.versions_reach(board["id"], seen + 20)
        await sock.pong()  # the replay was queued before the pong: nothing more is on its way
        events = sock.events(board["id"])
        assert_in_order_once(events, seen + 1, seen + 20)
        assert events == missed
        assert [e["type"] for e in events] == writer.expected[4:]
        await writer.one(shared.b, "card")  # live again, continuing right after the replay
        await sock.versions_reach(board["id"], seen + 21)
        await sock.pong()
        assert_in_order_once(sock.events(board["id"]), seen + 1, seen + 21)
    finally:
        await sock.close()


async def test_exactly_one_relay_publishes_each_event(shared: Cluster, http: httpx.AsyncClient) -> None:
    user = await User.register(http, shared.a)
    board = await user.board(shared.b)
    writer = Writer(user, board["id"], seed=3)
    bus = aioredis.Redis.from_url(shared.redis.url)
    pubsub = bus.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(CHANNEL)
    published: list[dict[str, Any]] = []

    async def tap() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                event = orjson.loads(message["data"])
                if event["board_id"] == board["id"]:
                    published.append(event)

    tapping = asyncio.create_task(tap())
    socks = [await user.socket(shared.a), await user.socket(shared.b)]
    try:
        before = [await relay_published(http, base) for base in (shared.a, shared.b)]
        start = await socks[0].subscribe(board["id"])
        assert await socks[1].subscribe(board["id"]) == start
        bases = (shared.a, shared.b)
        for i in range(50):
            await writer.one(bases[i % 2])
        for sock in socks:
            await sock.versions_reach(board["id"], start + 50)
            await sock.pong()
            assert_in_order_once(sock.events(board["id"]), start + 1, start + 50)
        writes = lambda: [e for e in published if e["board_version"] > start]  # noqa: E731
        await socks[0].until(lambda: len(writes()) >= 50, "50 events on the Redis channel")
        await socks[0].pong()  # a round trip through the server: any duplicate publish has landed by now
        assert sorted(e["board_version"] for e in writes()) == list(range(start + 1, start + 51))
        assert len({e["id"] for e in published}) == len(published)  # each event published on the bus once
        after = [await relay_published(http, base) for base in (shared.a, shared.b)]
        grew = sorted(a - b for a, b in zip(after, before, strict=True))
        assert grew[0] == 0 and grew[1] >= 50, f"both processes relayed: {before} -> {after}"
        holder = await bus.get(f"{CHANNEL}:relay")
        assert holder is not None  # the lease that makes one relay per region
    finally:
        for sock in socks:
            await sock.close()
        tapping.cancel()
        await asyncio.gather(tapping, return_exceptions=True)
        await pubsub.aclose()
        await bus.aclose()


async def test_redis_crash_keeps_http_up_and_live_delivery_resumes(
    database_url: str, http: httpx.AsyncClient,
) -> None:
    with cluster(database_url) as c:
        user = await User.register(http, c.a)
        board = await user.board(c.a)
        writer = Writer(user, board["id"], seed=4)
        bases = {"a": c.a, "b": c.b}
        socks = {name: await user.socket(base) for name, base in bases.items()}
        try:
            start = {name: await s.subscribe(board["id"]) for name, s in socks.items()}
            assert start["a"] == start["b"]
            await writer.one(c.b, "list")
            await writer.one(c.b, "card")
            for s in socks.values():
                await s.versions_reach(board["id"], start["a"] + 2)

            c.redis.kill()
            statuses: list[tuple[str, str, int]] = []
            for i in range(12):  # reads and writes through both processes while Redis is gone
                base = (c.a, c.b)[i % 2]
                await writer.one(base, ("card", "move", "comment")[i % 3])
                for path in (f"/boards/{board['id']}", f"/boards/{board['id']}/events?after_version=0",
                             f"/boards/{board['id']}/cards", "/workspaces"):
                    r = await user.call(base, "GET", path)
                    statuses.append((base, path, r.status_code))
                r = await user.call(base, "POST", "/ws/tickets")
                statuses.append((base, "/ws/tickets", r.status_code))
                r = await http.get(f"{base}/api/v1/readyz")
                statuses.append((base, "/readyz", r.status_code))
            assert all(code < 300 for _, _, code in statuses), [s for s in statuses if s[2] >= 300]
            written = start["a"] + 2 + 12

            c.redis.restart()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + RESUME_S
            first = {name: start[name] + 1 for name in socks}  # the first version each socket must hold
            pending = dict(socks)  # sockets that have not yet received an event written after the restart
            due: dict[str, int] = {}  # for each of them, the first version written since it subscribed
            while pending:
                assert loop.time() < deadline, f"live delivery did not resume on {sorted(pending)} within {RESUME_S} s"
                for name, s in list(pending.items()):
                    if s.closed:  # the server may drop a socket; reconnect and catch up from the log
                        last = max((e["board_version"] for e in s.events(board["id"])), default=start[name])
                        await s.close()
                        socks[name] = pending[name] = await user.socket(bases[name])
                        await socks[name].subscribe(board["id"], after_version=last)
                        first[name] = last + 1
                        due.pop(name, None)
                await writer.one(c.b, "card")  # reaches an open socket only once delivery works again
                written += 1
                for name in pending:
                    due.setdefault(name, written)
                nudge_at = loop.time() + NUDGE_S  # one window shared by every socket still waiting
                for name, s in list(pending.items()):
                    with contextlib.suppress(AssertionError):
                        await s.versions_reach(board["id"], due[name], timeout=max(0.01, nudge_at - loop.time()))
                        del pending[name]

            # once resumed, a new write arrives too, and each socket holds every event since it
            # subscribed (those written while Redis was down included), once, in order, as the log has them
            await writer.one(c.b, "move")
            written += 1
            for name, s in socks.items():
                await s.versions_reach(board["id"], written)
                await s.pong()
                got = s.events(board["id"])
                assert_in_order_once(got, first[name], written)
                assert got == await user.log(bases[name], board["id"], first[name] - 1)
        finally:
            for s in socks.values():
                await s.close()
