"""Reminder tick benchmark: how long one tick of the due-date scheduler keeps the event loop.

    .venv/bin/python bench/reminders.py [--users 100 --boards 6 --cards 80] [--ticks 5]
                                        [--json bench/results/reminders.json]

Seeds the capacity benchmark's data on a fresh SQLite file (the embedded default: 100 users with 6
boards of 80 cards, a third of the cards due within -10..+30 days, so about 800 fall in a tick's
window), then runs --ticks ticks of `reminders.remind` one after another, as the `reminders` job does
every minute. The first tick records a reminder for every card already due (hundreds of events);
the later ones find everything sent, which is what nearly every tick of a running server does.
SQLite calls run on the event loop, so a tick's wall time is time the loop serves no request.
Prints wall and CPU time per tick and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from capacity_seed import seed  # noqa: E402

from orbitask.core.db import utcnow  # noqa: E402
from orbitask.core.migrate import upgrade  # noqa: E402
from orbitask.core.runtime import Runtime  # noqa: E402
from orbitask.notifications import reminders  # noqa: E402
from tests.conftest import make_settings  # noqa: E402


async def run(users: int, boards: int, cards: int, ticks: int) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="orbitask-reminders-"))
    upgrade(f"sqlite+aiosqlite:///{data / 'orbitask.db'}")
    settings = make_settings(data, env="development")
    started = time.perf_counter()
    await seed(settings, users, boards, cards)
    print(f"seeded {users} users x {boards} boards x {cards} cards in {time.perf_counter() - started:.1f} s")
    runtime = Runtime.from_settings(settings)
    out = []
    try:
        for i in range(ticks):
            wall, cpu = time.perf_counter(), time.process_time()
            events = await reminders.remind(runtime.db, now=utcnow(), region=settings.region)
            row = {"tick": i + 1, "events": events, "wall_ms": round((time.perf_counter() - wall) * 1000, 1),
                   "cpu_ms": round((time.process_time() - cpu) * 1000, 1)}
            print(f"tick {row['tick']}: {events} reminder events, {row['wall_ms']} ms wall, {row['cpu_ms']} ms CPU")
            out.append(row)
    finally:
        await runtime.close()
    return {"users": users, "boards": boards, "cards": cards, "ticks": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--boards", type=int, default=6)
    parser.add_argument("--cards", type=int, default=80)
    parser.add_argument("--ticks", type=int, default=5)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "reminders.json")
    args = parser.parse_args()
    result = asyncio.run(run(args.users, args.boards, args.cards, args.ticks))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"JSON written to {args.json}")


if __name__ == "__main__":
    main()
