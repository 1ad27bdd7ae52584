"""The failover controller's decisions on GTID positions (pure logic, fake servers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orbitask.regions import failover
from orbitask.regions.failover import FailoverError, choose_candidate, errant_gtids, gtid_key, parse_gtid


def test_gtid_positions_parse_and_order_by_sequence() -> None:
    assert parse_gtid("0-1-42,1-3-7") == {0: (1, 42), 1: (3, 7)}
    assert parse_gtid("") == {}
    assert gtid_key("0-2-43") > gtid_key("0-1-42")  # sequence numbers grow across servers in a domain


def test_the_most_advanced_replica_is_promoted() -> None:
    positions = {"eu-west-1": "0-1-120", "ap-southeast-1": "0-1-125"}
    assert choose_candidate(positions, ["eu-west-1", "ap-southeast-1"]) == "ap-southeast-1"


def test_a_tie_goes_to_the_preferred_region() -> None:
    positions = {"eu-west-1": "0-1-125", "ap-southeast-1": "0-1-125"}
    assert choose_candidate(positions, ["eu-west-1", "ap-southeast-1"]) == "eu-west-1"
    assert choose_candidate(positions, ["ap-southeast-1", "eu-west-1"]) == "ap-southeast-1"


def test_no_reachable_replica_is_an_error() -> None:
    with pytest.raises(FailoverError, match="no reachable replica"):
        choose_candidate({})


def test_errant_transactions_are_the_old_writers_own_gtids_the_new_primary_lacks() -> None:
    # the old writer (server 1) binlogged 0-1-104..105 that never left it; the new primary went on as server 2
    assert errant_gtids("0-1-105", "0-1-103,0-2-110", 1) == "0-1-104..105"
    assert errant_gtids("0-1-103", "0-1-103,0-2-110", 1) == ""
    assert errant_gtids("0-2-110", "0-1-103,0-2-110", 1) == ""  # it only replicated others' transactions


@dataclass
class FakeNode:
    """A server that answers the controller's few queries from fixed positions, and records its statements."""

    region: str
    server_id: int
    io_pos: str
    up: bool = True
    statements: list[str] = field(default_factory=list)

    def sql(self, statements: str, database: str | None = None, timeout: float = 30, names: bool = False) -> str:
        if not self.up:
            raise RuntimeError("down")
        self.statements.append(statements)
        if statements.startswith("SHOW SLAVE STATUS"):
            return f"Gtid_IO_Pos: {self.io_pos}\n"
        if "MASTER_GTID_WAIT" in statements:
            return "0\n"
        if statements.startswith("SELECT epoch"):
            return "2\n"
        return "1\n"

    def rebuild_from(self, primary: object) -> str:
        return "archive"


def _cluster(**positions: str) -> failover.Cluster:
    nodes = {"us-east-1": FakeNode("us-east-1", 1, "", up=False)}
    nodes.update({region.replace("_", "-"): FakeNode(region.replace("_", "-"), i + 2, pos)
                  for i, (region, pos) in enumerate(positions.items())})
    return failover.Cluster(nodes, lambda replica, primary: ("127.0.0.1", 1), "repl", "pw", "orbitask")


def test_unplanned_failover_promotes_the_most_advanced_and_repoints_the_other() -> None:
    lab = _cluster(eu_west_1="0-1-120", ap_southeast_1="0-1-125")
    result = failover.unplanned_failover(lab, "us-east-1", preference=["eu-west-1", "ap-southeast-1"])
    assert result.new_writer == "ap-southeast-1" and result.epoch == 2
    assert result.pending_rejoin == ["us-east-1"]  # down: fenced and rejoined when it returns
    promoted = "\n".join(lab.nodes["ap-southeast-1"].statements)
    assert "RESET SLAVE ALL" in promoted and "read_only=OFF" in promoted and "INSERT INTO topology" in promoted
    follower = "\n".join(lab.nodes["eu-west-1"].statements)
    assert "MASTER_USE_GTID=slave_pos" in follower and "read_only=ON" in follower


def test_promoting_a_lagging_replica_on_request_is_refused() -> None:
    lab = _cluster(eu_west_1="0-1-120", ap_southeast_1="0-1-125")
    with pytest.raises(FailoverError, match="behind ap-southeast-1"):
        failover.unplanned_failover(lab, "us-east-1", to="eu-west-1")


async def test_a_lab_that_fails_to_start_can_still_be_taken_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers started before the failure are recorded, so `lab down` stops them."""
    import subprocess
    import sys

    from orbitask.lab import control, supervisor
    from orbitask.lab.state import LabState

    started = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # stands for a started Redis
    try:
        LabState.plan(tmp_path, 0.05, True).save()

        def half_started(state: LabState, progress: object) -> None:
            state.regions["us-east-1"].redis_pid = started.pid  # started, not saved yet
            raise RuntimeError("redis-server on port 1 exited during start-up")

        monkeypatch.setattr(control, "bootstrap", half_started)
        await supervisor.main(tmp_path)
        state = LabState.load(tmp_path)
        assert state.status == "failed" and "exited during start-up" in (state.error or "")
        assert state.regions["us-east-1"].redis_pid == started.pid
        assert control.down(tmp_path)
        assert started.wait(timeout=10) is not None
    finally:
        started.kill()
        started.wait()
