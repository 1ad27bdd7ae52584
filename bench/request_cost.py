"""CPU per request, one operation at a time: the app in-process on SQLite, no sockets, no load generator.

    .venv/bin/python bench/request_cost.py [--requests 300] [--cards 80] [--only NAME ...]
                                           [--json bench/results/request_cost.json]

Builds the app on a fresh SQLite database (the embedded default), signs up one user, makes a board of
--cards cards on 4 lists, then sends each operation --requests times, one after another, through
httpx's ASGI transport, and prints the process's CPU time (user + system, every thread) per request.
The client's share (httpx building and reading requests) is included and is about 1 ms. With no
concurrency and no network this is the cost of the code path itself, steadier than latency under
load; `bench/capacity.py` measures that. Snapshots are measured twice: served from the cache, and
rebuilt after each change to the board (what a user who just edited a card gets). --only measures
some operations only (names as printed, e.g. --only "edit card + open board (rebuilt snapshot)"):
quicker for alternating two versions of the code on a machine whose speed drifts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orbitask.app import create_app  # noqa: E402
from orbitask.core.migrate import upgrade  # noqa: E402
from tests.conftest import make_settings  # noqa: E402

Op = Callable[[int], Awaitable[httpx.Response]]


def cpu_s() -> float:
    """User + system CPU of this process (all threads), seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(ops: dict[str, Op], requests: int) -> dict[str, dict[str, float]]:
    """Each operation `requests` times in a row (after 20 to warm up); CPU and wall time per request."""
    out = {}
    for name, op in ops.items():
        for i in range(20):
            (await op(i)).raise_for_status()
        cpu, wall = cpu_s(), time.perf_counter()
        for i in range(20, 20 + requests):
            r = await op(i)
            if r.status_code >= 300:
                raise RuntimeError(f"{name}: {r.status_code} {r.text[:200]}")
        out[name] = {"cpu_ms": round((cpu_s() - cpu) / requests * 1000, 2),
                     "wall_ms": round((time.perf_counter() - wall) / requests * 1000, 2)}
    return out


async def run(requests: int, cards: int, only: list[str] | None = None) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="orbitask-request-cost-"))
    upgrade(f"sqlite+aiosqlite:///{data / 'orbitask.db'}")
    settings = make_settings(data, env="development", rate_limit_api_per_minute=0, rate_limit_api_ip_per_minute=0)
    app = create_app(settings)
    async with LifespanManager(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench/api/v1"
    ) as c:
        r = await c.post("/auth/register", json={"email": "bench@example.com", "password": "correct horse battery",
                                                 "name": "Bench"})
        c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        ws = (await c.get("/workspaces")).json()["items"][0]["id"]
        board = (await c.post(f"/workspaces/{ws}/boards", json={"name": "Bench"})).json()["id"]
        lists = [(await c.post(f"/boards/{board}/lists", json={"name": f"List {i}"})).json()["id"] for i in range(4)]
        ids = [(await c.post(f"/lists/{lists[i % 4]}/cards", json={"title": f"Card {i}", "description": "text " * 20})
                ).json()["id"] for i in range(cards)]
        n = len(ids)

        async def snapshot_after_edit(i: int) -> httpx.Response:
            (await c.patch(f"/cards/{ids[i % n]}", json={"title": f"Edited {i}"})).raise_for_status()
            return await c.get(f"/boards/{board}", headers={"Accept-Encoding": "gzip"})

        ops: dict[str, Op] = {  # cards are created last: the snapshots are of a board of --cards cards
            "open card": lambda i: c.get(f"/cards/{ids[i % n]}"),
            "open board (cached snapshot)": lambda i: c.get(f"/boards/{board}", headers={"Accept-Encoding": "gzip"}),
            "edit card + open board (rebuilt snapshot)": snapshot_after_edit,
            "list boards": lambda i: c.get(f"/workspaces/{ws}/boards"),
            "edit card": lambda i: c.patch(f"/cards/{ids[i % n]}", json={"description": f"Edited {i}"}),
            "move card": lambda i: c.post(f"/cards/{ids[i % n]}/move", json={"list_id": lists[(i + 1) % 4]}),
            "comment": lambda i: c.post(f"/cards/{ids[i % n]}/comments", json={"body": f"Comment {i}"}),
            "create card": lambda i: c.post(f"/lists/{lists[i % 4]}/cards", json={"title": f"New {i}"}),
        }
        unknown = sorted(set(only or ()) - set(ops))
        if unknown:
            raise SystemExit(f"unknown operations {unknown}; choose from {sorted(ops)}")
        results = await measure({k: v for k, v in ops.items() if not only or k in only}, requests)
    if "edit card" in results and "edit card + open board (rebuilt snapshot)" in results:
        edit = results["edit card"]["cpu_ms"]
        results["open board (rebuilt snapshot)"] = {
            "cpu_ms": round(results["edit card + open board (rebuilt snapshot)"]["cpu_ms"] - edit, 2), "wall_ms": None}
    return {"requests": requests, "cards": cards, "operations": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="requests per operation")
    parser.add_argument("--cards", type=int, default=80, help="cards on the board")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="measure only these operations")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "request_cost.json")
    args = parser.parse_args()
    result = asyncio.run(run(args.requests, args.cards, args.only))
    table = Table("operation", "CPU ms/request", "wall ms/request",
                  title=f"Orbitask request cost, SQLite in-process, board of {args.cards} cards")
    for name, row in result["operations"].items():
        table.add_row(name, f"{row['cpu_ms']:.2f}", "" if row["wall_ms"] is None else f"{row['wall_ms']:.2f}")
    Console().print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"JSON written to {args.json}")


if __name__ == "__main__":
    main()
