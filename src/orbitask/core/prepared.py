"""Hot statements, compiled once: on the embedded default they run on the sqlite3 connection itself.

A statement that SQLite runs in about 8 µs took 100-240 µs through `AsyncSession.execute` (the
session's bookkeeping, a greenlet switch, the cache-key walk of the statement, the result
machinery), and a card command runs six to nine of them (docs/benchmarks-history.md, "Fifth pass").
`Prepared` keeps SQLAlchemy for what it does well, building the SQL and converting values (its
compiler, bind processors and result processors, taken once per statement), and skips the rest:
on a session whose connection is one of core/sqlite.py's inline connections it executes the
compiled SQL on that connection's sqlite3 handle, inside the session's transaction.

Everywhere else (MariaDB, PostgreSQL, an in-memory SQLite, or an engine someone listens to
statement by statement, such as tracing or a test that counts or breaks statements) it is plain
`session.execute`. Results are tuples with attribute access (`row.board_id`, `row._mapping`) either
way, and database errors arrive as SQLAlchemy's `DBAPIError` subclasses, as they would from the
session, so `command`'s retries and `IntegrityError` handlers see no difference.

Lists expanded at execution (`IN` with `bindparam(..., expanding=True)`) are expanded by SQLAlchemy's
compiler (`construct_expanded_state`, 15-45 µs), then run the same way. What the fast path refuses, by
falling back to `session.execute` for good: literal-rendered parameters, Python-side column defaults
left for SQLAlchemy to fill in (pass every column), and escaped bind names.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.dml import ValuesBase

from orbitask.core.sqlite import SHARED_READER, InlineConnection

_RAW_KEY = "orbitask.prepared.raw"  # session.info: (transaction, (sqlite3 connection, dialect) or None)


class _Row(tuple):  # type: ignore[type-arg]
    """Base of the row types: what callers use of SQLAlchemy's Row besides indexing and attributes."""

    __slots__ = ()

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))  # type: ignore[attr-defined]


@dataclass(slots=True)
class _Plan:
    """One statement compiled for SQLite: its SQL, how to build its parameters and read its rows."""

    sql: str
    binds: list[tuple[str, bool, Any, Callable[[Any], Any] | None]]  # name, required, default, processor
    row_type: Any | None  # a _Row subclass; None for a statement without result columns
    processors: list[Callable[[Any], Any] | None]
    any_processor: bool
    expanding: Any = None  # the compiled statement, when lists in it are expanded per execution

    def statement(self, params: dict[str, Any]) -> tuple[str, list[Any]]:
        """The SQL to run and its positional values."""
        if self.expanding is None:
            return self.sql, self.values(params)
        state = self.expanding.construct_expanded_state(params)
        # the state's processors are only the expanded lists' ones: the other parameters' are the statement's
        processors = {**self.expanding._bind_processors, **state.processors}
        return state.statement, [
            value if (process := processors.get(name)) is None else process(value)
            for name, value in zip(state.positiontup, state.positional_parameters, strict=True)
        ]

    def values(self, params: dict[str, Any]) -> list[Any]:
        out = []
        for name, required, default, process in self.binds:
            if name in params:
                value = params[name]
            elif required:
                raise InvalidRequestError(f"A value is required for bind parameter {name!r}")
            else:
                value = default
            out.append(process(value) if process is not None else value)
        return out

    def rows(self, raw: list[tuple[Any, ...]]) -> list[Any]:
        make = self.row_type._make  # type: ignore[union-attr]
        if not self.any_processor:
            return [make(r) for r in raw]
        procs = self.processors
        return [make([v if p is None or v is None else p(v) for p, v in zip(procs, r, strict=True)]) for r in raw]


def _plan(statement: ClauseElement, dialect: Dialect, keys: Sequence[str] | None) -> _Plan | None:
    """Compile `statement` for SQLite, or None when the fast path cannot run it exactly as SQLAlchemy would."""
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
    if (compiled.insert_prefetch or compiled.update_prefetch or compiled.literal_execute_params
            or compiled.escaped_bind_names or compiled.positiontup is None):
        return None
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    processors = compiled._bind_processors
    binds = []
    for name in compiled.positiontup:
        bind = by_name[name]
        if bind.callable is not None:
            return None
        binds.append((name, bool(bind.required), bind.value, processors.get(name)))
    expanding = compiled if compiled.post_compile_params else None
    row_type, result_processors = None, []
    if compiled._result_columns:
        fields = [entry.keyname for entry in compiled._result_columns]
        row_type = type("Row", (namedtuple("_Fields", fields, rename=True), _Row), {"__slots__": ()})
        result_processors = [entry.type._cached_result_processor(dialect, None) for entry in compiled._result_columns]
    return _Plan(compiled.string, binds, row_type, result_processors, any(p is not None for p in result_processors),
                 expanding)


async def _raw_connection(session: AsyncSession) -> tuple[sqlite3.Connection, Dialect] | None:
    """The session's sqlite3 handle for its current transaction, or None where the fast path does not apply."""
    if session.get_bind().dialect.name != "sqlite":  # MariaDB, PostgreSQL: no connection checkout just to find out
        return None
    transaction = session.sync_session.get_transaction()
    if transaction is None and (shared := session.info.get(SHARED_READER)) is not None:
        return shared.connection()  # a read session that has begun nothing: its statements autocommit
    cached = session.info.get(_RAW_KEY)
    if cached is not None and transaction is not None and cached[0] is transaction and transaction.is_active:
        return cached[1]  # type: ignore[no-any-return]
    connection = (await session.connection()).sync_connection
    driver = connection.connection.driver_connection
    raw = None
    dispatch = connection.dispatch
    if (isinstance(driver, InlineConnection) and driver._connection is not None
            and not dispatch.before_cursor_execute and not dispatch.after_cursor_execute):
        raw = (driver._connection, connection.dialect)
    session.info[_RAW_KEY] = (session.sync_session.get_transaction(), raw)
    return raw


class Prepared:
    """A Core statement run the fast way where it can be (module docstring)."""

    __slots__ = ("statement", "_plans", "_values_keyed")

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._plans: dict[Any, _Plan | None] = {}
        # INSERT/UPDATE without explicit values: their SET/VALUES list is the parameters given
        self._values_keyed = isinstance(statement, ValuesBase)

    def _plan_for(self, dialect: Dialect, params: dict[str, Any]) -> _Plan | None:
        key = frozenset(params) if self._values_keyed else None
        try:
            return self._plans[key]
        except KeyError:
            plan = self._plans[key] = _plan(self.statement, dialect, sorted(params) if self._values_keyed else None)
            return plan

    async def _run(self, session: AsyncSession, params: dict[str, Any]) -> tuple[_Plan, sqlite3.Cursor] | None:
        """Execute on the sqlite3 handle; None: the caller goes through the session instead."""
        raw = await _raw_connection(session)
        if raw is None:
            return None
        connection, dialect = raw
        plan = self._plan_for(dialect, params)
        if plan is None:
            return None
        sql, values = plan.statement(params)
        try:
            return plan, connection.execute(sql, values)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, values, exc, sqlite3.Error, dialect=dialect) from exc

    async def all(self, session: AsyncSession, params: dict[str, Any] | None = None) -> list[Any]:
        """Every row."""
        params = params or {}
        done = await self._run(session, params)
        if done is None:
            return list((await session.execute(self.statement, params)).all())
        plan, cursor = done
        return plan.rows(cursor.fetchall())

    async def first(self, session: AsyncSession, params: dict[str, Any] | None = None) -> Any | None:
        """The first row, or None."""
        params = params or {}
        done = await self._run(session, params)
        if done is None:
            return (await session.execute(self.statement, params)).first()
        plan, cursor = done
        row = cursor.fetchone()
        cursor.close()
        return None if row is None else plan.rows([row])[0]

    async def scalar(self, session: AsyncSession, params: dict[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        row = await self.first(session, params)
        return None if row is None else row[0]

    async def run(self, session: AsyncSession, params: dict[str, Any] | None = None) -> int:
        """An INSERT, UPDATE or DELETE; the number of rows it matched."""
        params = params or {}
        done = await self._run(session, params)
        if done is None:
            return (await session.execute(self.statement, params)).rowcount  # type: ignore[attr-defined,no-any-return]
        return done[1].rowcount

    async def insert(self, session: AsyncSession, params: dict[str, Any]) -> Any:
        """An INSERT of one row; the row's primary key when the database made it (auto-increment)."""
        done = await self._run(session, params)
        if done is None:
            return (await session.execute(self.statement, params)).inserted_primary_key[0]  # type: ignore[attr-defined]
        return done[1].lastrowid
