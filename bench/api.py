"""HTTP API benchmark: a real `orbitask serve`, a board of 10 lists x 500 cards, three operations.

    .venv/bin/python bench/api.py [--workers 2] [--requests 3000] [--concurrency 8 32]
                                  [--backend sqlite|mariadb|postgresql | --database-url URL]
                                  [--json bench/results/api-<backend>.json]

--backend mariadb/postgresql starts a throwaway server from Debian's packages on 127.0.0.1.

Prints requests/s and p50/p95/p99 latency per operation and concurrency, and writes JSON.
All traffic goes to 127.0.0.1; every loop is bounded by a request count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import orbitask_server  # noqa: E402

LISTS, CARDS = 10, 500
console = Console(width=150)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def seed(client: httpx.AsyncClient) -> dict[str, Any]:
    """One user, one board, 10 lists, 500 cards."""
    email = f"bench-{random.randrange(10**9)}@example.com"
    r = await client.post("/api/v1/auth/register", json={"email": email, "password": "bench-password", "name": "B"})
    r.raise_for_status()
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    ws = (await client.get("/api/v1/workspaces", headers=headers)).json()["items"][0]["id"]
    board = (await client.post(f"/api/v1/workspaces/{ws}/boards", json={"name": "Bench"}, headers=headers)).json()
    lists = []
    for i in range(LISTS):
        r = await client.post(f"/api/v1/boards/{board['id']}/lists", json={"name": f"List {i}"}, headers=headers)
        lists.append(r.json()["id"])
    sem = asyncio.Semaphore(8)

    async def make(i: int) -> str:
        async with sem:
            r = await client.post(f"/api/v1/lists/{lists[i % LISTS]}/cards",
                                  json={"title": f"Card {i}", "description": "Some *markdown* text. " * 5},
                                  headers=headers)
            r.raise_for_status()
            return r.json()["id"]

    cards = await asyncio.gather(*[make(i) for i in range(CARDS)])
    return {"headers": headers, "board": board["id"], "lists": lists, "cards": list(cards)}


def operation(name: str, ctx: dict[str, Any], rng: random.Random) -> tuple[str, str, dict[str, Any] | None]:
    """Method, path and body of one request of kind `name`."""
    if name == "board_snapshot_get":
        return "GET", f"/api/v1/boards/{ctx['board']}", None
    if name == "card_create":
        return "POST", f"/api/v1/lists/{rng.choice(ctx['lists'])}/cards", {"title": "Bench card"}
    card = rng.choice(ctx["cards"])
    return "POST", f"/api/v1/cards/{card}/move", {"list_id": rng.choice(ctx["lists"])}


def server_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the server's processes so far."""
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                times = p.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


async def drive(url: str, ctx: dict[str, Any], name: str, concurrency: int, total: int, pids: list[int]) -> dict[str, Any]:
    """Send `total` requests of one kind from `concurrency` keep-alive connections (aiohttp: a cheap client)."""
    latencies: list[float] = []
    errors = 0
    remaining = total
    rng = random.Random(concurrency)
    headers = {**ctx["headers"], "Accept-Encoding": "gzip"}
    connector = aiohttp.TCPConnector(limit=concurrency)

    async with aiohttp.ClientSession(base_url=url, connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                method, path, body = operation(name, ctx, rng)
                started = time.perf_counter()
                async with session.request(method, path, json=body) as r:
                    await r.read()
                    latencies.append((time.perf_counter() - started) * 1000)
                    if r.status >= 400:
                        errors += 1

        cpu_before, client_before = server_cpu_seconds(pids), time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
        server_cpu = server_cpu_seconds(pids) - cpu_before
        client_cpu = time.process_time() - client_before
    return {
        "server_cpu_ms_per_request": round(server_cpu / len(latencies) * 1000, 2),
        "client_cpu_ms_per_request": round(client_cpu / len(latencies) * 1000, 2),
        "operation": name, "concurrency": concurrency, "requests": len(latencies), "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2), "p95_ms": round(percentile(latencies, 95), 2),
        "p99_ms": round(percentile(latencies, 99), 2), "mean_ms": round(statistics.fmean(latencies), 2),
    }


async def run(url: str, pids: list[int], args: argparse.Namespace) -> list[dict[str, Any]]:
    limits = httpx.Limits(max_connections=max(args.concurrency) + 4, max_keepalive_connections=max(args.concurrency) + 4)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        console.print(f"Seeding {LISTS} lists and {CARDS} cards ...")
        ctx = await seed(client)
        for _ in range(50):  # warm caches and connections
            await client.get(f"/api/v1/boards/{ctx['board']}", headers=ctx["headers"])
        results = []
        for name in ("board_snapshot_get", "card_create", "card_move"):
            for concurrency in args.concurrency:
                result = await drive(url, ctx, name, concurrency, args.requests, pids)
                console.print(f"  {name} c={concurrency}: {result['rps']} req/s, p99 {result['p99_ms']} ms")
                results.append(result)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--requests", type=int, default=3000, help="requests per operation and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--backend", choices=["sqlite", "mariadb", "postgresql"], default="sqlite",
                        help="database to run on; server databases are started for the run")
    parser.add_argument("--database-url", default=None, help="an existing writer DSN instead of --backend")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if args.database_url is None and args.backend != "sqlite":
            args.database_url = stack.enter_context(throwaway_database(args.backend))
        backend = (args.database_url or "sqlite").split(":")[0].split("+")[0]
        args.json = args.json or ROOT / "bench" / "results" / f"api-{backend}.json"
        results = serve_and_drive(args)
    report(args, backend, results)


@contextlib.contextmanager
def throwaway_database(backend: str) -> Iterator[str]:
    """A MariaDB or PostgreSQL server in a temp dir for the length of the run."""
    from tests.dbservers import MariaDB, PostgreSQL

    base = Path(tempfile.mkdtemp(prefix=f"orbitask-bench-{backend}-"))
    server = MariaDB(base, binlog=False) if backend == "mariadb" else PostgreSQL(base)
    server.start()
    try:
        if backend == "mariadb":
            server.sql("CREATE DATABASE orbitask_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        else:
            server.sql("CREATE DATABASE orbitask_bench")
        yield server.url("orbitask_bench")
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def serve_and_drive(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Start `orbitask serve` against the chosen database and run every operation."""
    env = {"ORBITASK_DATABASE_URL": args.database_url, "ORBITASK_SECRET_KEY": "b" * 40} if args.database_url else {}
    # one token from one address drives thousands of requests a minute: measure the API, not the limiter
    env.update({"ORBITASK_RATE_LIMIT_API_PER_MINUTE": "0", "ORBITASK_RATE_LIMIT_API_IP_PER_MINUTE": "0"})
    with tempfile.TemporaryDirectory() as tmp:
        migrate = [] if not args.database_url else ["--no-migrate"]
        if args.database_url:
            from orbitask.core.migrate import upgrade

            upgrade(args.database_url)
        with orbitask_server(Path(tmp), "--workers", str(args.workers), *migrate, env=env) as url:
            pids = [p.pid for p in psutil.process_iter(["cmdline"])
                    if "orbitask.cli" in " ".join(p.info["cmdline"] or []) and tmp in " ".join(p.environ().values())]
            return asyncio.run(run(url, pids, args))


def report(args: argparse.Namespace, backend: str, results: list[dict[str, Any]]) -> None:
    """Print the table and write the JSON file."""
    table = Table(title=f"Orbitask API, {backend}, {args.workers} worker(s), board of {LISTS}x{CARDS // LISTS} cards")
    columns = ("operation", "concurrency", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "server CPU ms/req",
               "client CPU ms/req")
    for column in columns:
        table.add_column(column, justify="right" if column != "operation" else "left")
    for r in results:
        table.add_row(r["operation"], str(r["concurrency"]), str(r["rps"]), str(r["p50_ms"]), str(r["p95_ms"]),
                      str(r["p99_ms"]), str(r["errors"]), str(r["server_cpu_ms_per_request"]),
                      str(r["client_cpu_ms_per_request"]))
    console.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "backend": backend, "workers": args.workers, "requests_per_step": args.requests,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
    }, indent=2))
    console.print(f"JSON written to {args.json}")


if __name__ == "__main__":
    main()
