"""Event consumers: cursor and idempotency across crashes, restarts, races and out-of-order commits."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask.core.consumers import ConsumerCursor, EventConsumer
from orbitask.core.db import utcnow
from orbitask.core.events import Event
from orbitask.core.ids import new_id
from orbitask.core.jobs import JOBS, Worker, register_job
from orbitask.core.leases import DbLease
from orbitask.notifications.consumer import NotificationConsumer
from orbitask.notifications.models import Notification
from tests.conftest import Api


class Crash(Exception):
    """The process died before the batch committed."""


async def _mentions(api: Api, count: int) -> Any:
    alice, bob = await api.user("Alice"), await api.user("Bob")
    await api.join(alice, bob)
    board = await api.board(alice)
    card = await api.card(alice, (await api.list(alice, board["id"]))["id"])
    for i in range(count):
        await api.ok(bob, "POST", f"/cards/{card['id']}/comments", json={"body": f"@{alice.email} #{i}"})
    return alice


async def _counts(db: Any, user_id: uuid.UUID) -> tuple[int, int]:
    async with db.read_session() as session:
        total = await session.scalar(select(func.count()).select_from(Notification)
                                     .where(Notification.user_id == user_id))
        distinct = await session.scalar(select(func.count(func.distinct(Notification.event_id)))
                                        .where(Notification.user_id == user_id))
    return int(total or 0), int(distinct or 0)


async def _head(db: Any) -> int:
    async with db.read_session() as session:
        return int(await session.scalar(select(func.max(Event.seq))) or 0)


async def test_restart_mid_stream_neither_loses_nor_duplicates(api: Api, app: Any) -> None:
    rt = app.state.runtime
    alice = await _mentions(api, 30)
    handler = NotificationConsumer(rt.settings)

    first = EventConsumer(rt.db, "notifications", handler, batch=7, start="beginning")
    for _ in range(2):
        assert await first.step() == 7  # part of the stream, committed
    partial, _ = await _counts(rt.db, alice.id)
    assert 0 < partial < 30

    async def dies_before_commit(session: AsyncSession, batch: list[Event]) -> None:
        await handler(session, batch)
        await session.flush()  # the notifications were written ...
        raise Crash()  # ... and the process died before COMMIT

    crashing = EventConsumer(rt.db, "notifications", dies_before_commit, batch=7)
    before = await _counts(rt.db, alice.id)
    try:
        await crashing.step()
        raise AssertionError("the crash did not happen")
    except Crash:
        pass
    assert await _counts(rt.db, alice.id) == before  # rolled back with the cursor

    restarted = EventConsumer(rt.db, "notifications", handler, batch=7)  # a new process, same cursor
    await restarted.drain()
    assert await _counts(rt.db, alice.id) == (30, 30)
    await restarted.drain()
    assert await _counts(rt.db, alice.id) == (30, 30)
    async with rt.db.read_session() as session:
        cursor = await session.get(ConsumerCursor, "notifications")
    assert cursor is not None and cursor.seq == await _head(rt.db)


async def test_two_processes_racing_apply_each_batch_once(api: Api, app: Any) -> None:
    rt = app.state.runtime
    alice = await _mentions(api, 24)
    one, two = (EventConsumer(rt.db, "notifications", NotificationConsumer(rt.settings), batch=5, start="beginning")
                for _ in range(2))
    await asyncio.gather(one.drain(), two.drain())  # as if both believed they held the lease
    await one.drain()
    assert await _counts(rt.db, alice.id) == (24, 24)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_an_idle_consumer_on_sqlite_reads_nothing_until_someone_commits(api: Api, app: Any) -> None:
    """Every consumer polls every few hundred milliseconds in every process; on the embedded default
    it looks at SQLite's data_version first and reads nothing while nobody has written."""
    from sqlalchemy import event

    rt = app.state.runtime
    alice, bob = await api.user("Alice"), await api.user("Bob")
    await api.join(alice, bob)
    board = await api.board(alice)
    card = await api.card(alice, (await api.list(alice, board["id"]))["id"])

    async def mention() -> None:
        await api.ok(bob, "POST", f"/cards/{card['id']}/comments", json={"body": f"@{alice.email} look"})

    await mention()
    consumer = EventConsumer(rt.db, "notifications", NotificationConsumer(rt.settings), start="beginning")
    await consumer.drain()
    assert await _counts(rt.db, alice.id) == (1, 1)
    statements: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engines = {rt.db.writer, rt.db.reader, rt.db.primary_reader}
    for engine in engines:
        event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        for _ in range(5):
            assert await consumer.step() == 0
        assert statements == []  # five idle polls, not one query
    finally:
        for engine in engines:
            event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
    await mention()
    assert await consumer.step() == 1  # the next poll sees the commit
    assert await _counts(rt.db, alice.id) == (2, 2)


def _row(seq: int) -> Event:
    return Event(seq=seq, id=new_id(), type="test.ping", payload={}, region="local", created_at=utcnow())


async def test_sequence_gaps_are_waited_for_and_late_commits_handled(api: Api, app: Any) -> None:
    db = app.state.runtime.db
    seen: list[int] = []

    async def record(session: AsyncSession, batch: list[Event]) -> None:
        seen.extend(e.seq for e in batch)

    await api.user("Someone")  # a few events
    head = await _head(db)
    async with db.read_session() as session:
        existing = list((await session.execute(select(Event.seq).order_by(Event.seq))).scalars())
    consumer = EventConsumer(db, "probe", record, start="beginning", gap_hold_s=0.2)
    assert await consumer.drain() == len(existing)  # (sequences need not start at 1: MariaDB keeps counting)
    async with db.write_transaction() as session:  # seq head+2 commits first; head+1 is still in flight
        session.add(_row(head + 2))
    assert await consumer.step() == 0  # holds the line at the gap for a moment
    assert await consumer.drain() == 1  # then moves on
    assert seen[-1] == head + 2

    restarted = EventConsumer(db, "probe", record, gap_hold_s=0.2)  # the skipped number survives a restart
    async with db.write_transaction() as session:
        session.add(_row(head + 1))  # the late commit
    assert await restarted.drain() == 1
    assert seen == [*existing, head + 2, head + 1]
    assert await restarted.drain() == 0


async def test_a_lease_has_one_holder_and_moves_when_released(app: Any) -> None:
    db = app.state.runtime.db
    first, second = DbLease(db, "job:probe", ttl_s=30), DbLease(db, "job:probe", ttl_s=30)
    assert await first.hold() and not await second.hold()
    assert await first.hold()  # renewing
    await first.release()
    second._next_try = 0.0  # (it would ask again within a few seconds by itself)
    assert await second.hold() and not await first.hold()
    short = DbLease(db, "job:short", ttl_s=0.05)
    other = DbLease(db, "job:short", ttl_s=0.05)
    assert await short.hold()
    for _ in range(200):  # expires without renewal (bounded poll)
        if await other.hold():
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("an expired lease was not taken over")


async def test_worker_runs_writer_only_jobs_in_the_writer_region_only(app: Any) -> None:
    rt = app.state.runtime
    ran = {"everywhere": 0, "writer": 0}

    def counting(name: str) -> Any:
        async def step() -> int:
            ran[name] += 1
            return 0
        return step

    register_job("test-everywhere", interval=lambda s: 0.01, writer_only=False)(lambda rt: counting("everywhere"))
    register_job("test-writer", interval=lambda s: 0.01)(lambda rt: counting("writer"))
    try:
        for writer in (False, True):
            rt.is_writer = lambda writer=writer: writer
            worker = Worker(rt, only=["test-everywhere", "test-writer"])
            worker.start()
            try:
                for _ in range(500):  # bounded poll
                    if ran["everywhere"] >= 3 and (ran["writer"] >= 3 or not writer):
                        break
                    await asyncio.sleep(0.01)
            finally:
                await worker.stop()
            assert ran["everywhere"] >= 3
            assert (ran["writer"] >= 3) if writer else ran["writer"] == 0
    finally:
        JOBS.pop("test-everywhere")
        JOBS.pop("test-writer")
        rt.is_writer = lambda: True
