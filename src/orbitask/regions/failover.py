"""MariaDB GTID failover: unplanned promotion, planned switchover, fencing and rejoining the old writer.

The controller drives servers through a small `Node` interface (SQL as an administrator, and
for rebuilding a diverged server a logical dump), so the same steps run in the local lab and
against any MariaDB 10.11 fleet. Replication is GTID based (one domain in practice, several
handled), strict mode, ROW binlog with log_slave_updates on every server, so any replica can
become the primary and the others can follow it from their own `gtid_slave_pos`.

Unplanned failover (the writer is gone):
  1. read every reachable replica's received position (Gtid_IO_Pos) and applied position;
  2. promote the most advanced one (ties: the caller's preference order): let its SQL thread
     apply what it already received, STOP SLAVE, RESET SLAVE ALL, read_only=OFF;
  3. repoint the other replicas at it (MASTER_USE_GTID=slave_pos, through their WAN links);
  4. write SET_WRITER_SQL there: the epoch bumps and the row replicates, so every API node
     follows the new writer within a second; then, once a replica is connected to it, switch
     its semi-sync primary side on (see "The semi-sync gap" below);
  5. fence the old writer (read_only=ON) when it answers, and rejoin it (see `rejoin`).
With semi-sync (AFTER_SYNC) a commit is acknowledged to the client only after a replica has
it in its relay log, so the most advanced replica holds every acknowledged write.

The semi-sync gap: a replica repointed over a long link needs a dozen round trips of MariaDB's
replica handshake before it is connected (about 4 s over 238 ms). Waiting for it before
recording the new writer would keep every write failing that long; switching semi-sync on
before it is connected would stall each commit for rpl_semi_sync_master_timeout. So writes
resume at once and are acknowledged without a replica's copy until the first replica is
connected; a second crash within those seconds could lose them (documented in
docs/multi-region.md).

Planned switchover: fence the writer, wait (MASTER_GTID_WAIT) until the target applied the
writer's whole binlog, promote, repoint everyone including the old writer: nothing is lost.

Errant transactions: a writer killed mid-commit may have binlogged transactions no replica
received (with semi-sync these were never acknowledged to a client). Replaying it as a replica
would diverge or stop replication under gtid_strict_mode, so `rejoin` detects them (its own
GTIDs past what the new primary has from its server id), archives its binlogs for review, and
rebuilds it from a consistent dump of the new primary before it replicates.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from orbitask.regions.topology import SET_WRITER_SQL

log = structlog.get_logger("orbitask.failover")

APPLY_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 10
FENCE_GRACE_S = 0.5  # what statements already running get to finish before the fence ends them
FENCE_TIMEOUT_S = 20  # lock_wait_timeout of the fence's SET GLOBAL read_only (below the client's 30 s)
# What a pending SET GLOBAL read_only waits for: statements that write or lock rows (they hold the
# backup lock it needs), not those queued behind it nor plain reads.
_BLOCKERS_SQL = (
    "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' AND ID <> CONNECTION_ID()"
    " AND IFNULL(STATE, '') <> 'Waiting for backup lock' AND INFO NOT LIKE 'SET GLOBAL read_only%'"
    " AND (INFO NOT REGEXP '^[[:space:]]*(SELECT|SHOW|WITH)[[:space:]]'"
    " OR INFO REGEXP 'FOR[[:space:]]+UPDATE|IN[[:space:]]+SHARE[[:space:]]+MODE')"
)
_REGION_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class FailoverError(RuntimeError):
    """The controller could not complete a step (the message says which and why)."""


class Node(Protocol):
    """One MariaDB server as the controller sees it."""

    region: str
    server_id: int

    def sql(self, statements: str, database: str | None = None, timeout: float = 30, names: bool = False) -> str:
        """Run statements as an administrator; tab-separated output (column names first if `names`)."""

    def rebuild_from(self, primary: Node) -> str:
        """Replace this server's data with a consistent copy of `primary`'s; returns where the old binlogs went."""


@dataclass
class Cluster:
    """The servers, how each reaches the others, and the replication credentials."""

    nodes: dict[str, Node]
    route: Callable[[str, str], tuple[str, int]]  # (replica region, primary region) -> host, port
    repl_user: str
    repl_password: str
    database: str
    semi_sync: bool = False


@dataclass
class FailoverResult:
    """What a failover or switchover did."""

    kind: str
    old_writer: str
    new_writer: str
    epoch: int
    positions: dict[str, str] = field(default_factory=dict)
    fenced_old_writer: bool = False
    rejoined: list[str] = field(default_factory=list)
    pending_rejoin: list[str] = field(default_factory=list)
    errant: dict[str, str] = field(default_factory=dict)
    semi_sync: bool = False  # whether the new primary waits for a replica's acknowledgement again
    seconds: float = 0.0


# ---- GTID positions ---------------------------------------------------------------------------

def parse_gtid(pos: str) -> dict[int, tuple[int, int]]:
    """'0-1-42,1-3-7' -> {domain: (server_id, seq)}."""
    out: dict[int, tuple[int, int]] = {}
    for part in filter(None, (p.strip() for p in pos.strip().split(","))):
        domain, server, seq = (int(x) for x in part.split("-"))
        out[domain] = (server, seq)
    return out


def gtid_key(pos: str) -> tuple[int, ...]:
    """A sort key: sequence numbers per domain (strict mode makes them grow in each domain)."""
    parsed = parse_gtid(pos)
    return tuple(parsed[d][1] for d in sorted(parsed)) if parsed else (0,)


def _state(state: str) -> dict[tuple[int, int], int]:
    """A gtid_binlog_state ('0-1-42,0-2-40') as {(domain, server_id): last seq}."""
    out: dict[tuple[int, int], int] = {}
    for part in filter(None, (p.strip() for p in state.split(","))):
        domain, server, seq = (int(x) for x in part.split("-"))
        out[(domain, server)] = max(out.get((domain, server), 0), seq)
    return out


def errant_gtids(old_binlog_state: str, new_binlog_state: str, old_server_id: int) -> str:
    """The old writer's own GTIDs the new primary never received, as 'domain-server-from..to' ('' if none)."""
    received = _state(new_binlog_state)
    errant = []
    for (domain, server), seq in sorted(_state(old_binlog_state).items()):
        have = received.get((domain, server), 0)
        if server == old_server_id and seq > have:
            errant.append(f"{domain}-{server}-{have + 1}..{seq}")
    return ",".join(errant)


def choose_candidate(positions: dict[str, str], preference: Iterable[str] = ()) -> str:
    """The most advanced replica by received GTID position; ties go to the earliest in `preference`."""
    if not positions:
        raise FailoverError("no reachable replica to promote")
    order = {region: i for i, region in enumerate(preference)}
    return max(positions, key=lambda r: (gtid_key(positions[r]), -order.get(r, len(order))))


# ---- single-server steps ----------------------------------------------------------------------

def slave_status(node: Node) -> dict[str, str]:
    """SHOW SLAVE STATUS as a dict ({} when the server replicates from nobody)."""
    out: dict[str, str] = {}
    for line in node.sql("SHOW SLAVE STATUS\\G", names=True).splitlines():
        key, sep, value = line.strip().partition(": ")
        if sep:
            out[key] = value
    return out


def semi_sync_active(node: Node) -> bool:
    """Whether this primary's commits wait for a replica's acknowledgement right now."""
    out = node.sql("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'").split()
    return out[-1:] == ["ON"]


def variable(node: Node, name: str) -> str:
    """A global variable's value."""
    return node.sql(f"SELECT @@GLOBAL.{name}").strip()


def received_position(node: Node) -> str:
    """What a replica holds: its relay log's GTID position, else what it applied."""
    return slave_status(node).get("Gtid_IO_Pos") or variable(node, "gtid_slave_pos")


def wait_applied(node: Node, pos: str, timeout: float = APPLY_TIMEOUT_S) -> bool:
    """Block (bounded) until `node` applied `pos`."""
    if not pos:
        return True
    return node.sql(f"SELECT MASTER_GTID_WAIT('{pos}', {timeout})", timeout=timeout + 10).strip() == "0"


def fence(node: Node, *, grace: float = FENCE_GRACE_S, timeout: float = FENCE_TIMEOUT_S) -> None:
    """Make `node` refuse application writes (its app user has neither SUPER nor READ_ONLY ADMIN).

    `SET GLOBAL read_only=ON` waits for every write statement and every commit in progress, while
    new writes queue behind it, so two things could hold it up indefinitely:
    - a commit waiting for a replica's acknowledgement that does not come: semi-sync goes off
      first, which releases it (its transaction is in the binlog, which a switchover's target
      applies entirely before it is promoted);
    - a statement waiting for a row lock held by a transaction whose next statement is queued
      behind read_only (two writers on one board): MariaDB's deadlock detection does not see the
      row lock, so read_only waited until innodb_lock_wait_timeout (50 s) failed the statement.
      After `grace` the statements holding it up are ended (KILL QUERY); their transactions
      would fail at commit on a read-only server anyway.
    """
    node.sql("SET GLOBAL rpl_semi_sync_master_enabled=OFF")
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(node.sql, f"SET SESSION lock_wait_timeout={int(timeout)}; SET GLOBAL read_only=ON",
                              timeout=timeout + 10)
        for _ in range(int(timeout / grace) + 1):
            try:
                pending.result(grace)
                return
            except FuturesTimeout:
                _end_blockers(node)
        pending.result()  # bounded by lock_wait_timeout: the answer, or the error that names the wait


def _end_blockers(node: Node) -> None:
    """KILL QUERY the statements a pending `SET GLOBAL read_only=ON` waits for (plain reads never hold it up)."""
    threads = node.sql(_BLOCKERS_SQL).split()
    for thread in threads:
        with contextlib.suppress(Exception):  # it may have ended meanwhile
            node.sql(f"KILL QUERY {int(thread)}")
    if threads:
        log.warning("fence_ended_statements", region=node.region, threads=threads)


def replicate(cluster: Cluster, replica: str, primary: str, *, from_binlog: bool = False) -> None:
    """Point `replica` at `primary` (through the replica's route to it) and start replicating."""
    node = cluster.nodes[replica]
    host, port = cluster.route(replica, primary)
    reset = "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_binlog_pos;" if from_binlog else ""
    fence(node)
    node.sql(
        "STOP SLAVE; RESET SLAVE ALL;"
        f"{reset}CHANGE MASTER TO MASTER_HOST='{host}', MASTER_PORT={port}, MASTER_USER='{cluster.repl_user}', "
        f"MASTER_PASSWORD='{cluster.repl_password}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, "
        "MASTER_HEARTBEAT_PERIOD=1; START SLAVE;"
    )


def promote(cluster: Cluster, region: str) -> None:
    """Stop replicating on `region` and open it for writes (the topology row is written later)."""
    cluster.nodes[region].sql("STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=OFF;")


def record_writer(cluster: Cluster, region: str) -> int:
    """SET_WRITER_SQL on the new primary (the epoch bumps, the row replicates); returns the new epoch."""
    if not _REGION_NAME.match(region):
        raise FailoverError(f"not a region name: {region!r}")
    node = cluster.nodes[region]
    node.sql(SET_WRITER_SQL.replace("%s", f"'{region}'") + ";", database=cluster.database)
    return int(node.sql("SELECT epoch FROM topology WHERE id = 1", database=cluster.database).strip())


def semi_sync_on(cluster: Cluster, primary: str, replicas: Iterable[str]) -> bool:
    """Switch the new primary's semi-sync side on once a replica is connected to it; False if none came."""
    if not cluster.semi_sync:
        return False
    connected = wait_connected(cluster, replicas)
    if connected:
        cluster.nodes[primary].sql("SET GLOBAL rpl_semi_sync_master_enabled=ON")
    else:
        log.warning("semi_sync_off_no_replica", primary=primary)
    return connected


def wait_connected(cluster: Cluster, replicas: Iterable[str], timeout: float = CONNECT_TIMEOUT_S) -> bool:
    """Block (bounded) until one of `replicas` has its IO thread connected to its primary.

    Semi-sync is switched on only then: a commit on a primary with no semi-sync replica yet waits
    rpl_semi_sync_master_timeout before falling back, and every write would stall that long.
    """
    replicas = list(replicas)
    deadline = time.monotonic() + timeout
    while replicas:
        for region in replicas:
            if slave_status(cluster.nodes[region]).get("Slave_IO_Running") == "Yes":
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # a replica connecting over the WAN; bounded by the deadline
    return False


def _reachable(node: Node) -> bool:
    try:
        node.sql("SELECT 1", timeout=5)
    except Exception:
        return False
    return True


# ---- whole operations -------------------------------------------------------------------------

def unplanned_failover(cluster: Cluster, old_writer: str, *, to: str | None = None,
                       preference: Iterable[str] = ()) -> FailoverResult:
    """Promote the most advanced reachable replica (or `to`), repoint the rest, bump the epoch."""
    started = time.monotonic()
    replicas = [r for r in cluster.nodes if r != old_writer and _reachable(cluster.nodes[r])]
    positions = {r: received_position(cluster.nodes[r]) for r in replicas}
    if to is not None:
        if to not in positions:
            raise FailoverError(f"{to} is not a reachable replica (reachable: {sorted(positions) or 'none'})")
        best = choose_candidate(positions)
        if gtid_key(positions[to]) < gtid_key(positions[best]):
            raise FailoverError(f"{to} is behind {best} ({positions[to]} < {positions[best]}): "
                                f"promoting it would lose transactions; choose {best} or omit --to")
        new = to
    else:
        new = choose_candidate(positions, preference)
    node = cluster.nodes[new]
    node.sql("STOP SLAVE IO_THREAD")  # nothing more can arrive from a dead primary
    if not wait_applied(node, positions[new]):
        log.warning("failover_apply_incomplete", region=new, position=positions[new])
    promote(cluster, new)
    log.info("failover_promoted", region=new, position=positions[new])
    followers = [other for other in replicas if other != new]
    for other in followers:
        replicate(cluster, other, new)
    epoch = record_writer(cluster, new)
    result = FailoverResult("failover", old_writer, new, epoch, positions)
    result.semi_sync = semi_sync_on(cluster, new, followers)
    old = cluster.nodes[old_writer]
    if _reachable(old):  # alive but unhealthy (or partitioned from us only): fence it, then rejoin
        fence(old)
        result.fenced_old_writer = True
        result.errant.update(rejoin(cluster, old_writer, new))
        result.rejoined.append(old_writer)
    else:
        result.pending_rejoin.append(old_writer)
    # a replica that was down too still points at the old writer: repoint it when it returns
    result.pending_rejoin += [r for r in cluster.nodes if r not in replicas and r != old_writer]
    result.seconds = time.monotonic() - started
    log.info("failover_done", old=old_writer, new=new, epoch=epoch, seconds=round(result.seconds, 2))
    return result


def rejoin(cluster: Cluster, region: str, primary: str) -> dict[str, str]:
    """Make a returning old writer a replica of `primary`; rebuild it first if it has errant transactions."""
    node = cluster.nodes[region]
    fence(node)
    own = variable(node, "gtid_binlog_state")
    errant = errant_gtids(own, variable(cluster.nodes[primary], "gtid_binlog_state"), node.server_id)
    if errant:
        archived = node.rebuild_from(cluster.nodes[primary])
        log.warning("rejoin_errant_transactions", region=region, errant=errant, archived=archived)
        replicate(cluster, region, primary)
        return {region: errant}
    replicate(cluster, region, primary, from_binlog=True)
    log.info("rejoined", region=region, primary=primary)
    return {}


def switchover(cluster: Cluster, old_writer: str, to: str, *, timeout: float = APPLY_TIMEOUT_S) -> FailoverResult:
    """Planned: fence the writer, wait until `to` applied everything, promote, repoint all: nothing lost."""
    if to == old_writer:
        raise FailoverError(f"{to} is already the writer")
    if to not in cluster.nodes:
        raise FailoverError(f"unknown region {to!r}")
    started = time.monotonic()
    old = cluster.nodes[old_writer]
    fence(old)
    final = variable(old, "gtid_binlog_pos")
    if not wait_applied(cluster.nodes[to], final, timeout):
        old.sql("SET GLOBAL read_only=OFF" + ("; SET GLOBAL rpl_semi_sync_master_enabled=ON" if cluster.semi_sync else ""))
        raise FailoverError(f"{to} did not apply {final} within {timeout:.0f} s; the writer was unfenced, "
                            "nothing changed")
    promote(cluster, to)
    result = FailoverResult("switchover", old_writer, to, 0, {old_writer: final}, fenced_old_writer=True)
    for other in cluster.nodes:
        if other == to:
            continue
        if _reachable(cluster.nodes[other]):
            replicate(cluster, other, to, from_binlog=other == old_writer)
            result.rejoined.append(other)
        else:
            result.pending_rejoin.append(other)
    result.epoch = record_writer(cluster, to)
    result.semi_sync = semi_sync_on(cluster, to, result.rejoined)
    result.seconds = time.monotonic() - started
    log.info("switchover_done", old=old_writer, new=to, epoch=result.epoch, seconds=round(result.seconds, 2))
    return result
