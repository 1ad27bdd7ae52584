"""The unit of work: one writer transaction per command, with its outbox events."""

from __future__ import annotations

import asyncio
import functools
import random
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import ParamSpec, Protocol, TypeVar

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from orbitask.core import context
from orbitask.core.db import Database
from orbitask.core.events import DomainEvent, Event, outbox_row
from orbitask.core.idempotency import Claim, answer_before_commit, claim_record
from orbitask.core.observability import DB_RETRIES, EVENTS_EMITTED
from orbitask.core.prepared import Prepared
from orbitask.core.tokens import ConsistencyToken

_INSERT_EVENT = Prepared(insert(Event.__table__))
_EVENT_COLUMNS = tuple(c.key for c in Event.__table__.columns if c.key != "seq")

CommitHook = Callable[[AsyncSession, list[Event]], Awaitable[None]]
# Read models kept in the command's own transaction (search's index): they register here, core knows none of them
COMMIT_HOOKS: list[CommitHook] = []


def add_commit_hook(hook: CommitHook) -> None:
    """Run `hook(session, events)` in every unit of work just before it commits (once per hook)."""
    if hook not in COMMIT_HOOKS:
        COMMIT_HOOKS.append(hook)


@functools.cache
def _version_update(table: Table) -> Prepared:
    """UPDATE <table> SET version = :version WHERE id = :board_id, built once per table."""
    return Prepared(update(table).where(table.c.id == bindparam("board_id")).values(version=bindparam("version")))


class VersionedBoard(Protocol):
    """What the unit of work needs of a board row to number its events."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    version: int  # a plain object (not an ORM one) names its table in `version_table`


class UnitOfWork:
    """Opens a writer transaction; `emit` appends outbox rows; `commit` ends it once.

    Leaving the block without `commit()` rolls everything back.
    """

    def __init__(self, db: Database, *, region: str, actor_id: uuid.UUID | None = None) -> None:
        self.db = db
        self.region = region
        self.actor_id = actor_id
        self.token: ConsistencyToken | None = None
        self.events: list[Event] = []
        self._session: AsyncSession | None = None
        self._versions: dict[tuple[Table, uuid.UUID], int] = {}  # boards whose version this command moved

    @property
    def session(self) -> AsyncSession:
        """The writer session of the open transaction."""
        if self._session is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._stack = AsyncExitStack()
        if self.db.write_lock is not None:
            await self._stack.enter_async_context(self.db.write_lock.hold())
        try:
            self._session = self.db.writer_session()
            await self._session.begin()
        except BaseException:
            await self._stack.aclose()
            raise
        self.events = []
        self._versions = {}
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self._session, None
        try:
            if session is not None:
                if session.in_transaction():
                    await session.rollback()
                await session.close()
        finally:
            await self._stack.aclose()

    def emit(
        self,
        event: DomainEvent,
        *,
        board: VersionedBoard | None = None,
        workspace_id: uuid.UUID | None = None,
        card_id: uuid.UUID | None = None,
    ) -> Event:
        """Append an event; on a board it takes the board's next version (the board must be locked).

        The rows are written at commit with plain inserts and one version update per board: the
        ORM's flush of them cost more than the rest of a typical command (docs/benchmarks.md).
        """
        version = None
        if board is not None:
            state = getattr(board, "_sa_instance_state", None)
            # an ORM object's table, or the one a plain-values board names (boards.service.LockedBoard)
            table = state.mapper.local_table if state is not None else getattr(board, "version_table", None)
            if table is not None:  # `commit` writes the version itself
                key = (table, board.id)
                # (a reload of the row in between would show the version before this command's events)
                version = max(board.version, self._versions.get(key, 0)) + 1
                if state is not None:  # not marked changed, so that the ORM's flush leaves it alone
                    set_committed_value(board, "version", version)
                else:
                    board.version = version
                self._versions[key] = version
            else:
                version = board.version = board.version + 1
            workspace_id = board.workspace_id
        row = outbox_row(
            event, region=self.region, actor_id=self.actor_id, workspace_id=workspace_id,
            board_id=board.id if board is not None else None, board_version=version, card_id=card_id,
        )
        self.events.append(row)
        return row

    async def _write_outbox(self) -> None:
        """Board versions and event rows of this command's `emit`s (after the ORM's flush)."""
        session = self.session
        for (table, board_id), version in self._versions.items():
            await _version_update(table).run(session, {"board_id": board_id, "version": version})
        self._versions = {}
        for row in self.events:
            if row.seq is None:
                row.seq = await _INSERT_EVENT.insert(session, {c: getattr(row, c) for c in _EVENT_COLUMNS})

    async def commit(self, *, response: object | None = None) -> ConsistencyToken | None:
        """Flush, name the newest event in a token, record the idempotency claim, commit.

        `response`: what the request will answer (the command's return value, passed on as is by its
        route), when it is known before the commit: the claim's row then holds the answer to replay in
        this same commit (one replica acknowledgement per write). Never a secret shown once: those
        routes withhold their answer from replay, and it is stored without the response.
        """
        session = self.session
        state = context.current()
        claim = state.idempotency if state is not None else None
        await session.flush()
        await self._write_outbox()
        for hook in COMMIT_HOOKS:
            await hook(session, self.events)
        if self.events:
            last = self.events[-1]
            token = ConsistencyToken(last.seq, last.id)
        else:
            newest = (await session.execute(select(Event.seq, Event.id).order_by(Event.seq.desc()).limit(1))).first()
            token = ConsistencyToken(newest.seq, newest.id) if newest else None
        write_token = state.write_token if state is not None else None
        if token is not None:
            write_token = token.newer(write_token)
        answer = None
        if claim is not None and not claim.recorded:
            answer = await answer_before_commit(claim, response, write_token)
            session.add(claim_record(claim, answer))
        await session.commit()
        for row in self.events:
            EVENTS_EMITTED.labels(row.type).inc()
        if claim is not None and not claim.recorded:
            claim.recorded = True
            if isinstance(claim, Claim):
                claim.answer = answer
        self.token = token
        if state is not None:
            state.write_token = write_token
        return token


RETRY_ATTEMPTS = 5
_RETRY_BASE_S = 0.01
_MYSQL_RETRYABLE = {1205, 1213}  # lock wait timeout, deadlock
_PG_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock detected


def is_retryable(exc: BaseException) -> bool:
    """Whether a database error is a transient conflict worth running the command again for."""
    if not isinstance(exc, DBAPIError) or exc.connection_invalidated:
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _PG_RETRYABLE:
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_RETRYABLE:
        return True
    return "database is locked" in str(orig)


P = ParamSpec("P")
R = TypeVar("R")


def command(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run a command again (bounded, with jittered backoff) when the database reports a deadlock.

    The command opens its own unit of work, so a retry starts from a clean transaction;
    users never see the conflict unless it persists past the last attempt.
    """

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                return await fn(*args, **kwargs)
            except DBAPIError as exc:
                if attempt == RETRY_ATTEMPTS or not is_retryable(exc):
                    raise
                DB_RETRIES.inc()
                await asyncio.sleep(random.uniform(0, _RETRY_BASE_S * 2**attempt))
        raise AssertionError("unreachable")

    return run
