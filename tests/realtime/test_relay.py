"""The relay's handling of out-of-order commits, and the gateway's bound on slow consumers."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from orbitask.core.db import Database, utcnow
from orbitask.core.events import Event
from orbitask.realtime import gateway, relay
from orbitask.realtime.relay import ProcessLease, Relay


class Collect:
    shared = False

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.down = False

    async def publish(self, channel: str, message: bytes) -> bool:
        if self.down:
            return False
        self.seqs.append(orjson.loads(message)["seq"])
        return True


class SwitchLease:
    def __init__(self) -> None:
        self.held = True

    async def hold(self) -> bool:
        return self.held


@pytest.fixture
async def db(tmp_path: Path, template_db: Path) -> Any:
    shutil.copy(template_db, tmp_path / "orbitask.db")
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'orbitask.db'}")
    yield database
    await database.dispose()


async def _insert(db: Database, *seqs: int, ago: dt.timedelta = dt.timedelta(0)) -> None:
    async with db.write_transaction() as session:
        for seq in seqs:
            session.add(Event(seq=seq, id=uuid.uuid4(), type="card.created", payload={}, region="local",
                              created_at=utcnow() - ago, board_id=uuid.uuid4(), board_version=1))


async def test_relay_holds_at_a_gap_then_moves_on_and_still_publishes_the_late_commit(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = Collect()
    r = Relay(db, bus, "events", ProcessLease())  # type: ignore[arg-type]
    r.cursor = 0
    await _insert(db, 1, 2, 4)  # seq 3 belongs to a transaction that has not committed yet
    monkeypatch.setattr(relay, "GAP_HOLD_S", 60.0)
    assert await r.step() == 2
    assert await r.step() == 0  # still holding the line at the gap
    assert bus.seqs == [1, 2]
    monkeypatch.setattr(relay, "GAP_HOLD_S", 0.0)
    assert await r.step() == 1  # gave up waiting: 4 goes out, 3 is remembered
    assert bus.seqs == [1, 2, 4] and 3 in r._late
    await _insert(db, 3)  # the slow transaction commits
    assert await r.step() == 1
    assert bus.seqs == [1, 2, 4, 3]
    assert await r.step() == 0  # published once, never again
    assert r._late == {}


async def test_a_relay_that_never_held_the_lease_replays_the_last_moments_and_skips_history(db: Database) -> None:
    """It may take over after events were committed while nobody held the lease (after a Redis
    restart, say): those were never published. Older history stays unpublished."""
    await _insert(db, 1, 2, ago=dt.timedelta(hours=1))
    await _insert(db, 3)  # committed moments ago, while no relay ran
    bus = Collect()
    r = Relay(db, bus, "events", ProcessLease())  # type: ignore[arg-type]
    task = asyncio.create_task(r.run())
    try:
        for _ in range(200):  # bounded: the relay takes over within a few polls
            if r.cursor is not None:
                break
            await asyncio.sleep(0.01)
        await _insert(db, 4)
        for _ in range(200):
            if bus.seqs == [3, 4]:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert bus.seqs == [3, 4]


async def _run_until(r: Relay, done: Any) -> None:
    """Run the relay's loop until `done()` holds (bounded)."""
    task = asyncio.create_task(r.run())
    try:
        for _ in range(500):
            if done():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the relay did not get there")
    finally:
        task.cancel()


async def test_events_written_while_the_bus_or_the_lease_was_lost_are_published_when_they_return(
    db: Database,
) -> None:
    bus, lease = Collect(), SwitchLease()
    r = Relay(db, bus, "events", lease)  # type: ignore[arg-type]
    await _insert(db, 1, ago=dt.timedelta(hours=1))  # history: not replayed
    await _run_until(r, lambda: r.cursor == 1)
    await _insert(db, 2)
    await _run_until(r, lambda: bus.seqs == [2])

    bus.down = True  # Redis dies: the publish fails, the cursor must not move past the event
    await _insert(db, 3)
    assert await r.step() == 0 and r.cursor == 2
    lease.held = False  # ... and the lease cannot be renewed either
    await _run_until(r, lambda: not r.holding)
    await _insert(db, 4, 5)

    bus.down, lease.held = False, True  # Redis is back: resume from our cursor, not the head
    await _run_until(r, lambda: bus.seqs == [2, 3, 4, 5])


async def test_a_cursor_too_far_behind_the_head_restarts_at_the_head(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay, "RESUME_LIMIT", 2)
    bus, lease = Collect(), SwitchLease()
    r = Relay(db, bus, "events", lease)  # type: ignore[arg-type]
    await _run_until(r, lambda: r.cursor == 0)
    lease.held = False
    await _run_until(r, lambda: not r.holding)
    await _insert(db, 1, 2, 3)
    lease.held = True
    await _run_until(r, lambda: r.holding and r.cursor == 3)
    await _insert(db, 4)
    await _run_until(r, lambda: bus.seqs == [4])


class CountingChanges:
    """The relay's change counter, counting its looks."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.looks = inner, 0

    def changed(self) -> bool:
        self.looks += 1
        return self.inner.changed()


async def test_an_idle_relay_on_sqlite_queries_nothing_until_someone_commits(db: Database) -> None:
    """It polls every 20 ms in every process: on the embedded default that was most of an idle
    server's CPU. It looks at SQLite's data_version first; a publish the bus refused is retried
    without waiting for another commit."""
    from sqlalchemy import event

    bus = Collect()
    r = Relay(db, bus, "events", SwitchLease())  # type: ignore[arg-type]
    assert r.changes is not None
    r.changes = looks = CountingChanges(r.changes)  # type: ignore[assignment]
    statements: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async def until(done: Any) -> None:
        for _ in range(500):  # bounded
            if done():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the relay did not get there")

    event.listen(db.reader.sync_engine, "before_cursor_execute", on_execute)
    task = asyncio.create_task(r.run())
    try:
        await until(lambda: r.holding and r._caught_up)
        statements.clear()
        seen = looks.looks
        await until(lambda: looks.looks >= seen + 5)  # five polls with nothing written ...
        assert statements == []  # ... and not one query
        await _insert(db, 1)
        await until(lambda: bus.seqs == [1])
        bus.down = True
        await _insert(db, 2)
        await until(lambda: r.cursor == 1 and not r._caught_up)  # refused: not caught up
        seen = looks.looks
        await until(lambda: looks.looks >= seen + 3)
        bus.down = False  # no new commit: the relay must still try again
        await until(lambda: bus.seqs == [1, 2])
    finally:
        task.cancel()
        event.remove(db.reader.sync_engine, "before_cursor_execute", on_execute)


async def test_a_read_that_failed_after_a_commit_is_tried_again_without_another_commit(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change counter said "changed" once, for the poll whose read failed: the next poll must
    read again although the counter has nothing new to say."""
    bus = Collect()
    r = Relay(db, bus, "events", SwitchLease())  # type: ignore[arg-type]
    await _run_until(r, lambda: r.holding and r._caught_up)
    real, failures = db.read_session, [OSError("disk I/O error")]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(db, "read_session", flaky)
    await _insert(db, 1)
    await _run_until(r, lambda: bus.seqs == [1])
    assert failures == []


class SilentSocket:
    """A socket whose client never reads."""

    async def send_text(self, data: str) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)


async def test_a_client_that_cannot_keep_up_is_disconnected_with_a_resync_hint() -> None:
    from orbitask.auth.policy import Actor

    conn = gateway.Connection(SilentSocket(), Actor(uuid.uuid4()), None, None)  # type: ignore[arg-type]
    for i in range(gateway.OUTBOX_LIMIT + 10):
        conn.send({"type": "event", "n": i})
    assert conn.closing == (gateway.CLOSE_SLOW, "slow consumer: reconnect and resync")
    assert conn.outbox.qsize() <= gateway.OUTBOX_LIMIT  # memory stays bounded


class RecordingSocket:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.closed: tuple[int, str] | None = None

    async def send_text(self, data: str) -> None:
        self.frames.append(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)


async def test_messages_queued_together_go_out_as_one_batch_frame_in_order() -> None:
    from orbitask.auth.policy import Actor

    ws = RecordingSocket()
    conn = gateway.Connection(ws, Actor(uuid.uuid4()), None, None)  # type: ignore[arg-type]
    conn.send({"type": "event", "n": 0})
    await _drain(conn)
    for i in range(1, gateway.BATCH_MAX + 3):
        conn.send({"type": "event", "n": i})
    conn.close(1000, "bye")
    await asyncio.wait_for(conn._writer(), 5)
    assert orjson.loads(ws.frames[0]) == {"type": "event", "n": 0}  # alone in the queue: sent as is
    batches = [orjson.loads(f) for f in ws.frames[1:]]
    assert [b["type"] for b in batches] == ["batch", "batch"]
    assert len(batches[0]["messages"]) == gateway.BATCH_MAX
    assert [m["n"] for b in batches for m in b["messages"]] == list(range(1, gateway.BATCH_MAX + 3))
    assert ws.closed == (1000, "bye")


async def _drain(conn: gateway.Connection) -> None:
    """Run the writer until the outbox is empty."""
    task = asyncio.create_task(conn._writer())
    for _ in range(100):  # bounded: a few loop turns send what is queued
        if conn.outbox.empty() and conn.ws.frames:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0)
    task.cancel()


async def test_the_redis_lease_is_renewed_and_asked_for_a_third_of_its_ttl_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real Redis; the relay's clock is moved by hand (no sleeping)."""
    import redis.asyncio as aioredis

    from tests.redisserver import RedisServer

    server = RedisServer(tmp_path / "redis").start()
    client = aioredis.Redis.from_url(server.url)
    now = [1000.0]
    monkeypatch.setattr(relay.time, "monotonic", lambda: now[0])
    calls: list[str] = []
    real_eval = client.eval

    async def counted_eval(*args: Any) -> Any:
        calls.append("eval")
        return await real_eval(*args)

    monkeypatch.setattr(client, "eval", counted_eval)
    try:
        a, b = relay.RedisLease(client, "relay", ttl_ms=3000), relay.RedisLease(client, "relay", ttl_ms=3000)
        assert await a.hold() and not await b.hold()
        calls.clear()
        now[0] += 0.5
        assert await a.hold() and not await b.hold()
        assert calls == []  # within a third of the TTL: neither asks Redis
        await client.delete("relay")  # the holder died and its key expired
        now[0] += 0.6  # a third of the TTL has passed
        assert await b.hold()  # the other process takes over ...
        assert not await a.hold()  # ... and the old holder learns it has lost the lease
        assert calls == ["eval", "eval"]
    finally:
        await client.aclose()
        server.stop()


async def test_after_publishing_everything_it_read_the_relay_waits_for_the_next_poll(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load someone has always committed since the last step: stepping again at once read one
    event per read session. Only a full batch (more waiting) is followed by another step at once."""
    bus = Collect()
    r = Relay(db, bus, "events", ProcessLease())  # type: ignore[arg-type]
    r.cursor, r.holding, r.changes = 0, True, None  # a relay that holds the lease, polling every time
    seq = 0
    calls: list[str] = []

    async def step() -> int:
        nonlocal seq
        seq += 1
        calls.append("step")
        if seq > 4:  # bounded, whatever the loop does
            raise asyncio.CancelledError
        await _insert(db, seq)  # another commit arrives while this step runs
        r._caught_up = seq != 2  # the second step reads a full batch
        return 1

    async def sleep(seconds: float) -> None:
        calls.append(f"sleep {seconds}")

    monkeypatch.setattr(r, "step", step)
    monkeypatch.setattr(relay.asyncio, "sleep", sleep)
    with pytest.raises(asyncio.CancelledError):
        await r.run()
    poll = f"sleep {relay.POLL_INTERVAL_S}"
    assert calls == ["step", poll, "step", "step", poll, "step", poll, "step"]
