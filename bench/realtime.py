"""Real-time fan-out benchmark: 2 `orbitask serve` processes, Redis, MariaDB, many sockets on one board.

    .venv/bin/python bench/realtime.py [--clients 1000] [--rate 50] [--seconds 30]
                                       [--compression deflate|none] [--json bench/results/realtime.json]

Starts a throwaway redis-server and MariaDB (Debian packages) and two `orbitask serve` processes
sharing them (the region's relay runs in one of them, under the Redis lease). Opens --clients
WebSocket clients, half on each process, all subscribed to one board, then writes --rate
card creates/moves per second for --seconds, alternating between the processes.

Prints, per event and per client, commit-to-delivery latency (the event's `created_at`, stamped
by the server inside the writing transaction, against the client's receive time; one machine,
one clock) as p50/p99, how many events were delivered against clients x events (they must be
equal), and server memory per connection (RSS of both servers with every socket open, minus
before, over clients). Writes JSON. All traffic goes to 127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from procs import cpu_seconds, server_processes  # noqa: E402

from tests.dbservers import MariaDB  # noqa: E402
from tests.redisserver import RedisServer  # noqa: E402
from tests.servers import orbitask_server  # noqa: E402

SECRET = "bench-realtime-" + "s" * 40
LISTS, SEED_CARDS = 5, 20
CONNECT_CONCURRENCY = 50
CONNECT_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 120.0
WRITE_TAIL_S = 240.0  # after the last write is sent, how long answers may take (queues build past capacity)
WRITE_TIMEOUT_S = 120.0
console = Console(width=150)


def percentile(values: array | list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def raise_nofile(clients: int) -> tuple[int, int]:
    """Raise the soft open-files limit for the sockets (servers inherit it); returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = clients * 2 + 2048
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    if soft != resource.RLIM_INFINITY and soft < clients + 256:
        raise SystemExit(f"open-files limit {soft} (hard {hard}) is too low for {clients} clients")
    return soft, hard


# -- infrastructure ------------------------------------------------------------------------------


@contextlib.contextmanager
def mariadb(base: Path) -> Iterator[str]:
    """A throwaway MariaDB with a migrated database; yields its URL."""
    from orbitask.core.migrate import upgrade

    server = MariaDB(base / "mariadb", binlog=False).start()
    try:
        server.sql("CREATE DATABASE orbitask_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        url = server.url("orbitask_bench")
        upgrade(url)
        yield url
    finally:
        server.stop()


@contextlib.contextmanager
def redis_server(base: Path) -> Iterator[RedisServer]:
    server = RedisServer(base / "redis").start()
    try:
        yield server
    finally:
        server.stop()


def rss(procs: list[psutil.Process]) -> int:
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


# -- clients -------------------------------------------------------------------------------------


@dataclass
class Totals:
    """What every client saw, aggregated as it arrives (cheap per message)."""

    latencies_ms: array = field(default_factory=lambda: array("d"))
    delivered: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    resyncs: int = 0
    closed: dict[str, int] = field(default_factory=dict)


class Client:
    """One socket subscribed to the board; checks order and records latency per event."""

    def __init__(self, ws: ClientConnection, totals: Totals) -> None:
        self.ws = ws
        self.totals = totals
        self.version = 0  # newest board version received
        self.subscribed = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        totals = self.totals
        try:
            async for raw in self.ws:
                received = time.time()
                frame = orjson.loads(raw)
                for message in frame["messages"] if frame["type"] == "batch" else (frame,):
                    kind = message["type"]
                    if kind == "event":
                        event = message["event"]
                        version = event["board_version"]
                        if version <= self.version:
                            totals.duplicates += 1
                            continue
                        if version != self.version + 1:
                            totals.out_of_order += 1
                        self.version = version
                        totals.delivered += 1
                        created = dt.datetime.fromisoformat(event["created_at"]).timestamp()
                        totals.latencies_ms.append((received - created) * 1000)
                    elif kind == "subscribed":
                        self.version = message["version"]
                        if not self.subscribed.done():
                            self.subscribed.set_result(message["version"])
                    elif kind == "resync":
                        totals.resyncs += 1
                        self.version = message["version"]
                        if not self.subscribed.done():
                            self.subscribed.set_result(message["version"])
                    elif kind == "ping":
                        await self.ws.send('{"type":"pong"}')
                    elif kind == "error" and not self.subscribed.done():
                        self.subscribed.set_exception(RuntimeError(f"subscribe failed: {message}"))
        except ConnectionClosed as exc:
            reason = f"{exc.rcvd.code} {exc.rcvd.reason}" if exc.rcvd else "no close frame"
            totals.closed[reason] = totals.closed.get(reason, 0) + 1
        finally:
            if not self.subscribed.done():
                self.subscribed.set_exception(RuntimeError("socket closed before subscribing"))


async def open_clients(urls: list[str], headers: dict[str, str], board_id: str, count: int, totals: Totals,
                       compression: str | None) -> list[Client]:
    """Open `count` sockets, alternating between the servers, each subscribed to the board."""
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    clients: list[Client] = []
    limits = httpx.Limits(max_connections=CONNECT_CONCURRENCY, max_keepalive_connections=CONNECT_CONCURRENCY)

    async with httpx.AsyncClient(timeout=30, limits=limits) as http:

        async def one(i: int) -> None:
            base = urls[i % len(urls)]
            async with sem:
                r = await http.post(f"{base}/api/v1/ws/tickets", headers=headers)
                r.raise_for_status()
                ws = await connect(f"ws{base[4:]}{r.json()['url']}", compression=compression, open_timeout=30,
                                   max_size=2**20)
                client = Client(ws, totals)
                client.task = asyncio.create_task(client.run())
                clients.append(client)
                await ws.send(orjson.dumps({"type": "subscribe", "board_id": board_id}).decode())
                await asyncio.wait_for(client.subscribed, 30)

        await asyncio.wait_for(asyncio.gather(*[one(i) for i in range(count)]), CONNECT_TIMEOUT_S)
    return clients


# -- writes --------------------------------------------------------------------------------------


@dataclass
class WriteStats:
    sent: int = 0
    ok: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    cancelled: int = 0  # still unanswered when the bound on the tail ran out
    elapsed_s: float = 0.0


def drive_writes(urls: list[str], headers: dict[str, str], ctx: dict[str, Any], rate: float, seconds: float,
                 results: Any) -> None:
    """In its own process (no GIL shared with the sockets): `rate` writes/s for `seconds`, paced by the clock,
    alternating servers; sends a WriteStats back through the `results` pipe."""
    stats = WriteStats()

    async def main() -> None:
        rng = random.Random(7)
        total = int(rate * seconds)
        inflight = asyncio.Semaphore(64)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=WRITE_TIMEOUT_S, limits=limits, headers=headers) as http:

            async def write(i: int) -> None:
                base = urls[i % len(urls)]
                if rng.random() < 0.5 or not ctx["cards"]:
                    method, path = "POST", f"/api/v1/lists/{rng.choice(ctx['lists'])}/cards"
                    body: dict[str, Any] = {"title": f"Live card {i}"}
                else:
                    method, path = "POST", f"/api/v1/cards/{rng.choice(ctx['cards'])}/move"
                    body = {"list_id": rng.choice(ctx["lists"])}
                async with inflight:
                    started = time.perf_counter()
                    try:
                        r = await http.request(method, base + path, json=body)
                    except httpx.HTTPError as exc:
                        stats.failed[type(exc).__name__] = stats.failed.get(type(exc).__name__, 0) + 1
                        return
                    stats.latencies_ms.append((time.perf_counter() - started) * 1000)
                    if r.status_code < 300:
                        stats.ok += 1
                        if path.endswith("/cards"):
                            ctx["cards"].append(r.json()["id"])
                    else:
                        stats.failed[str(r.status_code)] = stats.failed.get(str(r.status_code), 0) + 1

            tasks = []
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i in range(total):
                delay = start + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing to the target rate, not synchronisation
                stats.sent += 1
                tasks.append(asyncio.create_task(write(i)))
            _, pending = await asyncio.wait(tasks, timeout=WRITE_TAIL_S)
            stats.elapsed_s = loop.time() - start
            stats.cancelled = len(pending)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    try:
        asyncio.run(main())
    finally:
        results.send(stats)
        results.close()


async def seed(http: httpx.AsyncClient, base: str) -> dict[str, Any]:
    """One user, one board with a few lists and cards."""
    email = f"bench-rt-{random.randrange(10**9)}@example.com"
    r = await http.post(f"{base}/api/v1/auth/register",
                        json={"email": email, "password": "bench-password", "name": "Bench"})
    r.raise_for_status()
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    workspace = (await http.get(f"{base}/api/v1/workspaces", headers=headers)).json()["items"][0]["id"]
    r = await http.post(f"{base}/api/v1/workspaces/{workspace}/boards", json={"name": "Live"}, headers=headers)
    r.raise_for_status()
    board = r.json()["id"]
    lists = []
    for i in range(LISTS):
        r = await http.post(f"{base}/api/v1/boards/{board}/lists", json={"name": f"L{i}"}, headers=headers)
        r.raise_for_status()
        lists.append(r.json()["id"])
    cards = []
    for i in range(SEED_CARDS):
        r = await http.post(f"{base}/api/v1/lists/{lists[i % LISTS]}/cards", json={"title": f"c{i}"},
                            headers=headers)
        r.raise_for_status()
        cards.append(r.json()["id"])
    return {"headers": headers, "board": board, "lists": lists, "cards": cards}


async def board_version(http: httpx.AsyncClient, base: str, ctx: dict[str, Any]) -> int:
    r = await http.get(f"{base}/api/v1/boards/{ctx['board']}", headers=ctx["headers"])
    r.raise_for_status()
    return int(r.json()["version"])


async def settle(procs: list[psutil.Process], quiet: float = 0.5, bound_s: float = 60.0) -> float:
    """Wait (bounded) until the servers are idle again after the connection storm; returns the seconds waited.

    Each subscribe also joins the board's presence, which every process announces to its subscribers;
    that burst is not part of the steady state being measured.
    """
    started = time.perf_counter()
    while time.perf_counter() - started < bound_s:
        before = cpu_seconds(procs)
        await asyncio.sleep(1)  # a one-second CPU sample
        if cpu_seconds(procs) - before < quiet:
            break
    return time.perf_counter() - started


async def run(urls: list[str], data_dirs: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    procs = [p for d in data_dirs for p in server_processes(d)]
    if len(procs) < 2:
        raise RuntimeError(f"expected the two server processes, found {len(procs)}")
    compression = "deflate" if args.compression == "deflate" else None
    async with httpx.AsyncClient(timeout=30) as http:
        ctx = await seed(http, urls[0])
        for base in urls:  # warm both processes (snapshot caches, connection pools)
            for _ in range(5):
                await board_version(http, base, ctx)
        await asyncio.sleep(1)  # let allocations settle before the baseline (a measurement pause, not a sync)
        rss_before = rss(procs)

        totals = Totals()
        console.print(f"Opening {args.clients} sockets ({args.compression}) across {len(urls)} processes ...")
        opened = time.perf_counter()
        clients = await open_clients(urls, ctx["headers"], ctx["board"], args.clients, totals, compression)
        connect_s = time.perf_counter() - opened
        settle_s = await settle(procs)
        rss_open = rss(procs)
        start_version = await board_version(http, urls[0], ctx)
        console.print(f"  {len(clients)} subscribed in {connect_s:.1f} s, servers idle again after {settle_s:.1f} s; "
                      f"server RSS {rss_before / 2**20:.0f} -> {rss_open / 2**20:.0f} MiB")

        console.print(f"Writing {args.rate}/s for {args.seconds} s ...")
        cpu_before, client_cpu_before = cpu_seconds(procs), time.process_time()
        spawn = multiprocessing.get_context("spawn")
        receiving, sending = spawn.Pipe(duplex=False)
        writer = spawn.Process(target=drive_writes, args=(urls, ctx["headers"], ctx, args.rate, args.seconds, sending))
        writer.start()
        sending.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.seconds + WRITE_TAIL_S + 60
        while not receiving.poll():  # the writer ends on its own (bounded); keep serving sockets meanwhile
            if loop.time() > deadline or not writer.is_alive() and not receiving.poll():
                writer.kill()
                raise RuntimeError(f"writer process failed or did not finish (exit code {writer.exitcode})")
            await asyncio.sleep(0.2)
        try:
            stats: WriteStats = receiving.recv()
        except EOFError:
            raise RuntimeError(f"writer process ended without results (exit code {writer.exitcode})") from None
        writer.join(30)
        # a write whose client gave up may still commit: count events once the board version stops moving
        end_version = await board_version(http, urls[0], ctx)
        for _ in range(60):
            await asyncio.sleep(1)  # sampling the version, bounded
            newest = await board_version(http, urls[0], ctx)
            if newest == end_version:
                break
            end_version = newest
        events = end_version - start_version
        expected = events * len(clients)

        drain_deadline = loop.time() + DRAIN_TIMEOUT_S
        while totals.delivered < expected and loop.time() < drain_deadline:
            if all(c.task is not None and c.task.done() for c in clients):
                break
            await asyncio.sleep(0.1)  # waiting (bounded) for the last deliveries to arrive
        server_cpu = cpu_seconds(procs) - cpu_before
        client_cpu = time.process_time() - client_cpu_before
        rss_end = rss(procs)

        for c in clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.ws.close(), 5)
        for c in clients:
            if c.task is not None:
                c.task.cancel()
        await asyncio.gather(*[c.task for c in clients if c.task is not None], return_exceptions=True)

    lat = totals.latencies_ms
    return {
        "clients": len(clients), "rate_target": args.rate, "seconds": args.seconds, "compression": args.compression,
        "writes": {"sent": stats.sent, "ok": stats.ok, "failed": stats.failed, "cancelled": stats.cancelled,
                   "elapsed_s": round(stats.elapsed_s, 1),
                   "achieved_rate": round(stats.ok / stats.elapsed_s, 1) if stats.elapsed_s else 0,
                   "p50_ms": round(percentile(stats.latencies_ms, 50), 2) if stats.latencies_ms else None,
                   "p99_ms": round(percentile(stats.latencies_ms, 99), 2) if stats.latencies_ms else None},
        "events": events,
        "delivered": totals.delivered, "expected": expected, "complete": totals.delivered == expected,
        "duplicates": totals.duplicates, "out_of_order": totals.out_of_order, "resyncs": totals.resyncs,
        "closed": totals.closed,
        "latency_ms": {
            "p50": round(percentile(lat, 50), 2) if lat else None,
            "p90": round(percentile(lat, 90), 2) if lat else None,
            "p99": round(percentile(lat, 99), 2) if lat else None,
            "max": round(max(lat), 2) if lat else None,
        },
        "connect_seconds": round(connect_s, 2), "settle_seconds": round(settle_s, 2),
        "server_rss_mib": {"before": round(rss_before / 2**20, 1), "sockets_open": round(rss_open / 2**20, 1),
                           "end": round(rss_end / 2**20, 1)},
        "server_kib_per_connection": round((rss_open - rss_before) / len(clients) / 1024, 1),
        "server_cpu_seconds": round(server_cpu, 2), "client_cpu_seconds": round(client_cpu, 2),
    }


def report(result: dict[str, Any], path: Path) -> None:
    table = Table(title=f"Orbitask realtime: {result['clients']} sockets on 2 processes, one board, "
                        f"{result['rate_target']} writes/s for {result['seconds']} s ({result['compression']})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    lat = result["latency_ms"]
    rows = [
        ("commit -> delivery p50 / p99 / max (ms)", f"{lat['p50']} / {lat['p99']} / {lat['max']}"),
        ("delivered / expected (clients x events)", f"{result['delivered']} / {result['expected']}"
                                                     f" ({result['clients']} x {result['events']})"),
        ("duplicates / out of order / resyncs", f"{result['duplicates']} / {result['out_of_order']} / "
                                                f"{result['resyncs']}"),
        ("sockets closed by the server", str(result["closed"] or 0)),
        ("writes ok / sent, achieved rate (over s)", f"{result['writes']['ok']} / {result['writes']['sent']}, "
                                                     f"{result['writes']['achieved_rate']}/s "
                                                     f"({result['writes']['elapsed_s']} s)"),
        ("write request p50 / p99 (ms)", f"{result['writes']['p50_ms']} / {result['writes']['p99_ms']}"),
        ("server memory per connection (KiB)", str(result["server_kib_per_connection"])),
        ("server RSS before / sockets open / end (MiB)",
         f"{result['server_rss_mib']['before']} / {result['server_rss_mib']['sockets_open']} / "
         f"{result['server_rss_mib']['end']}"),
        ("connect + subscribe all sockets (s)", str(result["connect_seconds"])),
        ("CPU during writes: servers / client (s)", f"{result['server_cpu_seconds']} / {result['client_cpu_seconds']}"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**result, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}},
                               indent=2))
    console.print(f"JSON written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000, help="WebSocket clients, half on each process")
    parser.add_argument("--rate", type=float, default=50, help="writes per second (card creates and moves)")
    parser.add_argument("--seconds", type=float, default=30, help="how long to write")
    parser.add_argument("--compression", choices=["deflate", "none"], default="deflate",
                        help="permessage-deflate like browsers (default), or none")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "realtime.json")
    args = parser.parse_args()
    if args.clients < 2 or args.rate <= 0 or args.seconds <= 0:
        parser.error("need --clients >= 2 and positive --rate and --seconds")
    raise_nofile(args.clients)

    base = Path(tempfile.mkdtemp(prefix="orbitask-bench-rt-"))
    try:
        with contextlib.ExitStack() as stack:
            console.print("Starting MariaDB and redis-server ...")
            database_url = stack.enter_context(mariadb(base))
            redis = stack.enter_context(redis_server(base))
            env = {
                "ORBITASK_DATABASE_URL": database_url, "ORBITASK_REDIS_URL": redis.url,
                "ORBITASK_SECRET_KEY": SECRET,
                # one bench user makes every request from 127.0.0.1: lift the per-user and per-address limits
                "ORBITASK_RATE_LIMIT_API_PER_MINUTE": "0", "ORBITASK_RATE_LIMIT_API_IP_PER_MINUTE": "0",
            }
            urls, dirs = [], []
            for name in ("a", "b"):
                data_dir = base / name
                data_dir.mkdir()
                urls.append(stack.enter_context(orbitask_server(data_dir, "--no-migrate", env=env)))
                dirs.append(data_dir.resolve())
            result = asyncio.run(run(urls, dirs, args))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report(result, args.json)
    if not result["complete"]:
        console.print(f"[red]Delivered {result['delivered']} events, expected {result['expected']}[/red]")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
