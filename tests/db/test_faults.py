"""Database faults: a server that stops, crashes or freezes answers 503 (never 500, never a hang),
idempotent POSTs can be retried safely, and the same app recovers when the server comes back.

Each backend gets its own server here (not the shared session servers): these tests stop,
SIGKILL and SIGSTOP it, then start it again on the same data directory and port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from orbitask.app import create_app
from orbitask.boards.models import Board
from orbitask.core.db import CONNECT_TIMEOUT_S, Database
from orbitask.core.migrate import upgrade
from tests.conftest import TEST_DATABASE, Api, User, _tables, assert_problem, make_settings
from tests.dbservers import USER as DB_USER
from tests.dbservers import MariaDB, MissingServer, PostgreSQL

FROZEN_CONNECT_S = 2.0  # a connect timeout unlike the default and the suite's
HANG_S = 30.0  # past this a request is abandoned, so that a regression fails instead of hanging the suite
REQUEST_TIMEOUT_S = 3.0  # request_timeout_seconds of the apps under test: tight, yet roomy for a busy CI machine

Server = MariaDB | PostgreSQL


@dataclass
class Backend:
    name: str
    server: Server
    url: str
    wipe: Callable[[], None]
    frozen: bool = False

    @property
    def running(self) -> bool:
        return self.server.proc is not None if isinstance(self.server, MariaDB) else self.server.running

    def freeze(self) -> None:
        """SIGSTOP every server process: connects and queries hang instead of failing."""
        for pid in self.server.pids():
            os.kill(pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        for pid in self.server.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = False

    def heal(self) -> None:
        """Whatever the last test did, leave the server running."""
        if self.frozen:
            self.thaw()
        if not self.running:
            self.server.start()


@pytest.fixture(scope="module", params=["mariadb", "postgresql"])
def backend_server(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """A server of our own for this module, with a migrated database."""
    name = request.param
    base = Path(tempfile.mkdtemp(prefix=f"orbitask-faults-{name}-"))
    server: Server = MariaDB(base, binlog=False) if name == "mariadb" else PostgreSQL(base)
    try:
        try:
            server.start()
        except MissingServer as exc:
            pytest.fail(str(exc), pytrace=False)
        tables = _tables()
        if isinstance(server, MariaDB):
            server.sql(f"CREATE DATABASE {TEST_DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            wipe_sql = "SET FOREIGN_KEY_CHECKS=0;" + "".join(f"DELETE FROM `{t}`;" for t in tables)
        else:
            server.sql(f"CREATE DATABASE {TEST_DATABASE} OWNER {DB_USER}")
            wipe_sql = "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        url = server.url(TEST_DATABASE)
        upgrade(url)
        yield Backend(name, server, url, lambda: server.sql(wipe_sql, TEST_DATABASE))
    finally:
        with contextlib.suppress(Exception):
            for pid in server.pids():
                os.kill(pid, signal.SIGCONT)
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def db(backend_server: Backend) -> Iterator[Backend]:
    backend_server.heal()
    backend_server.wipe()
    yield backend_server
    backend_server.heal()


@pytest.fixture
async def app(db: Backend, tmp_path: Path) -> AsyncIterator[Any]:
    """One app for the whole test: it must recover by itself, never be rebuilt."""
    # the production bound on connects: a restarted server's first connects must fail within a request
    application = create_app(make_settings(tmp_path, database_url=db.url, request_timeout_seconds=REQUEST_TIMEOUT_S,
                                           database_connect_timeout_seconds=CONNECT_TIMEOUT_S))
    async with LifespanManager(application):
        yield application


async def answered(request: Awaitable[httpx.Response]) -> httpx.Response:
    """The response; a request still unanswered after HANG_S fails the test."""
    try:
        return await asyncio.wait_for(request, HANG_S)
    except TimeoutError:
        pytest.fail(f"the request hung for {HANG_S} s")


def assert_503(r: httpx.Response, type_: str = "unavailable") -> dict[str, Any]:
    """503 with Retry-After; "unavailable" (the database failed) is answered before the deadline, which
    would have said "timeout"."""
    body = assert_problem(r, 503, type_)
    assert int(r.headers["retry-after"]) >= 1
    return body


async def seed(api: Api) -> tuple[User, dict[str, Any], dict[str, Any], dict[str, Any]]:
    alice = await api.user("Alice")
    board = await api.board(alice)
    lst = await api.list(alice, board["id"], "To do")
    card = await api.card(alice, lst["id"], "Before the fault")
    return alice, board, lst, card


async def titles(api: Api, who: User, board_id: str) -> list[str]:
    snap = await api.ok(who, "GET", f"/boards/{board_id}")
    return sorted(c["title"] for c in snap["cards"])


def outage(db: Backend, how: str) -> None:
    if how == "kill" and isinstance(db.server, PostgreSQL):
        # The test cluster runs with synchronous_commit=off: commits of the last few hundred ms sit in
        # shared-memory WAL buffers that a crash loses (the setting's documented trade). Write them out
        # first so that the data the test checks afterwards is the data it committed.
        db.server.sql("CHECKPOINT")
    {"stop": db.server.stop, "kill": db.server.kill}[how]()
    assert not db.running


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_server_down_answers_503_and_the_same_app_recovers(db: Backend, api: Api, how: str) -> None:
    alice, board, lst, card = await seed(api)
    key = f"create-{uuid.uuid4()}"
    outage(db, how)

    # a write, reads, an idempotent write and a sign-up: 503 with Retry-After, before the deadline, never 500
    assert_503(await answered(api.call(alice, "POST", f"/lists/{lst['id']}/cards", json={"title": "Lost"})))
    assert_503(await answered(api.call(alice, "GET", f"/boards/{board['id']}")))
    assert_503(await answered(api.call(alice, "GET", f"/cards/{card['id']}")))
    retried = {"json": {"title": "Retried"}, "headers": {"Idempotency-Key": key}}
    assert_503(await answered(api.call(alice, "POST", f"/lists/{lst['id']}/cards", **retried)))
    assert_503(await answered(api.call(alice, "POST", f"/lists/{lst['id']}/cards", **retried)))
    assert_503(await answered(api.call(
        None, "POST", "/auth/register", json={"email": "bob@example.com", "password": "x" * 12, "name": "Bob"})))

    db.server.start()  # same data directory, same port

    # the same app, without a restart: the pool drops its dead connections and reconnects
    assert await titles(api, alice, board["id"]) == ["Before the fault"]
    first = await api.call(alice, "POST", f"/lists/{lst['id']}/cards", expect=201, **retried)
    assert "idempotent-replayed" not in first.headers
    again = await api.call(alice, "POST", f"/lists/{lst['id']}/cards", expect=201, **retried)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    await api.card(alice, lst["id"], "After the fault")
    assert await titles(api, alice, board["id"]) == ["After the fault", "Before the fault", "Retried"]
    await api.user("Bob")


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_server_lost_in_the_middle_of_a_request(db: Backend, app: Any, api: Api, how: str) -> None:
    """The server goes away while a card create is inside its transaction (waiting for the board's
    row lock, held by another connection): 503 at once, nothing written, and the retry applies once."""
    alice, board, lst, _ = await seed(api)
    request = {"json": {"title": "Interrupted"}, "headers": {"Idempotency-Key": f"k-{uuid.uuid4()}"}}
    locking = asyncio.Event()

    def watch(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FOR UPDATE" in statement:
            locking.set()

    writer = app.state.runtime.db.writer.sync_engine
    event.listen(writer, "before_cursor_execute", watch)
    locker = create_async_engine(db.url)
    conn = await locker.connect()
    try:
        await conn.begin()
        await conn.execute(select(Board.id).where(Board.id == uuid.UUID(board["id"])).with_for_update())
        pending = asyncio.ensure_future(api.call(alice, "POST", f"/lists/{lst['id']}/cards", **request))
        await asyncio.wait_for(locking.wait(), HANG_S)  # the command is in its transaction
        # in a thread: the app sees its connection drop while the server shuts down (a shutdown
        # checkpoint can outlast the request's deadline on a slow machine)
        await asyncio.to_thread(outage, db, how)
        assert_503(await answered(pending))
    finally:
        event.remove(writer, "before_cursor_execute", watch)
        with contextlib.suppress(Exception):  # its server is gone
            await conn.close()
        await locker.dispose()

    db.server.start()
    assert await titles(api, alice, board["id"]) == ["Before the fault"]
    first = await api.call(alice, "POST", f"/lists/{lst['id']}/cards", expect=201, **request)
    again = await api.call(alice, "POST", f"/lists/{lst['id']}/cards", expect=201, **request)
    assert again.headers["idempotent-replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert await titles(api, alice, board["id"]) == ["Before the fault", "Interrupted"]


async def test_idempotent_post_replays_after_a_server_restart(db: Backend, api: Api) -> None:
    alice, board, lst, _ = await seed(api)
    request = {"json": {"title": "Once"}, "headers": {"Idempotency-Key": f"k-{uuid.uuid4()}"}}
    first = await api.call(alice, "POST", f"/lists/{lst['id']}/cards", expect=201, **request)

    db.server.stop()
    db.server.start()

    replay = await answered(api.call(alice, "POST", f"/lists/{lst['id']}/cards", expect=201, **request))
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert await titles(api, alice, board["id"]) == ["Before the fault", "Once"]


async def test_request_past_its_timeout_answers_503_and_writes_nothing(db: Backend, api: Api) -> None:
    """Another connection holds the board's row lock, so a card create waits on it until the deadline."""
    alice, board, lst, _ = await seed(api)
    version = (await api.ok(alice, "GET", f"/boards/{board['id']}"))["version"]
    request = {"json": {"title": "Slow"}, "headers": {"Idempotency-Key": f"k-{uuid.uuid4()}"}}

    locker = create_async_engine(db.url)
    try:
        async with locker.connect() as conn:
            await conn.begin()
            await conn.execute(select(Board.id).where(Board.id == uuid.UUID(board["id"])).with_for_update())

            r = await answered(api.call(alice, "POST", f"/lists/{lst['id']}/cards", **request))
            body = assert_503(r, "timeout")  # it was the deadline that ended it, the app's own
            assert f"did not finish within {REQUEST_TIMEOUT_S:g} seconds" in body["detail"]
            # reads do not wait on row locks: the app keeps serving
            assert await titles(api, alice, board["id"]) == ["Before the fault"]
            await conn.rollback()
    finally:
        await locker.dispose()

    snap = await api.ok(alice, "GET", f"/boards/{board['id']}")
    assert snap["version"] == version
    assert [c["title"] for c in snap["cards"]] == ["Before the fault"]
    assert [e["board_version"] for e in await api.events(alice, board["id"])] == list(range(1, version + 1))

    # the timed-out POST is retried with its key: applied exactly once
    done = await answered(api.call(alice, "POST", f"/lists/{lst['id']}/cards", expect=201, **request))
    again = await api.call(alice, "POST", f"/lists/{lst['id']}/cards", expect=201, **request)
    assert again.headers["idempotent-replayed"] == "true" and again.json()["id"] == done.json()["id"]
    assert await titles(api, alice, board["id"]) == ["Before the fault", "Slow"]


async def test_frozen_server_never_hangs_a_request(db: Backend, api: Api) -> None:
    """SIGSTOP: connections and queries hang rather than fail; the deadline still answers, and the app
    recovers once the server runs again."""
    alice, board, lst, card = await seed(api)
    db.freeze()
    try:
        for method, path, kw in [
            ("POST", f"/lists/{lst['id']}/cards", {"json": {"title": "Frozen"}}),
            ("GET", f"/boards/{board['id']}", {}),
            ("GET", f"/cards/{card['id']}", {}),
            ("POST", f"/lists/{lst['id']}/cards",
             {"json": {"title": "Frozen"}, "headers": {"Idempotency-Key": f"k-{uuid.uuid4()}"}}),
        ]:
            r = await answered(api.call(alice, method, path, **kw))
            assert r.status_code == 503, r.text
            assert_503(r, r.json()["type"].rsplit("/", 1)[1])
    finally:
        db.thaw()

    await api.card(alice, lst["id"], "Thawed")
    assert await titles(api, alice, board["id"]) == ["Before the fault", "Thawed"]


async def test_connecting_to_a_frozen_server_gives_up_after_the_connect_timeout(db: Backend, tmp_path: Path) -> None:
    """Outside any request deadline (relay, workers, CLI) a connect must not hang either. The TCP
    handshake succeeds (the kernel accepts for a stopped process); the server's greeting never comes.
    The bound is ORBITASK_DATABASE_CONNECT_TIMEOUT_SECONDS: the connect is given the setting, not the
    default (5 s), and it is that timeout which ends it."""
    database = Database.from_settings(make_settings(tmp_path, database_url=db.url,
                                                    database_connect_timeout_seconds=FROZEN_CONNECT_S))
    engine = database.writer
    given: list[dict[str, Any]] = []  # the driver's arguments at each connect

    def record(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
        given.append(dict(params))

    event.listen(engine.sync_engine, "do_connect", record)
    db.freeze()
    try:
        async def connect() -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        with pytest.raises(OperationalError) as failed:
            await asyncio.wait_for(connect(), HANG_S)  # a hang ends in TimeoutError: the test fails
    finally:
        db.thaw()
        await database.dispose()
    assert [p["connect_timeout"] for p in given] == [FROZEN_CONNECT_S]
    # asyncmy's own timeout covers the TCP connect only: the bound on the whole connect is ours
    expected = {"mariadb": f"no handshake within {FROZEN_CONNECT_S:g} s", "postgresql": "timeout expired"}[db.name]
    assert expected in str(failed.value.orig), failed.value
