"""The failover controller against real MariaDB 10.11 servers (GTID, semi-sync AFTER_SYNC), no lab around them.

Two regions: a primary and a replica. The errant case is made on purpose: the replica stops
fetching, the primary commits one more transaction, then crashes; the replica is promoted
and takes new writes; the old primary returns (read-only, like every start), is found to hold
a transaction nobody else has, is archived and rebuilt from the new primary, and replicates.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from orbitask.lab.mariadb import DATABASE, REPL_PASSWORD, REPL_USER, MariaDBServer
from orbitask.regions import failover

US, EU = "us-east-1", "eu-west-1"
TABLE = "CREATE TABLE IF NOT EXISTS topology (id INT PRIMARY KEY, writer_region VARCHAR(64) NOT NULL, " \
        "epoch INT NOT NULL, updated_at DATETIME(6) NOT NULL); CREATE TABLE note (id INT PRIMARY KEY, body TEXT);"


def rows(server: MariaDBServer) -> list[int]:
    return [int(x) for x in server.sql("SELECT id FROM note ORDER BY id", DATABASE).split()]


def replicated(cluster: failover.Cluster, primary: str, replica: str) -> None:
    pos = failover.variable(cluster.nodes[primary], "gtid_binlog_pos")
    assert failover.wait_applied(cluster.nodes[replica], pos, 30), failover.slave_status(cluster.nodes[replica])


@pytest.fixture
def pair() -> Iterator[failover.Cluster]:
    base = Path(tempfile.mkdtemp(prefix="orbitask-failover-"))
    servers = {US: MariaDBServer(base / US, 1, semi_sync=True, region=US),
               EU: MariaDBServer(base / EU, 2, semi_sync=True, region=EU)}
    for server in servers.values():
        server.start()
    cluster = failover.Cluster(servers, lambda _replica, primary: ("127.0.0.1", servers[primary].port),
                               REPL_USER, REPL_PASSWORD, DATABASE, semi_sync=True)
    try:
        failover.promote(cluster, US)
        servers[US].sql(TABLE, DATABASE)
        failover.replicate(cluster, EU, US)
        assert failover.record_writer(cluster, US) == 1
        yield cluster
    finally:
        for server in servers.values():
            server.kill()
        shutil.rmtree(base, ignore_errors=True)


def test_every_server_starts_read_only_and_only_the_primary_is_opened(pair: failover.Cluster) -> None:
    assert failover.variable(pair.nodes[US], "read_only") == "0"
    assert failover.variable(pair.nodes[EU], "read_only") == "1"


def test_a_crashed_primary_with_an_errant_transaction_is_rebuilt_and_rejoins(pair: failover.Cluster) -> None:
    us, eu = pair.nodes[US], pair.nodes[EU]
    us.sql("INSERT INTO note VALUES (1, 'acknowledged')", DATABASE)
    replicated(pair, US, EU)
    eu.sql("STOP SLAVE")  # the link breaks: what the primary commits now reaches nobody
    us.sql("SET GLOBAL rpl_semi_sync_master_timeout=100; INSERT INTO note VALUES (2, 'errant')", DATABASE)
    seq = failover.parse_gtid(failover.variable(us, "gtid_binlog_pos"))[0][1]
    us.kill()
    result = failover.unplanned_failover(pair, US)
    assert result.new_writer == EU and result.epoch == 2 and result.pending_rejoin == [US]
    assert failover.variable(eu, "read_only") == "0"
    eu.sql("INSERT INTO note VALUES (3, 'after the promotion')", DATABASE)

    us.start()  # comes back fenced
    assert failover.variable(us, "read_only") == "1"
    errant = failover.rejoin(pair, US, EU)
    assert errant == {US: f"0-1-{seq}..{seq}"}  # exactly the one transaction nobody else received
    assert list((us.base).glob("errant-*/binlog.000001")), "the old binlogs are kept for review"
    replicated(pair, EU, US)
    assert rows(us) == [1, 3] == rows(eu)
    assert failover.slave_status(us)["Slave_SQL_Running"] == "Yes"
    assert us.sql("SELECT writer_region, epoch FROM topology", DATABASE).split() == [EU, "2"]


def test_a_switchover_loses_nothing_and_the_old_primary_follows(pair: failover.Cluster) -> None:
    us, eu = pair.nodes[US], pair.nodes[EU]
    for i in range(1, 21):
        us.sql(f"INSERT INTO note VALUES ({i}, 'before')", DATABASE)
    result = failover.switchover(pair, US, EU)
    assert result.new_writer == EU and result.epoch == 2 and result.rejoined == [US]
    assert rows(eu) == list(range(1, 21))
    assert failover.variable(us, "read_only") == "1"
    eu.sql("INSERT INTO note VALUES (21, 'after')", DATABASE)
    replicated(pair, EU, US)
    assert rows(us) == list(range(1, 22))
    back = failover.switchover(pair, EU, US)
    assert back.epoch == 3 and failover.variable(eu, "read_only") == "1"
