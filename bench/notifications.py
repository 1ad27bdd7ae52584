"""Notification consumer benchmark: 10,000 events through the `notifications` consumer.

    .venv/bin/python bench/notifications.py [--events 10000] [--rate 100] [--poll 0.2]
                                            [--backend sqlite|mariadb|postgresql | --database-url URL]
                                            [--json bench/results/notifications-<backend>.json]

Seeds (through the API, in process) a workspace of 10 users sharing a board of 50 cards,
each card watched by its creator and two others. Events are comments (80 %, each
@mentioning one member: about three notifications each — the mention and the card's
watchers) and card changes (20 %, the watchers), written to the outbox like a command
would. Two phases, 10,000 events each by default:

  backlog  all events are written first, then the consumer drains them: events/s
  live     events are written at --rate per second while the consumer runs as the
           worker does (polling every --poll s when idle): end-to-end latency from the
           event's commit to its notifications' commit (p50/p95/p99/max)

Prints the figures and writes JSON. Everything runs on 127.0.0.1 (the database servers
for --backend mariadb/postgresql are throwaway ones from Debian's packages).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orbitask.app import create_app  # noqa: E402
from orbitask.core.consumers import EventConsumer  # noqa: E402
from orbitask.core.db import utcnow  # noqa: E402
from orbitask.core.events import outbox_row  # noqa: E402
from orbitask.core.migrate import upgrade  # noqa: E402
from orbitask.notifications.consumer import HANDLED, NotificationConsumer  # noqa: E402
from orbitask.notifications.models import Notification  # noqa: E402
from orbitask.tasks.events import CardUpdated, CommentCreated  # noqa: E402
from orbitask.tasks.schemas import CardRead, CommentRead  # noqa: E402
from tests.conftest import Api, make_settings  # noqa: E402

USERS, CARDS, WRITE_BATCH = 10, 50, 10
VERSIONS = itertools.count(10**9)  # board versions above anything the seed used
console = Console(width=150)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


@contextlib.contextmanager
def database(args: argparse.Namespace) -> Iterator[str | None]:
    """The database URL to use (None: SQLite in the data directory)."""
    if args.database_url or args.backend == "sqlite":
        yield args.database_url
        return
    from tests.dbservers import MariaDB, PostgreSQL

    base = Path(tempfile.mkdtemp(prefix=f"orbitask-bench-{args.backend}-"))
    server = (MariaDB(base, binlog=False) if args.backend == "mariadb" else PostgreSQL(base)).start()
    try:
        if args.backend == "mariadb":
            server.sql("CREATE DATABASE bench CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        else:
            from tests.dbservers import USER

            server.sql(f"CREATE DATABASE bench OWNER {USER}")
        yield server.url("bench")
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


async def seed(app: Any) -> dict[str, Any]:
    """10 users in one workspace, a board of 50 cards, three watchers per card."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        api = Api(client)
        users = [await api.user(f"U{i}") for i in range(USERS)]
        for member in users[1:]:
            await api.join(users[0], member)
        board = await api.board(users[0], name="Bench")
        lst = await api.list(users[0], board["id"])
        cards = []
        for i in range(CARDS):
            creator = users[i % USERS]
            card = await api.card(creator, lst["id"], f"Card {i}")
            for watcher in random.sample([u for u in users if u is not creator], 2):
                card = await api.ok(watcher, "PUT", f"/cards/{card['id']}/watch")
            cards.append(card)
    return {"users": users, "board": board, "cards": cards}


class Producer:
    """Writes comment and card-change events to the outbox, as commands would."""

    def __init__(self, rt: Any, world: dict[str, Any]) -> None:
        self.rt = rt
        self.world = world
        self.comments = 0

    def _event(self) -> Any:
        users, card = self.world["users"], random.choice(self.world["cards"])
        author = random.choice(users)
        if random.random() < 0.8:
            self.comments += 1
            mentioned = random.choice([u for u in users if u is not author])
            comment = CommentRead(id=uuid.uuid4(), card_id=card["id"], author_id=author.id,
                                  body=f"@{mentioned.email} please look", created_at=utcnow(),
                                  edited_at=None, deleted_at=None, mentions=[mentioned.id])
            payload: Any = CommentCreated(comment=comment)
        else:
            payload = CardUpdated(card=CardRead.model_validate(card), changes=["description"])
        return outbox_row(payload, region="bench", actor_id=author.id, workspace_id=author.workspace_id,
                          board_id=uuid.UUID(self.world["board"]["id"]), board_version=next(VERSIONS),
                          card_id=uuid.UUID(card["id"]))

    async def write(self, count: int) -> None:
        """`count` events in transactions of WRITE_BATCH."""
        for start in range(0, count, WRITE_BATCH):
            async with self.rt.db.write_transaction() as session:
                session.add_all([self._event() for _ in range(min(WRITE_BATCH, count - start))])


class Timed:
    """Wraps the handler to learn which events each committed batch held."""

    def __init__(self, inner: NotificationConsumer) -> None:
        self.inner = inner
        self.batch: list[float] = []

    async def __call__(self, session: Any, batch: list[Any]) -> None:
        await self.inner(session, batch)
        self.batch = [e.created_at.timestamp() for e in batch if e.type in ("comment.created", "card.updated")]


async def backlog(rt: Any, world: dict[str, Any], events: int) -> dict[str, Any]:
    """Write every event first, then drain: throughput."""
    producer = Producer(rt, world)
    await producer.write(events)
    consumer = EventConsumer(rt.db, "bench-backlog", NotificationConsumer(rt.settings), start="beginning",
                             types=set(HANDLED))
    before = await notifications(rt)
    started = time.perf_counter()
    await consumer.drain(limit=1_000_000)
    elapsed = time.perf_counter() - started
    made = await notifications(rt) - before
    return {"phase": "backlog", "events": events, "seconds": round(elapsed, 2),
            "events_per_s": round(events / elapsed), "notifications": made,
            "notifications_per_s": round(made / elapsed)}


async def live(rt: Any, world: dict[str, Any], events: int, rate: float, poll: float) -> dict[str, Any]:
    """Write events at `rate`/s while the consumer runs like the worker: latency from commit to commit."""
    timed = Timed(NotificationConsumer(rt.settings))
    consumer = EventConsumer(rt.db, "bench-live", timed, start="head", types=set(HANDLED))
    await consumer.step()  # the cursor starts at the head, like a worker already running
    latencies: list[float] = []
    producer = Producer(rt, world)
    done = asyncio.Event()

    async def produce() -> None:
        started = time.perf_counter()
        for i in range(0, events, WRITE_BATCH):
            await producer.write(WRITE_BATCH)
            lag = started + (i + WRITE_BATCH) / rate - time.perf_counter()
            if lag > 0:
                await asyncio.sleep(lag)  # pacing the load, not synchronisation
        done.set()

    async def consume() -> None:
        while True:
            handled = await consumer.step()
            committed = time.time()
            if handled:
                latencies.extend(committed - t for t in timed.batch)
                timed.batch = []
            elif done.is_set() and len(latencies) >= events:
                return
            else:
                await asyncio.sleep(poll)

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(produce(), consume()), timeout=events / rate * 3 + 120)
    elapsed = time.perf_counter() - started
    ms = [v * 1000 for v in latencies]
    return {"phase": "live", "events": events, "rate": rate, "poll_s": poll, "seconds": round(elapsed, 2),
            "events_per_s": round(events / elapsed), "p50_ms": round(percentile(ms, 50), 1),
            "p95_ms": round(percentile(ms, 95), 1), "p99_ms": round(percentile(ms, 99), 1),
            "max_ms": round(max(ms), 1)}


async def notifications(rt: Any) -> int:
    async with rt.db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(Notification)) or 0)


async def run(args: argparse.Namespace, url: str | None) -> list[dict[str, Any]]:
    scratch = ROOT / "bench" / "results"  # (gitignored) not /tmp: a shared machine's /tmp gets swept
    scratch.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="notifications-data-", dir=scratch))
    try:
        settings = make_settings(data_dir, log_level="ERROR", **({"database_url": url} if url else {}))
        upgrade(settings.writer_url)
        app = create_app(settings, services=["auth", "boards", "tasks", "notifications"])
        async with LifespanManager(app):
            rt = app.state.runtime
            world = await seed(app)
            console.print(f"seeded {USERS} users, {CARDS} cards; writing {args.events} events per phase")
            results = [await backlog(rt, world, args.events)]
            console.print(results[-1])
            results.append(await live(rt, world, args.events, args.rate, args.poll))
            console.print(results[-1])
            return results
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=100.0, help="events per second in the live phase")
    parser.add_argument("--poll", type=float, default=0.2, help="idle poll interval (ORBITASK_WORKER_POLL_INTERVAL_SECONDS)")
    parser.add_argument("--backend", choices=["sqlite", "mariadb", "postgresql"], default="sqlite")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    backend = "custom" if args.database_url else args.backend
    args.json = args.json or ROOT / "bench" / "results" / f"notifications-{backend}.json"
    with database(args) as url:
        results = asyncio.run(run(args, url))
    table = Table("phase", "events", "seconds", "events/s", "notifications/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
                  title=f"Notification consumer ({backend})")
    for r in results:
        table.add_row(r["phase"], str(r["events"]), str(r["seconds"]), str(r["events_per_s"]),
                      str(r.get("notifications_per_s", "")), *(str(r.get(k, "")) for k in
                                                                 ("p50_ms", "p95_ms", "p99_ms", "max_ms")))
    console.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"backend": backend, "python": platform.python_version(),
                                     "results": results}, indent=2))
    console.print(f"JSON written to {args.json}")


if __name__ == "__main__":
    main()
