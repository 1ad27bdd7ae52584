"""Engines, reader/writer sessions and the column types every service shares."""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import math
import os
import sqlite3
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Index, MetaData, String, event, text
from sqlalchemy import types as sa_types
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from orbitask.core.ids import new_id
from orbitask.core.observability import SQLITE_WRITE_LOCK
from orbitask.core.prepared import Prepared
from orbitask.core.sqlite import AUTOCHECKPOINT_PAGES, BUSY_TIMEOUT_MS, SHARED_READER, SharedReader, inline_creator

if TYPE_CHECKING:
    from orbitask.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
CONNECT_TIMEOUT_S = 5.0  # the default of ORBITASK_DATABASE_CONNECT_TIMEOUT_SECONDS
WRITE_LOCK_TIMEOUT_S = 30.0  # SQLite: how long a writer waits for another process's write lock
WRITE_LOCK_SPIN_S = 0.002  # ... of which at first this long without giving the event loop a turn
WRITE_LOCK_SPIN_STEP_S = 0.0001


class Base(DeclarativeBase):
    """Declarative base with an explicit constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {uuid.UUID: sa_types.Uuid(), dict[str, Any]: JSON(), list[str]: JSON(), list[int]: JSON()}


class UTCDateTime(sa_types.TypeDecorator[dt.datetime]):
    """Timestamps stored as UTC and always returned timezone-aware."""

    impl = sa_types.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa_types.DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def position_type() -> sa_types.TypeEngine[str]:
    """Fractional-index strings compare byte-wise on every backend (case matters)."""
    return (
        String(128)
        .with_variant(mysql.VARCHAR(128, charset="ascii", collation="ascii_bin"), "mysql", "mariadb")
        .with_variant(postgresql.VARCHAR(128, collation="C"), "postgresql")
    )


def long_text() -> sa_types.TypeEngine[str]:
    """Text up to 16 MiB everywhere (MySQL's TEXT stops at 64 KiB, one byte short of our limit)."""
    return sa_types.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def long_binary() -> sa_types.TypeEngine[bytes]:
    """Bytes without MySQL's 64 KiB BLOB limit."""
    return sa_types.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


def utcnow() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.UTC)


def id_default() -> uuid.UUID:
    """Column default for primary keys."""
    return new_id()


def configure_sqlite(dbapi_connection: Any, *, writer: bool) -> None:
    """WAL, foreign keys, a short busy timeout, and read-only unless `writer` (a sqlite3 connection or SQLAlchemy's adapter)."""
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")  # short: calls run on the loop (core/sqlite.py)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")  # a backstop (core/sqlite.py)
    if not writer:
        cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _sqlite_setup(engine: AsyncEngine, *, writer: bool) -> None:
    """WAL, foreign keys, a busy timeout; writers start with BEGIN IMMEDIATE, readers are read-only."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _: Any) -> None:
        configure_sqlite(dbapi_connection, writer=writer)

    if writer:

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


async def _asyncmy_connect_within_timeout(*args: Any, timeout: float, **kwargs: Any) -> Any:
    """asyncmy.connect, bounded as a whole.

    asyncmy's `connect_timeout` bounds only the TCP connect, not the server's greeting and the
    login after it: a server that accepts connections but does not answer (frozen, overloaded,
    behind a proxy whose backend is gone) would hang the connect forever. (psycopg's
    `connect_timeout` covers the whole connect.)
    """
    import asyncmy
    from asyncmy.errors import OperationalError

    try:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the result, swallowing the
        # cancellation, when the task is cancelled just as the connect completes (a relay that never stops)
        async with asyncio.timeout(timeout):
            return await asyncmy.connect(*args, **kwargs)
    except TimeoutError:
        # 2013 "lost connection" as the driver would say it: SQLAlchemy wraps it and treats it as a disconnect
        raise OperationalError(2013, f"Lost connection to MySQL server: no handshake within {timeout:g} s")


def make_engine(url: str, *, writer: bool, connect_timeout: float = CONNECT_TIMEOUT_S) -> AsyncEngine:
    """An async engine with sensible pool settings for the backend; server connects give up after `connect_timeout`.

    Readers run in autocommit: a single SELECT needs no BEGIN/COMMIT round trips;
    reads of several statements that must agree use `repeatable_read`.
    """
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if not writer:
        kwargs["isolation_level"] = "AUTOCOMMIT"
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # One writer connection per process: writers queue in the pool instead of
        # spinning on SQLite's lock; other processes queue on the write lock (SqliteWriteLock).
        kwargs.update(pool_size=1 if writer else 8, max_overflow=0, pool_timeout=60, pool_pre_ping=False)
        if parsed.database and parsed.database != ":memory:":  # calls on the loop's thread (core/sqlite.py)
            kwargs["async_creator"] = inline_creator(parsed.database)
        engine = create_async_engine(url, **kwargs)
        _sqlite_setup(engine, writer=writer)
        return engine
    kwargs.update(pool_size=10, max_overflow=20, pool_recycle=1800, pool_timeout=10)
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        # utf8mb4 for emoji; UTC sessions; READ COMMITTED on the writer so that reads after
        # `SELECT ... FOR UPDATE` see the latest rows, not the transaction's first snapshot.
        kwargs["connect_args"] = {
            "charset": "utf8mb4", "connect_timeout": connect_timeout, "init_command": "SET time_zone = '+00:00'",
            "async_creator_fn": partial(_asyncmy_connect_within_timeout, timeout=connect_timeout),
        }
        if writer:
            kwargs["isolation_level"] = "READ COMMITTED"
    elif parsed.get_backend_name() == "postgresql":
        # libpq takes whole seconds (and at least 2)
        kwargs["connect_args"] = {"connect_timeout": max(2, math.ceil(connect_timeout)), "options": "-c timezone=UTC"}
    return create_async_engine(url, **kwargs)


_SNAPSHOT_BEGIN = {
    "sqlite": "BEGIN",
    # the isolation level is set for the next transaction: the server default may be READ COMMITTED
    "mysql": "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
    "mariadb": "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
    "postgresql": "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
}


_SNAPSHOT_STATEMENTS = {dialect: [Prepared(text(s)) for s in begin.split("; ")] for dialect, begin in _SNAPSHOT_BEGIN.items()}
_COMMIT = Prepared(text("COMMIT"))


@asynccontextmanager
async def repeatable_read(session: AsyncSession) -> AsyncIterator[None]:
    """Make the reads in the block see one consistent state (reader sessions autocommit)."""
    session.info.pop(SHARED_READER, None)  # the block runs on the session's own connection
    for statement in _SNAPSHOT_STATEMENTS.get(session.get_bind().dialect.name, _SNAPSHOT_STATEMENTS["sqlite"]):
        await statement.run(session)
    try:
        yield
    finally:
        await _COMMIT.run(session)


class SqliteWriteLock:
    """Queues SQLite writers: within a process, and across processes with flock(2).

    Without it, writers in several worker processes spin in SQLite's busy handler,
    which sleeps in growing steps and ruins tail latency.

    A writer's transaction nearly always runs without giving the event loop a turn (the SQLite
    calls run inline, core/sqlite.py), so the lock is taken and given back within one step of the
    loop. A writer that finds it free takes it at once, even while others wait: a lock handed to the
    first waiter stays unused until the event loop gets round to that waiter, a whole pass over the
    loop's ready work under load, and with an asyncio.Lock every writer of the process queued
    behind those gaps (docs/benchmarks-history.md, "Ninth pass"). A writer that finds another process's
    writer holding it first waits a moment on this thread (`_take_soon`). After that, a waiter is
    woken when a writer of its own process gives the lock back, and otherwise looks again every
    millisecond or two (another process's writer does not tell it).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._held = False  # a writer of this process holds the flock
        self._waiters: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        """Whether a writer of this process holds the lock."""
        return self._held

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Hold the lock for the block."""
        asked = time.perf_counter()
        if not self._take() and not self._take_soon():
            await self._wait()
        taken = time.perf_counter()
        SQLITE_WRITE_LOCK.labels("wait").observe(taken - asked)
        try:
            yield
        finally:
            self._held = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)  # type: ignore[arg-type]  # set by _take
            SQLITE_WRITE_LOCK.labels("hold").observe(time.perf_counter() - taken)
            self._wake_first()

    def _take(self) -> bool:
        """Take the lock if no writer of this process or another one holds it."""
        if self._held:
            return False
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._held = True
        return True

    def _take_soon(self) -> bool:
        """While another process's writer holds the lock, wait a moment for it on this thread.

        That writer is most likely running its transaction, a millisecond or two, on another core.
        Giving the event loop a turn instead costs more: under load a pass over the loop's ready
        work takes several milliseconds, and the lock can be taken again by then. The wait is
        bounded (WRITE_LOCK_SPIN_S) and sleeps, so the core is free for others meanwhile. Writers of
        this process already waiting on the event loop mean a longer hold (a job's transaction, an
        import): then this one waits with them instead of stopping the loop for nothing.
        """
        if self._held or self._waiters:
            return False  # a holder of this process needs the event loop to finish; or a long hold
        deadline = time.perf_counter() + WRITE_LOCK_SPIN_S
        while time.perf_counter() < deadline:
            time.sleep(WRITE_LOCK_SPIN_STEP_S)
            if self._take():
                return True
        return False

    def _wake_first(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _wait(self) -> None:
        """Wait for a turn: woken by this process's last holder, or after a pause of a millisecond or two.

        Bounded: when another process keeps the lock for WRITE_LOCK_TIMEOUT_S, a "database is
        locked" error, which commands retry (core/uow.py). (Waiting on flock in a worker thread took
        the lock the moment it was free, but then held it unused until the event loop got round to
        resuming the writer, milliseconds under load, while every other process's writers waited.)
        """
        loop = asyncio.get_running_loop()
        foreign_since: float | None = None
        pause = 0.0005
        while True:
            if self._held:
                foreign_since = None  # a writer of this process: its turn ends, however long it takes
            elif foreign_since is None:
                foreign_since = time.monotonic()
            elif time.monotonic() - foreign_since > WRITE_LOCK_TIMEOUT_S:
                raise sqlite3.OperationalError(
                    f"database is locked: another process held the write lock for {WRITE_LOCK_TIMEOUT_S:.0f} s"
                )
            waiter = loop.create_future()
            self._waiters.append(waiter)
            timer = loop.call_later(pause, _settle, waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_first()  # cancelled after being woken: the turn goes to the next waiter
                raise
            finally:
                timer.cancel()
                with suppress(ValueError):
                    self._waiters.remove(waiter)
            if self._take():
                return
            pause = min(pause * 2, 0.002)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Database:
    """The writer and reader engines of this region, and sessions on them."""

    def __init__(self, writer_url: str, reader_url: str | None = None, *, replica: bool | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        self.writer_url = writer_url
        parsed = make_url(writer_url)
        self.write_lock: SqliteWriteLock | None = None
        self.sqlite_file: str | None = None  # the database file on the embedded default
        if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
            self.sqlite_file = parsed.database
            self.write_lock = SqliteWriteLock(Path(parsed.database).with_name(Path(parsed.database).name + ".lock"))
        self.reader_url = reader_url or writer_url
        self.writer = make_engine(writer_url, writer=True, connect_timeout=connect_timeout)
        self.reader = make_engine(self.reader_url, writer=False, connect_timeout=connect_timeout)
        self.split = self.reader_url != self.writer_url
        # Whether reads may lag the writer: a separate reader DSN, or (in a reader region of a
        # multi-region deployment) a local database that is itself a replica of another region's.
        self.replica = self.split if replica is None else replica
        # Reads that must not see replica lag run read-only on the writer's server.
        self.primary_reader = (make_engine(writer_url, writer=False, connect_timeout=connect_timeout) if self.split
                               else self.reader)
        # single reads outside transactions, on the embedded default (core/sqlite.py)
        self.shared_reader = (SharedReader(self.sqlite_file, self.reader.sync_engine,
                                           partial(configure_sqlite, writer=False))
                              if self.sqlite_file is not None and not self.split else None)
        self._writer_sessions = async_sessionmaker(self.writer, expire_on_commit=False, autoflush=False)
        self._reader_sessions = async_sessionmaker(self.reader, expire_on_commit=False, autoflush=False)
        self._primary_sessions = async_sessionmaker(self.primary_reader, expire_on_commit=False, autoflush=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, replica: bool | None = None) -> Database:
        """The writer and reader databases that `settings` name."""
        return cls(settings.writer_url, settings.reader_url, replica=replica,
                   connect_timeout=settings.database_connect_timeout_seconds)

    @property
    def backend(self) -> str:
        """sqlite, mysql or postgresql."""
        return self.writer.dialect.name

    def writer_session(self) -> AsyncSession:
        """A session on the writer (the unit of work owns its transaction)."""
        return self._writer_sessions()

    @asynccontextmanager
    async def write_transaction(self) -> AsyncIterator[AsyncSession]:
        """A short writer transaction outside any command (bookkeeping); commits on success."""
        async with AsyncExitStack() as stack:
            if self.write_lock is not None:
                await stack.enter_async_context(self.write_lock.hold())
            session = await stack.enter_async_context(self._session(self._writer_sessions))
            async with session.begin():
                yield session

    @asynccontextmanager
    async def read_session(self, *, on_writer: bool = False) -> AsyncIterator[AsyncSession]:
        """A read-only session on the reader (or on the writer after a failed replica wait)."""
        async with self._session(self._primary_sessions if on_writer else self._reader_sessions) as session:
            if self.shared_reader is not None:
                session.info[SHARED_READER] = self.shared_reader
            yield session

    @asynccontextmanager
    async def _session(self, factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
        """A session, closed at the end of the block.

        `AsyncSession`'s own `async with` closes it in a task of its own, shielded, so that a
        cancelled caller cannot cut the close short (two extra turns of the event loop and a task:
        about a fifth of a short read's cost). On the embedded default's inline connections
        (core/sqlite.py) nothing in a close waits, so nothing can cut it short: it is awaited directly.
        """
        if self.sqlite_file is None:
            async with factory() as session:
                yield session
            return
        session = factory()
        try:
            yield session
        finally:
            await session.close()

    async def dispose(self) -> None:
        """Close every pooled connection."""
        if self.shared_reader is not None:
            self.shared_reader.close()
        for engine in {self.writer, self.reader, self.primary_reader}:
            await engine.dispose()


def trashed_index(table: str) -> Index:
    """The index the trash purge reads (`deleted_at < cutoff`), holding only rows in the trash where the backend
    allows it. A full one made SQLite, which has no statistics, read "deleted_at IS NULL" through it: every live
    row of a million-card table for a lookup of 25 cards by id (188 ms)."""
    only_trashed = text("deleted_at IS NOT NULL")
    return Index(f"ix_{table}_deleted_at", "deleted_at", sqlite_where=only_trashed, postgresql_where=only_trashed)
