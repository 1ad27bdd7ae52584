"""The failover controller against real MariaDB 10.11 servers (GTID, semi-sync AFTER_SYNC), no lab around them.

Two regions: a primary and a replica. The errant case is made on purpose: the replica stops
fetching, the primary commits one more transaction, then crashes; the replica is promoted
and takes new writes; the old primary returns (read-only, like every start), is found to hold
a transaction nobody else has, is archived and rebuilt from the new primary, and replicates.

The fence (SET GLOBAL read_only) is shown under the two waits that could hold it up for ever:
two writers queued on one row with the lock holder's next statement queued behind the fence,
and a commit waiting for a replica's acknowledgement that never comes.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncmy
import pytest
from asyncmy.errors import MySQLError

from orbitask.lab import journal
from orbitask.lab.mariadb import APP_PASSWORD, APP_USER, DATABASE, REPL_PASSWORD, REPL_USER, MariaDBServer, SqlError
from orbitask.regions import failover
from tests.regions.labs import kept_on_failure

US, EU = "us-east-1", "eu-west-1"
WAIT_S = 30.0  # bound of the polls below; a wait that long is a failure
ER_QUERY_INTERRUPTED, ER_READ_ONLY = 1317, 1290
TABLE = "CREATE TABLE IF NOT EXISTS topology (id INT PRIMARY KEY, writer_region VARCHAR(64) NOT NULL, " \
        "epoch INT NOT NULL, updated_at DATETIME(6) NOT NULL); CREATE TABLE note (id INT PRIMARY KEY, body TEXT);"


def rows(server: MariaDBServer) -> list[int]:
    return [int(x) for x in server.sql("SELECT id FROM note ORDER BY id", DATABASE).split()]


def replicated(cluster: failover.Cluster, primary: str, replica: str) -> None:
    pos = failover.variable(cluster.nodes[primary], "gtid_binlog_pos")
    assert failover.wait_applied(cluster.nodes[replica], pos, 30), failover.slave_status(cluster.nodes[replica])


@pytest.fixture
def pair() -> Iterator[failover.Cluster]:
    with kept_on_failure(Path(tempfile.mkdtemp(prefix="orbitask-failover-"))) as base:
        notes = journal.path(base)
        servers = {US: MariaDBServer(base / US, 1, semi_sync=True, region=US, journal=notes),
                   EU: MariaDBServer(base / EU, 2, semi_sync=True, region=EU, journal=notes)}
        try:
            with ThreadPoolExecutor(len(servers)) as pool:  # each start waits for its server: wait side by side
                list(pool.map(MariaDBServer.start, servers.values()))
            cluster = failover.Cluster(servers, lambda _replica, primary: ("127.0.0.1", servers[primary].port),
                                       REPL_USER, REPL_PASSWORD, DATABASE, semi_sync=True)
            failover.promote(cluster, US)
            servers[US].sql(TABLE, DATABASE)
            failover.replicate(cluster, EU, US)
            assert failover.record_writer(cluster, US) == 1
            yield cluster
        finally:
            for server in servers.values():
                server.kill()


async def app_connection(server: MariaDBServer) -> asyncmy.Connection:
    """A connection as the application's user (no SUPER: read_only applies to it)."""
    return await asyncmy.connect(host="127.0.0.1", port=server.port, user=APP_USER, password=APP_PASSWORD,
                                 database=DATABASE, autocommit=False)


async def execute(connection: asyncmy.Connection, statement: str) -> int | None:
    """Run `statement`; returns the server's error code, None when it succeeded."""
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(statement)
    except MySQLError as exc:
        return exc.args[0]
    return None


async def until(check: Callable[[], bool], what: str) -> None:
    """Poll `check` (blocking SQL, so in a thread), bounded by WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"not within {WAIT_S:.0f} s: {what}"
        await asyncio.sleep(0.05)  # polling the server's process list; the deadline bounds it


def states(server: MariaDBServer) -> str:
    """Every statement running on `server` with its state, one per line."""
    return server.sql("SELECT STATE, INFO FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query'")


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


async def test_a_switchover_is_not_held_up_by_writers_queued_on_a_row_lock(pair: failover.Cluster) -> None:
    us, eu = pair.nodes[US], pair.nodes[EU]
    us.sql("INSERT INTO note VALUES (1, 'board')", DATABASE)
    holder, second = await app_connection(us), await app_connection(us)
    assert await execute(holder, "SELECT body FROM note WHERE id = 1 FOR UPDATE") is None  # the board's row lock
    second_writer = asyncio.create_task(execute(second, "UPDATE note SET body = 'second' WHERE id = 1"))
    await until(lambda: "LOCK WAIT" in us.sql("SELECT trx_state FROM information_schema.INNODB_TRX"),
                "the second writer waits for the row lock")
    # read_only waits for the second writer's statement, which waits for the row lock: a bare
    # statement times out, and the error names it, its server and what the server was running
    with pytest.raises(SqlError) as timed_out:
        us.sql("SET GLOBAL read_only=ON", timeout=2)
    assert f"{us.name}: no answer within 2 s to: SET GLOBAL read_only=ON" in str(timed_out.value)
    assert "UPDATE note SET body = 'second'" in str(timed_out.value)
    assert f"sql {us.name} TIMEOUT" in journal.path(us.base.parent).read_text()

    switching = asyncio.create_task(asyncio.to_thread(failover.switchover, pair, US, EU))
    await until(lambda: switching.done() or "SET GLOBAL read_only" in states(us), "the fence is pending")
    # the lock holder's next statement queues behind the fence: now nothing ends on its own
    holder_next = asyncio.create_task(execute(holder, "INSERT INTO note VALUES (2, 'first')"))
    result = await switching
    assert result.new_writer == EU and result.epoch == 2 and result.rejoined == [US]
    assert failover.variable(us, "read_only") == "1"
    assert await second_writer == ER_QUERY_INTERRUPTED  # ended by the fence
    assert await holder_next == ER_READ_ONLY  # refused by it
    holder.close()
    second.close()
    eu.sql("INSERT INTO note VALUES (3, 'after')", DATABASE)
    replicated(pair, EU, US)
    assert rows(us) == [1, 3] == rows(eu)


async def test_the_fence_releases_a_commit_waiting_for_an_acknowledgement_that_never_comes(
        pair: failover.Cluster) -> None:
    us, eu = pair.nodes[US], pair.nodes[EU]
    assert failover.semi_sync_on(pair, US, [EU])
    eu.sql("STOP SLAVE IO_THREAD")  # no replica acknowledges any more
    us.sql("SET GLOBAL rpl_semi_sync_master_timeout=3600000")  # and the primary would wait an hour for one
    writer = await app_connection(us)
    assert await execute(writer, "INSERT INTO note VALUES (1, 'waits for an ack')") is None
    committing = asyncio.create_task(execute(writer, "COMMIT"))
    await until(lambda: "semi-sync ACK" in states(us), "the commit waits for an acknowledgement")

    await asyncio.to_thread(failover.fence, us)
    assert failover.variable(us, "read_only") == "1"
    assert failover.variable(us, "rpl_semi_sync_master_enabled") == "0"
    assert await committing is None  # released, and acknowledged
    writer.close()
    eu.sql("START SLAVE IO_THREAD")  # it is in the binlog: a switchover's target receives it
    replicated(pair, US, EU)
    assert rows(eu) == [1] == rows(us)


async def test_a_starting_server_leaves_another_servers_temporary_tables_alone(pair: failover.Cluster) -> None:
    us = pair.nodes[US]
    session = await app_connection(us)
    assert await execute(session, "CREATE TEMPORARY TABLE scratch (id INT) ENGINE=Aria") is None
    tmpdir = Path(failover.variable(us, "tmpdir"))
    files = list(tmpdir.glob(f"#sql-temptable-{us.pid:x}-*"))  # the session's table, named after its server's PID
    assert files, sorted(tmpdir.iterdir())
    # mariadb-install-db's bootstrap, then the server: each deletes every #sql file in its tmpdir
    third = MariaDBServer(us.base.parent / "third", 3, region="third").start()
    third.kill()
    assert [path for path in files if not path.exists()] == []
    assert await execute(session, "DROP TEMPORARY TABLE scratch") is None
    session.close()
