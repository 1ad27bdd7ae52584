"""`orbitask lab drill`: latency per location, realtime delivery, read-your-writes, failover and switchover.

Phases (clients in every location at once, each through its own HAProxy entry point):
  1. write-then-read pairs (the RYW checker; its writes give the write latencies) while sockets
     in every location time events on a shared board; then local reads, the locations taking turns;
  2. the one-hop check: writes the writer received per origin vs writes sent from there, and
     no transaction originating in a non-writer database;
  3. crash: SIGKILL of the writer region's MariaDB and API node under a steady write load;
     RTO (until writes succeed again in every location), RPO (acknowledged writes missing),
     split-brain checks on the returning old writer;
  4. planned switchover back under the same load: nothing may be lost.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import time
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.table import Table

from orbitask.lab import control, journal
from orbitask.lab.mariadb import APP_PASSWORD, APP_USER, DATABASE
from orbitask.lab.state import REGIONS, LabState
from orbitask.lab.wan import rtt_ms
from orbitask.lab.workload import (
    Client,
    Listener,
    Samples,
    WriteLog,
    board_with_list,
    card_ids,
    metric,
    pct,
    read_worker,
    ryw_worker,
    sign_up,
    write_until,
)
from orbitask.regions import failover

CLIENTS_PER_LOCATION = 2
READS_PER_WORKER = 200
READ_ROUNDS = 20
PROBES_PER_LOCATION = 20
REALTIME_BUDGET_S = 0.150
FAILOVER_WAIT_S = 60.0
SETTLE_S = 5.0
WRITERS_PER_LOCATION = 2


class Steps:
    """The drill's progress, on the console and in the lab's journal (which outlives a hung drill)."""

    def __init__(self, console: Console, lab_dir: Path) -> None:
        self.console, self.journal = console, journal.path(lab_dir)

    def log(self, text: str) -> None:
        self.console.log(text)
        journal.write(self.journal, f"drill: {text}")


def run_drill(lab_dir, *, pairs: int = 2000, crash: bool = True, console: Console | None = None,  # noqa: ANN001
              clients: int = CLIENTS_PER_LOCATION) -> dict[str, Any]:
    """Run every phase against the running lab; returns the results (also what --json writes)."""
    steps = Steps(console or Console(stderr=True), Path(lab_dir))
    try:
        result = asyncio.run(_drill(lab_dir, pairs, crash, steps, clients))
    except BaseException as exc:
        journal.write(steps.journal, f"drill: FAILED: {type(exc).__name__}: {exc}")
        raise
    journal.write(steps.journal, "drill: done")
    return result


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


async def _drill(lab_dir, pairs: int, crash: bool, console: Steps,  # noqa: ANN001
                 clients_per_location: int) -> dict[str, Any]:
    state = LabState.load(lab_dir)
    writer = state.writer
    result: dict[str, Any] = {"wan_scale": state.wan_scale, "semi_sync": state.semi_sync, "writer": writer,
                              "pairs_requested": pairs, "clients_per_location": clients_per_location,
                              "semi_sync_active": failover.semi_sync_active(control.server(state, writer))}
    console.log("Signing up a user in every location")
    clients = {loc: await sign_up(loc, state.entry_url(loc)) for loc in REGIONS}
    try:
        owner = clients[writer]
        shared_board, shared_list = await board_with_list(owner, "Shared")
        for loc, client in clients.items():
            if loc != writer:
                invitation = await owner.ok("POST", f"/workspaces/{owner.workspace_id}/invitations",
                                            json={"role": "member"})
                await client.ok("POST", f"/invitations/{invitation['token']}/accept")
        listeners = []
        for loc, client in clients.items():
            ticket = (await client.ok("POST", "/ws/tickets"))["ticket"]
            listeners.append(Listener(loc, state.entry_url(loc), ticket, shared_board))
        socket_tasks = [asyncio.create_task(listener.run()) for listener in listeners]
        await asyncio.wait_for(asyncio.gather(*(lst.subscribed.wait() for lst in listeners)), 30)
        result["locations"] = await _latency_phase(state, clients, pairs, shared_list, listeners, console,
                                                   clients_per_location)
        for task in socket_tasks:
            task.cancel()
        result["one_hop"] = await _one_hop_phase(state, clients, result["locations"])
        if crash:
            result["failover"] = await _failover_phase(lab_dir, clients, console)
            result["switchover"] = await _switchover_phase(lab_dir, clients, writer, console)
    finally:
        for client in clients.values():
            await client.http.aclose()
    return result


async def _latency_phase(state: LabState, clients: dict[str, Client], pairs: int, shared_list: str,
                         listeners: list[Listener], console: Steps, clients_per_location: int) -> dict[str, Any]:
    per_worker = math.ceil(pairs / (len(REGIONS) * clients_per_location))
    console.log(f"Write-then-read: {per_worker * clients_per_location} pairs per location, "
                f"{clients_per_location} clients each; realtime probes on a shared board")
    samples = {loc: Samples() for loc in REGIONS}
    boards = {loc: await board_with_list(client, f"Drill {loc}") for loc, client in clients.items()}
    forks = {loc: [client.fork() for _ in range(clients_per_location)] for loc, client in clients.items()}
    before = await _received(state)

    async def probes(client: Client) -> None:
        for i in range(PROBES_PER_LOCATION):
            await client.ok("POST", f"/lists/{shared_list}/cards", json={"title": f"probe {client.location} {i}"})
            await asyncio.sleep(0.1)  # spread the probes over the phase: a steady trickle, not one burst

    await asyncio.gather(
        *(ryw_worker(fork, boards[loc][1], per_worker, samples[loc]) for loc in REGIONS for fork in forks[loc]),
        *(probes(client) for client in clients.values()),
    )
    sent = {loc: len(samples[loc].writes) + PROBES_PER_LOCATION for loc in REGIONS}
    after = await _received(state)
    received = {loc: after[loc] - before[loc] for loc in REGIONS}
    console.log("Local reads in every location")
    cards = {loc: sorted(await card_ids(forks[loc][0], boards[loc][0]))[:20] for loc in REGIONS}
    per_round = READS_PER_WORKER // READ_ROUNDS
    for n in range(READ_ROUNDS):  # locations take turns, so each meets the same background (replication, relays)
        for loc in REGIONS:
            await asyncio.gather(*(read_worker(fork, boards[loc][0], cards[loc], per_round, samples[loc],
                                               start=n * per_round) for fork in forks[loc]))
    writer = state.writer
    out: dict[str, Any] = {}
    semi_wait = min(rtt_ms(writer, r, state.wan_scale) for r in REGIONS if r != writer) / 1000 if state.semi_sync else 0
    for loc in REGIONS:
        s = samples[loc]
        lat = next(lst.latencies for lst in listeners if lst.location == loc)
        lag = state.one_way_s(writer, loc) if loc != writer else semi_wait
        out[loc] = {
            "rtt_to_writer_ms": rtt_ms(loc, writer, state.wan_scale),
            "read_p50_ms": ms(pct(s.reads, 50)), "read_p99_ms": ms(pct(s.reads, 99)), "reads": len(s.reads),
            "write_p50_ms": ms(pct(s.writes, 50)), "write_p99_ms": ms(pct(s.writes, 99)), "writes": len(s.writes),
            "ryw_pairs": s.pairs, "ryw_violations": s.violations, "errors": len(s.errors),
            "error_sample": s.errors[:3], "realtime_p50_ms": ms(pct(lat, 50)), "realtime_p99_ms": ms(pct(lat, 99)),
            "realtime_events": len(lat), "replication_lag_ms": ms(lag),
            "realtime_budget_ms": ms(lag + REALTIME_BUDGET_S), "writes_sent": sent[loc],
            "hops_received": received[loc],
        }
    local = out[writer]
    for loc in REGIONS:
        out[loc]["read_budget_ms"] = round(1.1 * local["read_p50_ms"], 1)
        out[loc]["write_budget_ms"] = round(1.2 * out[loc]["rtt_to_writer_ms"] + local["write_p50_ms"], 1)
    return out


async def _received(state: LabState) -> dict[str, float]:
    """Forwarded writes the writer's node accepted, per origin region."""
    url = state.api_url(state.writer)
    return {loc: await metric(url, "orbitask_forward_received_total", {"origin": loc}) for loc in REGIONS}


async def _one_hop_phase(state: LabState, clients: dict[str, Client], locations: dict[str, Any]) -> dict[str, Any]:
    """Each forwarded write arrived exactly once at the writer; no write was applied in a reader region."""
    states = {r: failover.variable(control.server(state, r), "gtid_binlog_state") for r in REGIONS}
    local_writes = {}
    for region in REGIONS:
        if region != state.writer:
            own = state.regions[region].server_id
            local_writes[region] = sum(int(g.split("-")[2]) for g in states[region].split(",")
                                       if g and int(g.split("-")[1]) == own)
    return {
        "hops_per_write": {loc: round(v["hops_received"] / v["writes_sent"], 3)
                           for loc, v in locations.items() if loc != state.writer},
        "transactions_from_reader_regions": local_writes,
    }


async def _load(clients: dict[str, Client], boards: dict[str, tuple[str, str]], stop: asyncio.Event
                ) -> tuple[list[asyncio.Task[None]], dict[str, WriteLog]]:
    logs = {loc: WriteLog() for loc in clients}
    tasks = [asyncio.create_task(write_until(client.fork(), boards[loc][1], stop, logs[loc]))
             for loc, client in clients.items() for _ in range(WRITERS_PER_LOCATION)]
    return tasks, logs


async def _lost(clients: dict[str, Client], boards: dict[str, tuple[str, str]], logs: dict[str, WriteLog]) -> int:
    """Acknowledged writes that are not there (read through each location's entry point, with its token)."""
    missing = 0
    for loc, client in clients.items():
        present = await card_ids(client, boards[loc][0])
        missing += len({card for card, _, _ in logs[loc].acked} - present)
    return missing


def _failures(logs: dict[str, WriteLog]) -> dict[str, dict[str, int]]:
    return {loc: {**log.reasons(), **({"abandoned keys": log.abandoned} if log.abandoned else {})}
            for loc, log in logs.items()}


async def _failover_phase(lab_dir, clients: dict[str, Client], console: Steps) -> dict[str, Any]:  # noqa: ANN001
    state = LabState.load(lab_dir)
    old = state.writer
    boards = {loc: await board_with_list(client, f"Failover {loc}") for loc, client in clients.items()}
    stop = asyncio.Event()
    tasks, logs = await _load(clients, boards, stop)
    await asyncio.sleep(2)  # a steady write load before the crash (workload shape, not synchronisation)
    console.log(f"SIGKILL of {old}'s MariaDB and API node")
    killed = time.monotonic()
    await asyncio.to_thread(control.kill_region, lab_dir, old)
    deadline = killed + FAILOVER_WAIT_S
    while LabState.load(lab_dir).writer == old and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # polling the supervisor's failover, bounded by the deadline
    state = LabState.load(lab_dir)
    promoted = time.monotonic()
    if state.writer == old:
        stop.set()
        await asyncio.gather(*tasks)
        raise RuntimeError(f"no failover within {FAILOVER_WAIT_S:.0f} s")
    console.log(f"{state.writer} is the writer; failover complete after {promoted - killed:.1f} s; waiting for writes everywhere")
    while time.monotonic() < deadline and not all(
            any(started > max([killed, *(f[0] for f in log.failed)]) for _, started, _ in log.acked)
            for log in logs.values()):
        await asyncio.sleep(0.1)  # until each location's writes succeed again, bounded
    await asyncio.sleep(SETTLE_S)  # keep writing a while on the new writer
    stop.set()
    await asyncio.gather(*tasks)
    rto = {loc: round(log.recovered_after(killed), 2) for loc, log in logs.items()}
    new = state.writer
    promotion_state = failover.variable(control.server(state, new), "gtid_binlog_state")
    split = await _split_brain(lab_dir, old, new, clients, promotion_state, console)
    history = LabState.load(lab_dir).history
    return {
        "old_writer": old, "new_writer": new, "failover_complete_s": round(promoted - killed, 2),
        "rto_s": max(rto.values()), "rto_s_per_location": rto,
        "acknowledged": sum(len(log.acked) for log in logs.values()), "failed_attempts": _failures(logs),
        "lost": await _lost(clients, boards, logs), "split_brain": split,
        "errant_on_rejoin": [h.get("errant") for h in history if h.get("kind") == "rejoin"][-1:],
    }


async def _split_brain(lab_dir, old: str, new: str, clients: dict[str, Client], promotion_state: str,  # noqa: ANN001
                       console: Steps) -> dict[str, Any]:
    """The old writer comes back fenced: it refuses writes, forwards its clients' writes, originates nothing."""
    console.log(f"Restarting {old} (it must come back fenced and rejoin as a replica)")
    with control.locked(lab_dir):
        state = LabState.load(lab_dir)
        control.start_db(state, old)
        state.save()
    refused = _app_write_refused(state, old)
    await asyncio.to_thread(control.restart_region, lab_dir, old)
    state = LabState.load(lab_dir)
    client = clients[old].fork()
    import httpx

    async with httpx.AsyncClient(base_url=state.api_url(old), timeout=30) as direct:
        client.http = direct
        r, _ = await client.call("POST", f"/workspaces/{client.workspace_id}/boards", json={"name": "after"})
    after = failover.variable(control.server(state, new), "gtid_binlog_state")
    own = state.regions[old].server_id
    originated = failover.errant_gtids(after, promotion_state, own)
    return {
        "old_writer_db_refused_app_write": refused,
        "old_writer_api_forwarded_to": r.headers.get("x-orbitask-forwarded-to") if r.status_code < 300 else None,
        "old_writer_api_status": r.status_code,
        "transactions_from_old_writer_after_promotion": originated or 0,
    }


def _app_write_refused(state: LabState, region: str) -> bool:
    """A write as the application's user on the region's MariaDB fails (read_only fences it)."""
    port = state.regions[region].db_port
    done = subprocess.run(
        ["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{port}", f"-u{APP_USER}", f"-p{APP_PASSWORD}", DATABASE,
         "-e", "UPDATE topology SET updated_at = UTC_TIMESTAMP(6) WHERE id = 1"],
        capture_output=True, text=True, timeout=30,
    )
    return done.returncode != 0 and "read-only" in done.stderr.lower()


async def _switchover_phase(lab_dir, clients: dict[str, Client], back_to: str, console: Steps) -> dict[str, Any]:  # noqa: ANN001
    boards = {loc: await board_with_list(client, f"Switchover {loc}") for loc, client in clients.items()}
    stop = asyncio.Event()
    tasks, logs = await _load(clients, boards, stop)
    await asyncio.sleep(2)  # a steady write load before the switchover (workload shape)
    console.log(f"Planned switchover back to {back_to}")
    started = time.monotonic()
    result = await asyncio.to_thread(control.run_failover, lab_dir, to=back_to, planned=True)
    await asyncio.sleep(SETTLE_S)  # keep writing a while on the new writer
    stop.set()
    await asyncio.gather(*tasks)
    return {
        "to": back_to, "controller_s": round(result.seconds, 2) if result else None,
        "writes_failing_for_s": round(max(log.recovered_after(started) for log in logs.values()), 2),
        "acknowledged": sum(len(log.acked) for log in logs.values()), "failed_attempts": _failures(logs),
        "lost": await _lost(clients, boards, logs),
    }


def render(result: dict[str, Any]) -> Group:
    """The drill's tables."""
    table = Table("location", "RTT to writer", "read p50/p99", "budget", "write p50/p99", "budget",
                  "realtime p50/p99", "budget", "RYW pairs", "violations",
                  title=f"Orbitask lab drill (WAN scale {result['wan_scale']}, writer {result['writer']}, "
                        f"semi-sync {'active' if result.get('semi_sync_active') else 'OFF'}), ms")
    for loc, row in result["locations"].items():
        table.add_row(loc, f"{row['rtt_to_writer_ms']:.0f}", f"{row['read_p50_ms']} / {row['read_p99_ms']}",
                      f"≤ {row['read_budget_ms']}", f"{row['write_p50_ms']} / {row['write_p99_ms']}",
                      f"≤ {row['write_budget_ms']}", f"{row['realtime_p50_ms']} / {row['realtime_p99_ms']}",
                      f"p99 ≤ {row['realtime_budget_ms']}", str(row["ryw_pairs"]), str(row["ryw_violations"]))
    parts: list[Any] = [table]
    hop = result["one_hop"]
    parts.append(f"One hop: writes received by the writer per write sent {hop['hops_per_write']}; "
                 f"transactions originated in reader regions {hop['transactions_from_reader_regions']}")
    if "failover" in result:
        fo, so = result["failover"], result["switchover"]
        sb = fo["split_brain"]
        parts.append(
            f"Failover {fo['old_writer']} -> {fo['new_writer']}: failover complete after {fo['failover_complete_s']} s, "
            f"RTO {fo['rto_s']} s {fo['rto_s_per_location']}, RPO {fo['lost']} lost of {fo['acknowledged']} "
            f"acknowledged. Split brain: old writer's DB refused an app write: {sb['old_writer_db_refused_app_write']}, "
            f"its API forwarded to {sb['old_writer_api_forwarded_to']}, transactions it originated after the "
            f"promotion: {sb['transactions_from_old_writer_after_promotion']}; errant on rejoin: "
            f"{fo['errant_on_rejoin']}")
        parts.append(f"Switchover back to {so['to']}: {so['controller_s']} s in the controller, writes failing for "
                     f"{so['writes_failing_for_s']} s, {so['lost']} lost of {so['acknowledged']} acknowledged.")
    return Group(*parts)
