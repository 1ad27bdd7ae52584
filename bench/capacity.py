"""Capacity benchmark: virtual users with a realistic request mix, stepped up until p99 passes 50 ms.

    .venv/bin/python bench/capacity.py [--setup sqlite|mariadb|both] [--steps 10 20 40 ...]
                                       [--think 0.5 1.0] [--warmup 5] [--seconds 20] [--p99-limit 50]
                                       [--users 100 --boards 6 --cards 80] [--mix open_board=1 ...]
                                       [--json bench/results/capacity.json]
                                       [--plot docs/capacity.png]

Seeds, in-process and before the server starts, 100 users each with a workspace of 6 boards of 80 cards
(half of them with a 4-item checklist), then starts a real `orbitask serve --workers 2` on 127.0.0.1:
`sqlite` is the embedded default (SQLite, in-process bus); `mariadb` adds a throwaway MariaDB 10.11 and
redis-server from Debian's packages. Each virtual user signs in once, keeps a WebSocket subscribed to
its board and runs the issue's weighted mix with think time (uniform in --think seconds): open board
snapshot 25, create card 15, move card 15, edit card 10, comment 10, open card 10, list boards 5,
toggle checklist item 5, delete card 3, create board 2. Virtual user k is seeded user k mod 100 on
that user's board k div 100, so up to 600 users each write only their own board (a user with several
tabs open beyond 100).

Each step adds users, warms up, then measures for --seconds: requests/s, p50/p95/p99, errors by
status code or exception, and CPU from /proc as % of all cores (the orbitask processes; MariaDB +
Redis; this load generator; everything else on the machine). The step-up stops after the first step
whose p99 passes --p99-limit (or whose error rate passes --max-error-rate), but not before
--min-steps steps (3), so the plot has a curve. Prints a table per setup,
writes JSON (merged with earlier setups' results in the same file) and a PNG of latency against
requests/s. Everything goes to 127.0.0.1; every loop and wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from capacity_mix import MIX, Mix, Window, best_step, stop_reason, summarize  # noqa: E402
from capacity_seed import SeededUser, seed  # noqa: E402
from capacity_users import Shared, VirtualUser  # noqa: E402
from procs import cpu_seconds, server_processes  # noqa: E402

from tests.servers import orbitask_server  # noqa: E402

SECRET = "bench-capacity-" + "s" * 40
REQUEST_TIMEOUT_S = 10.0
START_TIMEOUT_S = 60.0  # bound on signing in and subscribing the users a step adds
START_CONCURRENCY = 16
DRAIN_TIMEOUT_S = REQUEST_TIMEOUT_S + 1  # after a window, for its last requests to finish
FIRST_WARMUP_S = 15.0
IDLE_SECONDS = 5.0
DEFAULT_STEPS = [10, 20, 40, 80, 120, 160, 200, 250, 300, 320, 350, 400, 450, 500, 600]
console = Console(width=160)


# -- processes and CPU ---------------------------------------------------------------------------


def machine_busy_seconds() -> float:
    """CPU time every core spent not idle, machine-wide (from /proc/stat)."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


@dataclass
class CpuMeter:
    """CPU of the server, its databases, this process and the whole machine between two readings."""

    server: list[psutil.Process]
    databases: list[psutil.Process]
    start: tuple[float, float, float, float, float] = (0, 0, 0, 0, 0)

    def read(self) -> tuple[float, float, float, float, float]:
        return (time.perf_counter(), cpu_seconds(self.server), cpu_seconds(self.databases), time.process_time(),
                machine_busy_seconds())

    def begin(self) -> None:
        self.start = self.read()

    def end(self) -> dict[str, float]:
        """Percent of all cores (100 % = every core busy) over the interval."""
        now = self.read()
        wall, server, dbs, gen, machine = (b - a for a, b in zip(self.start, now, strict=True))
        capacity = wall * (os.cpu_count() or 1) / 100
        return {
            "server_cpu_pct": round(server / capacity, 1), "db_cpu_pct": round(dbs / capacity, 1),
            "generator_cpu_pct": round(gen / capacity, 1),
            "other_cpu_pct": round(max(0.0, machine - server - dbs - gen) / capacity, 1),
            "server_cpu_s": round(server, 3), "db_cpu_s": round(dbs, 3), "generator_cpu_s": round(gen, 3),
        }

    async def idle(self, seconds: float) -> dict[str, float]:
        """What the server and its databases burn with no request at all (their background loops)."""
        await asyncio.sleep(seconds)  # let start-up work (consumers catching up on the seed's events) finish
        self.begin()
        await asyncio.sleep(seconds)  # the measurement itself
        cpu = self.end()
        return {"server_cpu_pct": cpu["server_cpu_pct"], "db_cpu_pct": cpu["db_cpu_pct"],
                "other_cpu_pct": cpu["other_cpu_pct"]}


# -- the step-up ---------------------------------------------------------------------------------


async def step_up(base: str, seeded: list[SeededUser], meter: CpuMeter, args: argparse.Namespace) -> dict[str, Any]:
    """Add users step by step and measure each step until one passes the limit."""
    shared = Shared()
    mix = Mix(args.mix)
    slots = [(seeded[k % len(seeded)], seeded[k % len(seeded)].boards[k // len(seeded)])
             for k in range(len(seeded) * min(len(u.boards) for u in seeded))]
    steps_wanted = [s for s in args.steps if s <= len(slots)]
    if len(steps_wanted) < len(args.steps):
        console.print(f"[yellow]Steps above {len(slots)} users skipped: only {len(slots)} (user, board) pairs "
                      f"are seeded.[/yellow]")
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=4)  # the server closes idle connections at 5 s
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    users: list[VirtualUser] = []
    steps: list[dict[str, Any]] = []
    failed: str | None = None
    idle = await meter.idle(IDLE_SECONDS)
    console.print(f"  idle (no users, {IDLE_SECONDS:g} s): CPU % server {idle['server_cpu_pct']} db "
                  f"{idle['db_cpu_pct']} other {idle['other_cpu_pct']}")
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        try:
            for target in steps_wanted:
                fresh = [VirtualUser(k, http, base, *slots[k], shared, mix, tuple(args.think))
                         for k in range(len(users), target)]
                sem = asyncio.Semaphore(START_CONCURRENCY)

                async def start(vu: VirtualUser) -> None:
                    async with sem:
                        await vu.start()

                started = time.perf_counter()
                await asyncio.wait_for(asyncio.gather(*[start(vu) for vu in fresh]), START_TIMEOUT_S)
                start_s = time.perf_counter() - started
                users += fresh
                # warm-up: the new users' first requests; the first step also warms the server (caches, pools)
                await asyncio.sleep(args.warmup if steps else max(args.warmup, FIRST_WARMUP_S))
                frames, events, resyncs = shared.ws_frames, shared.ws_events, shared.resyncs
                window = shared.window = Window()
                meter.begin()
                await asyncio.sleep(args.seconds)  # the measurement window
                shared.window = None
                cpu = meter.end()
                drain_until = time.monotonic() + DRAIN_TIMEOUT_S
                while window.inflight > 0 and time.monotonic() < drain_until:
                    await asyncio.sleep(0.05)  # bounded wait for the window's last requests
                step = {"users": target, "start_seconds": round(start_s, 2),
                        **summarize(window, args.seconds), **cpu,
                        "ws_frames_per_s": round((shared.ws_frames - frames) / args.seconds, 1),
                        "ws_events_per_s": round((shared.ws_events - events) / args.seconds, 1),
                        "resyncs": shared.resyncs - resyncs, "unfinished": window.inflight}
                if window.latencies_ms:
                    step["server_cpu_ms_per_request"] = round(cpu["server_cpu_s"] / len(window.latencies_ms) * 1000, 2)
                    step["generator_cpu_ms_per_request"] = round(cpu["generator_cpu_s"] / len(window.latencies_ms)
                                                                 * 1000, 2)
                steps.append(step)
                console.print(
                    f"  {target:4d} users: {step['rps']:7.1f} req/s  p50/p95/p99 {step['p50_ms']}/{step['p95_ms']}/"
                    f"{step['p99_ms']} ms  errors {step['errors']} {step['errors_by_type'] or ''}  CPU % server "
                    f"{cpu['server_cpu_pct']} db {cpu['db_cpu_pct']} generator {cpu['generator_cpu_pct']} "
                    f"other {cpu['other_cpu_pct']}  server CPU ms/req {step.get('server_cpu_ms_per_request')}")
                if failed is None and (why := stop_reason(step, args.p99_limit, args.max_error_rate)) is not None:
                    failed = f"{target} users: {why}"
                if failed is not None and len(steps) >= args.min_steps:  # --min-steps: enough points for a curve
                    break
        finally:
            await asyncio.gather(*[vu.stop() for vu in users], return_exceptions=True)
    return {"steps": steps, "stop_reason": failed or "every step stayed under the limits", "idle": idle,
            "ws_closed": shared.ws_closed,
            "best": best_step(steps, args.p99_limit)}


# -- setups --------------------------------------------------------------------------------------


def server_env(extra: dict[str, str]) -> dict[str, str]:
    """Settings for the server under test: limits that would throttle one machine's worth of users lifted."""
    return {
        # every virtual user signs in from 127.0.0.1: per-address limits would stop them, per-user limits stay
        "ORBITASK_RATE_LIMIT_API_IP_PER_MINUTE": "0", "ORBITASK_RATE_LIMIT_LOGIN_IP_PER_MINUTE": "0",
        "ORBITASK_ACCESS_TOKEN_TTL_SECONDS": "3600",  # one sign-in lasts the whole run
        **extra,
    }


@contextlib.contextmanager
def sqlite_setup(base: Path, args: argparse.Namespace) -> Iterator[tuple[str, CpuMeter, list[SeededUser], float]]:
    """The embedded default: SQLite in a fresh data dir, `orbitask serve --workers N`."""
    from orbitask.config import Settings
    from orbitask.core.migrate import upgrade

    data_dir = (base / "data").resolve()
    data_dir.mkdir(parents=True)
    settings = Settings(data_dir=data_dir, argon2_time_cost=1, argon2_memory_cost=64)
    upgrade(settings.writer_url)
    seeded, seed_s = seed_now(settings, args)
    with orbitask_server(data_dir, "--workers", str(args.workers), "--no-migrate", env=server_env({})) as url:
        yield url, CpuMeter(server_processes(data_dir), []), seeded, seed_s


@contextlib.contextmanager
def mariadb_setup(base: Path, args: argparse.Namespace) -> Iterator[tuple[str, CpuMeter, list[SeededUser], float]]:
    """MariaDB 10.11 and redis-server (Debian's packages, thrown away after) behind `orbitask serve`."""
    from orbitask.config import Settings
    from orbitask.core.migrate import upgrade
    from tests.dbservers import MariaDB
    from tests.redisserver import RedisServer

    mariadb = MariaDB(base / "mariadb", binlog=False).start()
    redis = None
    try:
        mariadb.sql("CREATE DATABASE orbitask_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        database_url = mariadb.url("orbitask_bench")
        logging.getLogger("asyncmy").setLevel(logging.ERROR)  # MariaDB notes, per table, that it names primary keys
        upgrade(database_url)
        redis = RedisServer(base / "redis").start()
        data_dir = (base / "data").resolve()
        data_dir.mkdir(parents=True)
        settings = Settings(data_dir=data_dir, database_url=database_url, redis_url=redis.url, secret_key=SECRET,
                            argon2_time_cost=1, argon2_memory_cost=64)
        seeded, seed_s = seed_now(settings, args)
        env = server_env({"ORBITASK_DATABASE_URL": database_url, "ORBITASK_REDIS_URL": redis.url,
                          "ORBITASK_SECRET_KEY": SECRET,
                          # the background jobs (notifications, ...) in the serving processes, as on SQLite
                          "ORBITASK_WORKER_IN_SERVE": "on"})
        with orbitask_server(data_dir, "--workers", str(args.workers), "--no-migrate", env=env) as url:
            databases = [psutil.Process(mariadb.proc.pid), psutil.Process(redis.proc.pid)]
            yield url, CpuMeter(server_processes(data_dir), databases), seeded, seed_s
    finally:
        if redis is not None:
            redis.stop()
        mariadb.stop()


def seed_now(settings: Any, args: argparse.Namespace) -> tuple[list[SeededUser], float]:
    console.print(f"Seeding {args.users} users x {args.boards} boards x {args.cards} cards ...")
    started = time.perf_counter()
    seeded = asyncio.run(seed(settings, args.users, args.boards, args.cards))
    seconds = time.perf_counter() - started
    console.print(f"  seeded in {seconds:.1f} s")
    return seeded, seconds


def run_setup(name: str, args: argparse.Namespace) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix=f"orbitask-bench-capacity-{name}-"))
    try:
        setup = sqlite_setup if name == "sqlite" else mariadb_setup
        with setup(base, args) as (url, meter, seeded, seed_s):
            console.print(f"[bold]{name}[/bold]: {url}, {len(meter.server)} server processes; stepping up "
                          f"{args.steps} users, think {args.think[0]}-{args.think[1]} s, {args.warmup} s warm-up + "
                          f"{args.seconds} s per step")
            result = run_loop(step_up(url, seeded, meter, args))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return {"setup": name, "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "workers": args.workers,
            "seed_seconds": round(seed_s, 1), **result}


def run_loop(coro: Any) -> Any:
    """asyncio.run on uvloop when it is installed (a cheaper load generator)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# -- reporting -----------------------------------------------------------------------------------


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    """A Rich table of the steps of one setup."""
    table = Table(title=f"Orbitask capacity, {result['setup']}, {result['workers']} workers, {os.cpu_count()} cores "
                        f"(CPU % of all cores), {result['date']}")
    for column in ("users", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors", "server CPU %",
                   "db CPU %", "generator CPU %", "other CPU %", "server CPU ms/req", "generator CPU ms/req",
                   "WS events/s"):
        table.add_column(column, justify="right")
    for s in result["steps"]:
        errors = ", ".join(f"{k}: {v}" for k, v in s["errors_by_type"].items()) or "0"
        p99 = f"[red]{s['p99_ms']}[/red]" if s["p99_ms"] is None or s["p99_ms"] >= args.p99_limit else str(s["p99_ms"])
        table.add_row(str(s["users"]), str(s["rps"]), str(s["p50_ms"]), str(s["p95_ms"]), p99, str(s["max_ms"]),
                      errors, str(s["server_cpu_pct"]), str(s["db_cpu_pct"]), str(s["generator_cpu_pct"]),
                      str(s["other_cpu_pct"]), str(s.get("server_cpu_ms_per_request")),
                      str(s.get("generator_cpu_ms_per_request")), str(s["ws_events_per_s"]))
    console.print(table)
    idle = result["idle"]
    console.print(f"  idle server (no users): CPU % server {idle['server_cpu_pct']} db {idle['db_cpu_pct']}")
    best = result["best"]
    if best is None:
        console.print(f"  no step had p99 < {args.p99_limit:g} ms with 0 errors")
    else:
        console.print(f"  [bold]highest with p99 < {args.p99_limit:g} ms and 0 errors: {best['rps']} req/s[/bold] "
                      f"({best['users']} users, p50/p95/p99 {best['p50_ms']}/{best['p95_ms']}/{best['p99_ms']} ms)")
    console.print(f"  stopped: {result['stop_reason']}")


def write_json(path: Path, results: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Merge this run's setups into the JSON file (other setups' earlier results are kept)."""
    doc: dict[str, Any] = {}
    if path.exists():
        with contextlib.suppress(ValueError):
            doc = json.loads(path.read_text())
    setups = doc.get("setups", {}) if isinstance(doc.get("setups"), dict) else {}
    for r in results:
        setups[r["setup"]] = {**r, "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    doc = {"benchmark": "capacity", "mix": MIX, "p99_limit_ms": args.p99_limit,
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
           "setups": setups}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    console.print(f"JSON written to {path}")
    return doc


def plot(doc: dict[str, Any], path: Path) -> None:
    """Latency p50/p95/p99 against requests/s, one colour per setup, the limit as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    colours = {"sqlite": "tab:blue", "mariadb": "tab:orange"}
    limit = doc["p99_limit_ms"]
    for name, result in sorted(doc["setups"].items()):
        steps = [s for s in result["steps"] if s["requests"]]
        rps = [s["rps"] for s in steps]
        colour = colours.get(name, "tab:green")
        for q, style in (("p50", ":"), ("p95", "--"), ("p99", "-")):
            ax.plot(rps, [s[f"{q}_ms"] for s in steps], style, marker="o", markersize=3.5, color=colour,
                    label=f"{name} {q} ({result['date'][:10]})")
        if best := result.get("best"):
            ax.annotate(f"{name}: {best['rps']:g} req/s", (best["rps"], best["p99_ms"]), textcoords="offset points",
                        xytext=(-10, 12), ha="right", fontsize=8, color=colour,
                        arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.6})
    ax.axhline(limit, color="tab:red", linewidth=0.8, label=f"p99 limit {limit:g} ms")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(FixedLocator([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(0, max([s["rps"] for r in doc["setups"].values() for s in r["steps"]] + [1]) * 1.08)
    ax.set_xlabel("requests/s (the issue's mix, all virtual users)")
    ax.set_ylabel("latency, ms (log scale)")
    ax.set_title(f"Orbitask capacity: stepped virtual users, {doc['machine']['cpus']} cores shared with the load "
                 f"generator", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    console.print(f"Plot written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup", choices=["sqlite", "mariadb", "both"], default="both")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (2 for 2 cores)")
    parser.add_argument("--users", type=int, default=100, help="seeded users")
    parser.add_argument("--boards", type=int, default=6, help="boards per seeded user")
    parser.add_argument("--cards", type=int, default=80, help="cards per board")
    parser.add_argument("--steps", type=int, nargs="+", default=DEFAULT_STEPS, help="virtual users per step")
    parser.add_argument("--think", type=float, nargs=2, default=[0.5, 1.0], metavar=("MIN", "MAX"),
                        help="think time between a user's requests, seconds (uniform)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds after adding users before measuring")
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window per step")
    parser.add_argument("--mix", nargs="+", default=None, metavar="OP=WEIGHT",
                        help=f"other weights, e.g. open_board=1 to measure one operation (default: {MIX})")
    parser.add_argument("--p99-limit", type=float, default=50.0, help="stop after the first step with p99 above this")
    parser.add_argument("--min-steps", type=int, default=3,
                        help="measure at least this many steps even past the limit (for the curve in the plot)")
    parser.add_argument("--max-error-rate", type=float, default=0.01, help="or with more errors than this fraction")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "capacity.json")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "capacity.png")
    args = parser.parse_args()
    if args.users < 1 or args.boards < 1 or args.cards < 1 or args.seconds <= 0 or args.warmup < 0 \
            or not 0 <= args.think[0] <= args.think[1] or any(s < 1 for s in args.steps):
        parser.error("need positive sizes, steps and --seconds, and 0 <= think MIN <= MAX")
    args.steps = sorted(set(args.steps))
    try:
        args.mix = {op: int(w) for op, w in (item.split("=", 1) for item in args.mix)} if args.mix else dict(MIX)
        Mix(args.mix)
    except ValueError:
        parser.error("--mix takes OP=WEIGHT pairs with integer weights, not all zero")
    if unknown := set(args.mix) - set(MIX):
        parser.error(f"--mix: unknown operations {sorted(unknown)}; they are {list(MIX)}")

    results = []
    for name in (["sqlite", "mariadb"] if args.setup == "both" else [args.setup]):
        result = run_setup(name, args)
        report(result, args)
        results.append(result)
    doc = write_json(args.json, results, args)
    plot(doc, args.plot)


if __name__ == "__main__":
    main()
