"""Due-date reminders with a controlled clock: each fires once, at each user's offsets."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import event

from orbitask.core.db import utcnow
from orbitask.notifications.reminders import remind
from tests.conftest import Api, User
from tests.mailserver import Mailbox
from tests.notifications.conftest import Jobs


async def _setup(api: Api, due: dt.datetime, title: str = "Launch") -> tuple[User, User, dict[str, Any]]:
    alice, bob = await api.user("Alice"), await api.user("Bob")
    await api.join(alice, bob)
    board = await api.board(alice)
    lst = await api.list(alice, board["id"])
    card = await api.card(alice, lst["id"], title, due_at=due.isoformat(), assignee_ids=[str(bob.id)])
    return alice, bob, card


async def _kinds(api: Api, who: User) -> list[tuple[str, str]]:
    notes = reversed((await api.ok(who, "GET", "/notifications"))["items"])
    return [(n["kind"], n["title"]) for n in notes if n["kind"] in ("due_soon", "overdue")]


async def test_due_soon_fires_once_per_offset_then_overdue_once(api: Api, app: Any, jobs: Jobs, mail: Mailbox) -> None:
    db = app.state.runtime.db
    due = (utcnow() + dt.timedelta(days=3)).replace(microsecond=0)
    alice, bob, card = await _setup(api, due)

    async def tick(before_due: dt.timedelta) -> int:
        return await remind(db, now=due - before_due, region="local")

    assert await tick(dt.timedelta(days=2)) == 0  # outside every offset (default: 1 day and 1 hour)
    assert await tick(dt.timedelta(hours=23, minutes=59)) == 1
    assert await tick(dt.timedelta(hours=23, minutes=58)) == 0  # fires once
    assert await tick(dt.timedelta(hours=2)) == 0
    assert await tick(dt.timedelta(minutes=59)) == 1
    assert await tick(dt.timedelta(minutes=1)) == 0
    assert await tick(-dt.timedelta(minutes=1)) == 1  # overdue
    assert await tick(-dt.timedelta(hours=3)) == 0
    await jobs.events()
    assert await _kinds(api, bob) == [("due_soon", "“Launch” is due in 1 day"),
                                      ("due_soon", "“Launch” is due in 1 hour"),
                                      ("overdue", "“Launch” is overdue")]
    assert await _kinds(api, alice) == []  # the assignee is reminded, not the creator
    await jobs.mail()
    assert sorted(m["Subject"] for m in mail.wait_for(bob.email, 4)) == [
        "Alice assigned you to “Launch”", "“Launch” is due in 1 day", "“Launch” is due in 1 hour",
        "“Launch” is overdue"]

    # moving the due date arms the reminders again; completing the card silences them
    later = due + dt.timedelta(days=7)
    await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"due_at": later.isoformat()})
    assert await remind(db, now=later - dt.timedelta(minutes=30), region="local") == 1
    await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"completed": True})
    assert await remind(db, now=later + dt.timedelta(minutes=5), region="local") == 0


async def test_each_user_chooses_offsets(api: Api, app: Any, jobs: Jobs) -> None:
    db = app.state.runtime.db
    due = (utcnow() + dt.timedelta(days=3)).replace(microsecond=0)
    _, bob, _ = await _setup(api, due, "Review")
    await api.ok(bob, "PATCH", "/notifications/preferences", json={"due_offsets_minutes": [15]})
    assert await remind(db, now=due - dt.timedelta(hours=23), region="local") == 0
    assert await remind(db, now=due - dt.timedelta(minutes=15), region="local") == 1
    await jobs.events()
    assert await _kinds(api, bob) == [("due_soon", "“Review” is due in 15 minutes")]


async def test_card_due_sooner_than_every_offset_gets_one_reminder(api: Api, app: Any, jobs: Jobs) -> None:
    db = app.state.runtime.db
    now = utcnow()
    _, bob, _ = await _setup(api, now + dt.timedelta(minutes=30), "Hotfix")
    assert await remind(db, now=now, region="local") == 1  # both the 1-day and the 1-hour moment have passed
    assert await remind(db, now=now + dt.timedelta(minutes=1), region="local") == 0
    await jobs.events()
    assert await _kinds(api, bob) == [("due_soon", "“Hotfix” is due in 1 hour")]


async def test_unassigned_cards_remind_their_watchers(api: Api, app: Any, jobs: Jobs) -> None:
    db = app.state.runtime.db
    now = utcnow()
    alice = await api.user("Alice")
    board = await api.board(alice)
    lst = await api.list(alice, board["id"])
    await api.card(alice, lst["id"], "Solo", due_at=(now + dt.timedelta(minutes=10)).isoformat())
    assert await remind(db, now=now, region="local") == 1
    await jobs.events()
    assert await _kinds(api, alice) == [("due_soon", "“Solo” is due in 1 hour")]


async def test_a_tick_with_nothing_new_reads_no_boards_and_writes_nothing(api: Api, app: Any) -> None:
    """Most ticks find every reminder of the window already sent: they must stay light (plain reads
    of the due cards and sent rows) and leave SQLite's single writer to the users."""
    db = app.state.runtime.db
    due = (utcnow() + dt.timedelta(days=3)).replace(microsecond=0)
    await _setup(api, due)
    assert await remind(db, now=due - dt.timedelta(minutes=30), region="local") == 1
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    engines = {db.writer.sync_engine, db.reader.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", seen)
    try:
        assert await remind(db, now=due - dt.timedelta(minutes=20), region="local") == 0
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", seen)
    assert statements, "the tick read nothing"
    assert not [s for s in statements if s.startswith(("INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE"))]
    assert not [s for s in statements if " FROM board " in f"{s} " or "FROM board_member" in s]
