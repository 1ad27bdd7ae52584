"""Start, stop and drive the lab's processes from its state file (any invocation, any time).

`up` plans ports and spawns the supervisor (lab/supervisor.py), which hosts the WAN links,
brings the servers up (`bootstrap`) and then watches the writer. Every other command loads the
state, acts under the lab lock, and saves it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import httpx
import structlog

from orbitask.lab import haproxy, journal
from orbitask.lab.mariadb import DATABASE, REPL_PASSWORD, REPL_USER, MariaDBServer, SqlError
from orbitask.lab.procs import alive, kill, spawn, stop, wait_until
from orbitask.lab.redis import LabRedis
from orbitask.lab.state import REGIONS, LabState, locked
from orbitask.regions import failover

log = structlog.get_logger("orbitask.lab")
API_START_TIMEOUT_S = 60.0
UP_TIMEOUT_S = 300.0
SYNC_TIMEOUT_S = 60
WORKER_INTERVAL_S = 1.0  # one indexed query on the local replica per pass: cheap on a 2-core host
WORKER_BANNER = b"Orbitask worker for region"  # printed by `orbitask worker run` once its settings are valid


def server(state: LabState, region: str) -> MariaDBServer:
    """The region's MariaDB as recorded in the state."""
    r = state.regions[region]
    return MariaDBServer(state.dir / region / "db", r.server_id, r.db_port, state.semi_sync, r.db_pid, region,
                         journal.path(state.dir))


def redis_of(state: LabState, region: str) -> LabRedis:
    r = state.regions[region]
    return LabRedis(state.dir / region / "redis", r.redis_port, r.redis_pid)


def cluster(state: LabState) -> failover.Cluster:
    """The failover controller's view: replicas reach a primary through their WAN link to it."""
    return failover.Cluster(
        nodes={r: server(state, r) for r in REGIONS},
        route=lambda replica, primary: ("127.0.0.1", state.link_port(replica, primary, "db")),
        repl_user=REPL_USER, repl_password=REPL_PASSWORD, database=DATABASE, semi_sync=state.semi_sync,
    )


def storage_dir(state: LabState, region: str) -> Path:
    """The region's attachment storage: a directory standing in for its S3 bucket."""
    return state.dir / region / "files"


def node_env(state: LabState, region: str) -> dict[str, str]:
    """The environment of `orbitask serve` in `region`: its own MariaDB and Redis, others via the WAN."""
    regions = [
        {
            "name": other,
            "internal_url": f"http://127.0.0.1:{state.link_port(region, other, 'api')}",
            "public_url": state.entry_url(other),
            "reader_url": server(state, other).url(state.link_port(region, other, "db")),
            "redis_url": redis_of(state, other).url,
            "storage": str(storage_dir(state, other)),
        }
        for other in REGIONS
    ]
    own = server(state, region).url()
    # Each region's attachment files in its own directory; the others' directories are where a download
    # falls back to (and the replication worker copies from) until the copy arrives. In AWS these are
    # the other regions' buckets, and S3 cross-region replication makes the copies.
    storage_regions = {other: {"backend": "local", "dir": str(storage_dir(state, other))}
                       for other in REGIONS if other != region}
    return {
        **os.environ,
        "ORBITASK_ENV": "development",
        "ORBITASK_REGION": region,
        "ORBITASK_REGIONS": json.dumps(regions),
        "ORBITASK_WRITER_REGION": REGIONS[0],
        "ORBITASK_DATABASE_URL": own,
        # Same server, its own pool: a reader distinct from the writer makes token reads wait for the
        # replica (core/reads.py waits only when the two differ), which a non-writer region needs.
        "ORBITASK_DATABASE_READER_URL": own + "?charset=utf8mb4",
        "ORBITASK_REDIS_URL": redis_of(state, region).url,
        "ORBITASK_SECRET_KEY": state.secret_key,
        "ORBITASK_FORWARD_SECRET": state.forward_secret,
        "ORBITASK_DATA_DIR": str(state.dir / region / "api"),
        "ORBITASK_STORAGE_BACKEND": "local",
        "ORBITASK_STORAGE_DIR": str(storage_dir(state, region)),
        "ORBITASK_STORAGE_REGIONS": json.dumps(storage_regions),
        "ORBITASK_LOG_LEVEL": "WARNING",
        "ORBITASK_ARGON2_TIME_COST": "1",
        "ORBITASK_ARGON2_MEMORY_COST": "1024",
        # the drill's clients are few and busy: per-user and per-address limits would throttle them
        "ORBITASK_RATE_LIMIT_API_PER_MINUTE": "0",
        "ORBITASK_RATE_LIMIT_API_IP_PER_MINUTE": "0",
        "ORBITASK_RATE_LIMIT_SIGNUP_PER_MINUTE": "0",
        "ORBITASK_RATE_LIMIT_LOGIN_PER_MINUTE": "0",
        "ORBITASK_RATE_LIMIT_LOGIN_IP_PER_MINUTE": "0",
    }


def api_ready(url: str) -> bool:
    try:
        return httpx.get(url + "/api/v1/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_api(state: LabState, region: str) -> None:
    """Start the region's API node (with its relay) and wait until it is ready."""
    r = state.regions[region]
    if alive(r.api_pid):
        return
    (state.dir / region / "api").mkdir(mode=0o700, parents=True, exist_ok=True)  # a data directory: private
    args = [sys.executable, "-m", "orbitask.cli", "serve", "--host", "127.0.0.1", "--port", str(r.api_port),
            "--no-migrate"]
    log_path = state.dir / region / "api.log"
    r.api_pid = spawn(args, log_path, env=node_env(state, region))
    wait_until(lambda: api_ready(state.api_url(region)), f"API node in {region}", API_START_TIMEOUT_S,
               r.api_pid, log_path)


def start_worker(state: LabState, region: str) -> None:
    """Start the region's `orbitask worker run` (attachment replication) unless it runs; returns once it started.

    It gets the API node's environment (region, topology, its own replica as reader, the storage
    directories), its own data directory for the replication cursor and spool files, and no garbage
    collection (the lab is short-lived; collection in a reader region must not purge rows anyway).
    """
    r = state.regions[region]
    if alive(r.worker_pid):
        return
    data_dir = state.dir / region / "worker"
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    args = [sys.executable, "-m", "orbitask.cli", "worker", "run", "--interval", str(WORKER_INTERVAL_S),
            "--gc-every", "0"]
    log_path = state.dir / region / "worker.log"
    start = log_path.stat().st_size if log_path.exists() else 0
    r.worker_pid = spawn(args, log_path, env={**node_env(state, region), "ORBITASK_DATA_DIR": str(data_dir)})
    wait_until(lambda: WORKER_BANNER in log_path.read_bytes()[start:], f"replication worker in {region}",
               API_START_TIMEOUT_S, r.worker_pid, log_path)


def start_db(state: LabState, region: str) -> MariaDBServer:
    """Start the region's MariaDB (read-only, like every start) unless it runs."""
    db = server(state, region)
    if not db.running():
        db.start()
        state.regions[region].db_pid = db.pid
    return db


def sync_replicas(state: LabState, timeout: float = SYNC_TIMEOUT_S) -> None:
    """Block until every running replica applied the writer's whole binlog (bounded)."""
    pos = failover.variable(server(state, state.writer), "gtid_binlog_pos")
    for region in REGIONS:
        if region != state.writer and server(state, region).running():
            if not failover.wait_applied(server(state, region), pos, timeout):
                raise RuntimeError(f"{region} did not apply {pos} within {timeout:.0f} s")


def bootstrap(state: LabState, progress: Callable[[str], None] = lambda _msg: None) -> None:
    """Servers, replication, schema, API nodes and entry points (the WAN links must be up already)."""
    from orbitask.core.migrate import upgrade

    def step(text: str) -> None:
        journal.write(journal.path(state.dir), f"lab up: {text}")
        progress(text)

    step("MariaDB and Redis in every region")

    def servers(region: str) -> None:
        start_db(state, region)
        state.regions[region].redis_pid = redis_of(state, region).start().pid

    with ThreadPoolExecutor(len(REGIONS)) as pool:  # mariadb-install-db dominates start-up: run them side by side
        list(pool.map(servers, REGIONS))
    state.save()
    lab = cluster(state)
    writer = state.writer
    failover.promote(lab, writer)
    step("schema on the writer")
    upgrade(server(state, writer).url())
    for region in REGIONS:
        if region != writer:
            step(f"replication {writer} -> {region}")
            failover.replicate(lab, region, writer)
    state.epoch = failover.record_writer(lab, writer)
    sync_replicas(state)
    if state.semi_sync and not failover.semi_sync_on(lab, writer, [r for r in REGIONS if r != writer]):
        raise RuntimeError(f"no replica connected to {writer}: semi-sync could not be switched on")
    step("API nodes and replication workers")
    with ThreadPoolExecutor(2 * len(REGIONS)) as pool:  # each waits for its process to be ready: wait side by side
        started = [pool.submit(start, state, region) for region in REGIONS for start in (start_api, start_worker)]
    state.save()
    for done in started:
        done.result()
    step("HAProxy entry points")
    state.haproxy_pid = haproxy.start(state)
    state.status = "ready"
    state.save()
    step("ready")


def up(lab_dir: Path, wan_scale: float, semi_sync: bool, progress: Callable[[str], None] = print) -> LabState:
    """Plan the lab, start the supervisor in the background and wait until everything is ready."""
    try:
        old = LabState.load(lab_dir)
        if old.status in ("starting", "ready") and alive(old.supervisor_pid):
            raise RuntimeError(f"a lab is already running in {lab_dir}; `orbitask lab down` first")
        down(lab_dir)
    except FileNotFoundError:
        pass
    for region in REGIONS:  # a fresh lab every time: old data directories would carry old GTIDs
        _remove_tree(lab_dir / region)
    state = LabState.plan(lab_dir, wan_scale, semi_sync)
    state.save()
    pid = spawn([sys.executable, "-m", "orbitask.lab.supervisor", str(state.dir)], state.dir / "supervisor.log")
    state.supervisor_pid = pid
    state.save()
    seen = ""
    deadline = time.monotonic() + UP_TIMEOUT_S
    while True:
        current = LabState.load(lab_dir)
        step = (state.dir / "progress").read_text() if (state.dir / "progress").exists() else ""
        if step != seen:
            progress(step)
            seen = step
        if current.status == "ready":
            return current
        if current.status == "failed" or not alive(pid):
            tail = (state.dir / "supervisor.log").read_text(errors="replace")[-3000:]
            down(lab_dir)
            raise RuntimeError(f"the lab did not start: {current.error or tail}")
        if time.monotonic() > deadline:
            down(lab_dir)
            raise RuntimeError(f"the lab did not start within {UP_TIMEOUT_S:.0f} s")
        time.sleep(0.2)  # polling the supervisor's progress, bounded by the deadline


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def down(lab_dir: Path) -> bool:
    """Stop every process of the lab; True when something was running. Idempotent."""
    try:
        state = LabState.load(lab_dir)
    except FileNotFoundError:
        return False
    # the entry points, nodes and supervisor first (nothing fails over or reconnects while the servers go)
    front = [state.haproxy_pid, *(r.api_pid for r in state.regions.values()),
             *(r.worker_pid for r in state.regions.values()), state.supervisor_pid]
    back = [*(r.redis_pid for r in state.regions.values()), *(r.db_pid for r in state.regions.values())]
    running = [pid for pid in front + back if alive(pid)]
    if running:
        journal.write(journal.path(state.dir), f"lab down: stopping {len(running)} processes")
    for group in (front, back):
        with ThreadPoolExecutor(len(group)) as pool:  # each stop waits for its process to exit: wait side by side
            list(pool.map(stop, [pid for pid in group if alive(pid)]))
    state.haproxy_pid = state.supervisor_pid = None
    for r in state.regions.values():
        r.api_pid = r.worker_pid = r.redis_pid = r.db_pid = None
    state.status = "stopped"
    state.save()
    return bool(running)


def run_failover(lab_dir: Path, *, to: str | None = None, planned: bool = False,
                 expected_writer: str | None = None) -> failover.FailoverResult | None:
    """Unplanned failover or planned switchover under the lab lock; None when the writer already changed."""
    with locked(lab_dir):
        state = LabState.load(lab_dir)
        if expected_writer is not None and state.writer != expected_writer:
            return None
        lab = cluster(state)
        notes = journal.path(state.dir)
        kind = "switchover" if planned else "failover"
        journal.write(notes, f"{kind}: from {state.writer}" + (f" to {to}" if to else ""))
        try:
            if planned:
                target = to or state.nearest(state.writer)[1]
                result = failover.switchover(lab, state.writer, target)
            else:
                result = failover.unplanned_failover(lab, state.writer, to=to, preference=state.nearest(state.writer))
        except Exception as exc:
            journal.write(notes, f"{kind}: FAILED: {type(exc).__name__}: {exc}")
            raise
        journal.write(notes, f"{kind}: {result.old_writer} -> {result.new_writer}, epoch {result.epoch}, "
                             f"{result.seconds:.2f} s")
        state.writer, state.epoch = result.new_writer, result.epoch
        state.pending_rejoin = sorted(set(state.pending_rejoin) - {result.new_writer} - set(result.rejoined)
                                      | set(result.pending_rejoin))
        state.history.append({"at": time.time(), **asdict(result)})
        state.save()
        return result


def rejoin_pending(lab_dir: Path) -> list[str]:
    """Rejoin every returned old writer as a replica of the current writer; returns those rejoined."""
    with locked(lab_dir):
        state = LabState.load(lab_dir)
        done = []
        for region in list(state.pending_rejoin):
            db = server(state, region)
            if not db.reachable():
                continue
            errant = failover.rejoin(cluster(state), region, state.writer)
            state.pending_rejoin.remove(region)
            state.history.append({"at": time.time(), "kind": "rejoin", "region": region, "errant": errant})
            done.append(region)
        state.save()
        return done


def kill_region(lab_dir: Path, region: str, parts: tuple[str, ...] = ("db", "api")) -> None:
    """SIGKILL a region's MariaDB and/or API node, like a crash."""
    with locked(lab_dir):
        state = LabState.load(lab_dir)
        r = state.regions[region]
        if "api" in parts:
            kill(r.api_pid)
            r.api_pid = None
        if "db" in parts:
            kill(r.db_pid)
            r.db_pid = None
        state.save()


def restart_region(lab_dir: Path, region: str) -> None:
    """Bring a region's dead processes back: MariaDB (fenced), Redis, then its API node and worker; rejoin if due."""
    with locked(lab_dir):
        state = LabState.load(lab_dir)
        start_db(state, region)
        if not redis_of(state, region).running():
            state.regions[region].redis_pid = redis_of(state, region).start().pid
        state.save()
    rejoin_pending(lab_dir)
    with locked(lab_dir):
        state = LabState.load(lab_dir)
        with ThreadPoolExecutor(2) as pool:
            started = [pool.submit(start, state, region) for start in (start_api, start_worker)]
        state.save()
        for done in started:
            done.result()


def status(lab_dir: Path) -> dict:
    """What runs, who writes, each replica's state."""
    state = LabState.load(lab_dir)
    rows = {}
    for region in REGIONS:
        r = state.regions[region]
        db = server(state, region)
        info: dict = {"db": alive(r.db_pid), "redis": alive(r.redis_pid), "api": alive(r.api_pid),
                      "worker": alive(r.worker_pid), "entry": state.entry_url(region),
                      "storage": str(storage_dir(state, region))}
        if info["db"]:
            try:
                info["read_only"] = failover.variable(db, "read_only") == "1"
                info["gtid"] = failover.variable(db, "gtid_binlog_pos")
                if not info["read_only"]:
                    info["semi_sync_active"] = failover.semi_sync_active(db)
                slave = failover.slave_status(db)
                if slave:
                    info["replicating"] = f"{slave.get('Slave_IO_Running')}/{slave.get('Slave_SQL_Running')}"
                    info["lag_s"] = slave.get("Seconds_Behind_Master")
            except SqlError as exc:
                info["error"] = str(exc)[:80]
        rows[region] = info
    return {"status": state.status, "writer": state.writer, "epoch": state.epoch, "wan_scale": state.wan_scale,
            "semi_sync": state.semi_sync, "supervisor": alive(state.supervisor_pid),
            "pending_rejoin": state.pending_rejoin, "regions": rows}
