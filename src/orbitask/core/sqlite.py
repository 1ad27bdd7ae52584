"""SQLite connections that run on the event loop's thread instead of aiosqlite's worker thread.

aiosqlite runs every call (cursor, execute, fetch, close: four per statement) on a thread of
its own and wakes the event loop through its self-pipe for each answer. On a SQLite file a
statement takes microseconds; the hops cost about 0.2 ms of CPU each, most of it in system
calls, which made them the largest single cost of a request on the embedded default
(docs/benchmarks-history.md, "Capacity"). So these connections keep aiosqlite's API, which
SQLAlchemy's aiosqlite dialect drives, and call sqlite3 directly.

Commits run inline too: with `synchronous=NORMAL` a WAL commit appends to the log without
syncing it. What can be slow is the checkpoint (copying the log into the database file and
syncing it), which SQLite runs in the commit that fills the log. So the app's processes copy the
log themselves, in a worker thread, every `CHECKPOINT_INTERVAL_S` (`run_checkpoints`), and the
automatic checkpoint is left as a backstop at a size that the background one keeps the log well
below. (Commits used to go to a worker thread instead: the hop cost CPU, and a writer kept the
write lock until the event loop got round to resuming it, which queued the other writers.)

Blocking the loop is otherwise safe because SQLite does not wait on anyone in our processes:
writers queue on `SqliteWriteLock` (in the process, and across processes with flock) before `BEGIN IMMEDIATE`, and
WAL readers never wait for writers. The busy timeout is kept short so that a foreign process
holding the database lock (a `sqlite3` shell, say) cannot freeze the loop for long: the
command then fails with "database is locked", which commands retry (`core/uow.py`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.request import pathname2url

import aiosqlite
import structlog
from anyio import to_thread

from orbitask.core.backoff import Backoff, Outage

BUSY_TIMEOUT_MS = 1_000
# The log is copied into the database file this often (run_checkpoints) ...
CHECKPOINT_INTERVAL_S = 0.5
CHECKPOINT_RETRY_MAX_S = 30.0  # a checkpoint that keeps failing (an unwritable file) is retried at most this far apart
# ... and SQLite copies it in a commit only past this many pages (4 KiB each): a backstop for
# processes without run_checkpoints (command-line tools) and for a checkpoint that fell behind.
AUTOCHECKPOINT_PAGES = 10_000

log = structlog.get_logger()


class _RunNow:
    """Stands in for aiosqlite's queue to its thread (SQLAlchemy's adapter puts work there directly)."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, as aiosqlite's thread would
            if future is not None:
                future.set_exception(exc)
        else:
            if future is not None:
                future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection without its thread: every call runs at once, on the caller's thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._tx = _RunNow()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Any:
        return self._connect().__await__()  # no worker thread to start

    def stop(self) -> None:
        """Close the sqlite3 connection (aiosqlite would stop its thread here)."""
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        """Close the connection; closing twice is harmless."""
        self.stop()


SHARED_READER = "orbitask.shared_reader"  # session.info of read sessions on the embedded default


class SharedReader:
    """One read-only sqlite3 connection per process, for statements outside any transaction.

    A read session's statements run in autocommit, each on its own snapshot, so they need not run
    on the session's own pooled connection: `Prepared` runs them here when the session has not
    begun anything (core/prepared.py). Checking a connection out of the pool into the session and
    back cost several times the statement (docs/benchmarks-history.md, "Seventh and eighth passes"). One connection is
    enough: each statement runs and is fetched on the event loop's thread without a pause, so
    no two ever overlap. Blocks that need one snapshot (`repeatable_read`) use the session's own.
    """

    def __init__(self, database: str, engine: Any, configure: Callable[[sqlite3.Connection], None]) -> None:
        self.database = database
        self.engine = engine  # the reader's sync engine: its dialect, and whether anyone listens to statements
        self._configure = configure
        self._connection: sqlite3.Connection | None = None

    def connection(self) -> tuple[sqlite3.Connection, Any] | None:
        """(connection, dialect); None while statements are listened to (tracing, a test counting them)."""
        dispatch = self.engine.dispatch
        if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
            return None
        if self._connection is None:
            connection = sqlite3.connect(self.database, uri=self.database.startswith("file:"),
                                         check_same_thread=False, isolation_level=None)
            self._configure(connection)
            self._connection = connection
        return self._connection, self.engine.dialect

    def close(self) -> None:
        """Close the connection (the next statement opens another)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def inline_creator(database: str) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine`: inline connections to one SQLite file."""

    async def connect() -> InlineConnection:
        connector = partial(sqlite3.connect, database, uri=database.startswith("file:"), check_same_thread=False,
                            isolation_level=None)
        return await InlineConnection(connector, iter_chunk_size=64)

    return connect


async def run_checkpoints(database: str, interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
    """Copy the WAL into the database file every `interval_s`, in a worker thread, until cancelled.

    PASSIVE: never waits for readers or writers; whatever they still use is copied next time.
    Several processes may run this on one file; SQLite lets one checkpoint at a time (the others
    find it busy and try again later).
    """
    outage = Outage(log, loop="sqlite-checkpoint", what="sqlite file",
                    backoff=Backoff(min_s=max(interval_s, CHECKPOINT_INTERVAL_S),
                                    max_s=max(interval_s, CHECKPOINT_RETRY_MAX_S)))
    wait = interval_s
    while True:
        await asyncio.sleep(wait)
        try:
            await to_thread.run_sync(_checkpoint, database)
        except sqlite3.Error as exc:  # a locked or unwritable file: keep serving, try again (logged once)
            wait = outage.failed(exc)
        else:
            outage.ok()
            wait = interval_s


def _checkpoint(database: str) -> tuple[int, int, int]:
    """(busy, log pages, pages copied) of one passive checkpoint.

    On a connection of its own, opened and closed in the worker thread: a cancelled task does not
    wait for its thread, so a connection shared with the event loop could be closed under it.
    """
    uri = database if database.startswith("file:") else f"file:{pathname2url(database)}?mode=rw"  # never create it
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=0")
        return conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        conn.close()


class ChangeCounter:
    """Whether anyone committed to a SQLite file since the last look: `PRAGMA data_version`.

    The pragma's value changes when another connection commits, and reading it on a connection of
    its own costs microseconds, against half a millisecond or more for a query through the pool:
    pollers (the relay) look at it first and skip their query while nothing was written.
    A connection that cannot be opened or read answers "changed" (the caller then just queries).
    """

    def __init__(self, database: str) -> None:
        self._uri = database if database.startswith("file:") else f"file:{pathname2url(database)}?mode=ro"
        self._conn: sqlite3.Connection | None = None
        self._last: int | None = None

    def changed(self) -> bool:
        """True when a commit may have happened since the previous call (always on the first)."""
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self._uri, uri=True, isolation_level=None, check_same_thread=False)
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            self.close()
            return True
        changed, self._last = version != self._last, version
        return changed

    def close(self) -> None:
        """Close its connection (the next call opens another)."""
        if self._conn is not None:
            self._conn.close()
        self._conn, self._last = None, None

