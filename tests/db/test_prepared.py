"""`Prepared` statements: on SQLite files they run on the connection itself, with SQLAlchemy's own results and errors."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Boolean, Column, Integer, MetaData, String, Table, Uuid, bindparam, event, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from orbitask.core.db import Database, UTCDateTime
from orbitask.core.prepared import Prepared, _raw_connection

META = MetaData()
PROBE = Table(
    "probe", META,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("ref", Uuid, unique=True, nullable=False),
    Column("at", UTCDateTime),
    Column("done", Boolean, nullable=False),
    Column("data", JSON),
    Column("label", String(20), default="plain"),
)
INSERT = Prepared(insert(PROBE))
BY_REF = Prepared(select(PROBE).where(PROBE.c.ref == bindparam("ref")))
ALL = Prepared(select(PROBE.c.seq, PROBE.c.ref, PROBE.c.done.label("finished")).order_by(PROBE.c.seq))
AT = dt.datetime(2026, 12, 3, 17, 30, 1, 250_000, tzinfo=dt.UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'prepared.db'}")
    async with database.write_transaction() as session:
        await session.run_sync(lambda s: META.create_all(s.connection()))
    yield database
    await database.dispose()


def row(ref: uuid.UUID, **extra: Any) -> dict[str, Any]:
    return {"ref": ref, "at": AT, "done": True, "data": {"a": [1, "b"]}, "label": "x", **extra}


async def refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("went through AsyncSession.execute")


@pytest.fixture
def no_session_execute(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's statements must not go through `AsyncSession.execute` (the fast path)."""
    monkeypatch.setattr(AsyncSession, "execute", refuse)


async def test_rows_and_values_are_the_sessions_without_going_through_it(db: Database, monkeypatch: pytest.MonkeyPatch
                                                                        ) -> None:
    refs = [uuid.uuid4(), uuid.uuid4()]
    async with db.write_transaction() as session:
        with monkeypatch.context() as m:
            m.setattr(AsyncSession, "execute", refuse)
            seqs = [await INSERT.insert(session, row(ref)) for ref in refs]
            found = await BY_REF.first(session, {"ref": refs[1]})
            listed = await ALL.all(session)
            missing = await BY_REF.first(session, {"ref": uuid.uuid4()})
    assert seqs == [1, 2]
    assert missing is None
    assert (found.seq, found.ref, found.at, found.done, found.data, found.label) == (2, refs[1], AT, True,
                                                                                      {"a": [1, "b"]}, "x")
    assert found.at.tzinfo is dt.UTC and type(found.done) is bool
    assert found._mapping == {"seq": 2, "ref": refs[1], "at": AT, "done": True, "data": {"a": [1, "b"]}, "label": "x"}
    assert [(r.seq, r.ref, r.finished) for r in listed] == [(1, refs[0], True), (2, refs[1], True)]
    # the same rows through the session, as SQLAlchemy reads them
    async with db.read_session() as session:
        assert [tuple(r) for r in (await session.execute(ALL.statement)).all()] == [tuple(r) for r in listed]
        assert tuple((await session.execute(BY_REF.statement, {"ref": refs[1]})).one()) == tuple(found)


async def test_writes_belong_to_the_sessions_transaction(db: Database, no_session_execute: None) -> None:
    kept, dropped = uuid.uuid4(), uuid.uuid4()
    async with db.write_transaction() as session:
        await INSERT.run(session, row(kept))
    with pytest.raises(RuntimeError):
        async with db.write_transaction() as session:
            await INSERT.run(session, row(dropped))
            assert await BY_REF.first(session, {"ref": dropped}) is not None  # seen inside the transaction
            raise RuntimeError("roll back")
    async with db.read_session() as session:
        assert [r.ref for r in await ALL.all(session)] == [kept]


async def test_database_errors_are_sqlalchemys(db: Database, no_session_execute: None) -> None:
    """Handlers of IntegrityError and `command`'s retries (DBAPIError) see what the session would raise."""
    ref = uuid.uuid4()
    async with db.write_transaction() as session:
        await INSERT.run(session, row(ref))
    with pytest.raises(IntegrityError, match="UNIQUE constraint failed: probe.ref") as caught:
        async with db.write_transaction() as session:
            await INSERT.run(session, row(ref))
    assert caught.value.statement is not None and caught.value.statement.startswith("INSERT INTO probe")
    other = Table("not_created", MetaData(), Column("n", Integer))
    with pytest.raises(OperationalError, match="no such table"):
        async with db.read_session() as session:
            await Prepared(select(other.c.n)).all(session)
    async with db.read_session() as session:  # the connection is fine afterwards
        assert len(await ALL.all(session)) == 1


async def test_lists_are_expanded_on_the_fast_path(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    refs = [uuid.uuid4() for _ in range(5)]
    async with db.write_transaction() as session:
        for ref in refs:
            await INSERT.run(session, row(ref))
    expanding = Prepared(select(PROBE.c.seq, PROBE.c.at).where(
        PROBE.c.ref.in_(bindparam("refs", expanding=True)), PROBE.c.seq.not_in(bindparam("not", expanding=True)),
        PROBE.c.done.is_(True)).order_by(PROBE.c.seq))
    cases = [{"refs": refs[1:4], "not": [3]}, {"refs": refs, "not": []}, {"refs": [], "not": [1]},
             {"refs": [refs[0]] * 3, "not": [2, 3]}]
    async with db.read_session() as session:
        expected = [[tuple(r) for r in (await session.execute(expanding.statement, case)).all()] for case in cases]
        with monkeypatch.context() as m:
            m.setattr(AsyncSession, "execute", refuse)
            found = [[tuple(r) for r in await expanding.all(session, case)] for case in cases]
    assert found == expected == [[(2, AT), (4, AT)], [(n, AT) for n in range(1, 6)], [], [(1, AT)]]


async def test_what_the_fast_path_cannot_run_exactly_goes_through_the_session(db: Database) -> None:
    refs = [uuid.uuid4(), uuid.uuid4()]
    statements: list[str] = []
    async with db.write_transaction() as session:
        # a Python-side default left for SQLAlchemy to fill in: `label`
        await INSERT.run(session, {k: v for k, v in row(refs[0]).items() if k != "label"})
        await INSERT.run(session, row(refs[1]))

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    # someone listening to statements (tracing, a test counting them) sees every one
    event.listen(db.reader.sync_engine, "before_cursor_execute", seen)
    try:
        async with db.read_session() as session:
            assert [r.seq for r in await ALL.all(session)] == [1, 2]
            assert (await BY_REF.first(session, {"ref": refs[0]})).label == "plain"
    finally:
        event.remove(db.reader.sync_engine, "before_cursor_execute", seen)
    assert [s.split()[0] for s in statements] == ["SELECT", "SELECT"]


async def test_aiosqlites_own_connections_go_through_the_session(tmp_path: Path) -> None:
    """Connections with a thread of their own (aiosqlite's, not core/sqlite.py's) are left to SQLAlchemy."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'threaded.db'}")
    try:
        async with AsyncSession(engine) as session, session.begin():
            await session.run_sync(lambda s: META.create_all(s.connection()))
            ref = uuid.uuid4()
            assert await INSERT.insert(session, row(ref)) == 1
            assert (await BY_REF.first(session, {"ref": ref})).at == AT
            assert await _raw_connection(session) is None
    finally:
        await engine.dispose()


async def test_single_reads_run_on_the_shared_reader_and_snapshots_on_the_session_s_connection(db: Database) -> None:
    """A read session that begins nothing checks no connection out of the pool: its statements run on
    the process's shared read-only connection. A `repeatable_read` block keeps its own snapshot on the
    session's connection, and leaves the shared one free for everyone else."""
    from orbitask.core.db import repeatable_read

    pool = db.reader.sync_engine.pool
    async with db.write_transaction() as session:
        await INSERT.insert(session, row(uuid.uuid4()))
    async with db.read_session() as session:
        assert len(await ALL.all(session)) == 1
        assert pool.checkedout() == 0 and not session.in_transaction()
        with pytest.raises(OperationalError, match="readonly"):  # read-only, as the reader's own connections
            await INSERT.run(session, row(uuid.uuid4()))

    async with db.read_session() as snapshot:
        async with repeatable_read(snapshot):
            assert len(await ALL.all(snapshot)) == 1
            assert pool.checkedout() == 1
            async with db.write_transaction() as session:
                await INSERT.insert(session, row(uuid.uuid4()))
            async with db.read_session() as other:
                assert len(await ALL.all(other)) == 2  # the shared connection is not inside the block's snapshot
            assert len(await ALL.all(snapshot)) == 1  # the block still sees its snapshot
    assert db.shared_reader is not None
    await db.dispose()
    assert db.shared_reader._connection is None
