"""The three-region lab end to end, at a small WAN scale: `orbitask lab up`, `drill`, `status`, `down`.

One drill covers the issue's invariants: no read-your-writes violation, one hop per forwarded
write (the writer counts exactly one arrival per write sent from each other region, and no
transaction originates in a reader region's database), no acknowledged write lost across a
crash of the writer with semi-sync nor across the switchover back, and the old writer refusing
writes once it was replaced. Figures (latencies, RTO) are the drill's job, not the test's.
The lab's journal names each step and administrative statement, and a failing lab test shows
the lab's logs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orbitask.lab import journal
from orbitask.lab.state import REGIONS
from tests.regions.labs import orbitask, running_lab

PAIRS = 300
REPO = Path(__file__).resolve().parents[2]
FAILING_LAB_TEST = """
from pathlib import Path

import pytest

from tests.regions.labs import kept_on_failure


@pytest.fixture
def lab():
    with kept_on_failure(Path({lab_dir!r})) as lab_dir:
        yield lab_dir


@pytest.fixture
def lab_that_cannot_start():
    with kept_on_failure(Path({broken_dir!r})) as lab_dir:
        lab_dir.mkdir()
        (lab_dir / "supervisor.log").write_text("lab_bootstrap_failed: mariadb-install-db failed")
        raise RuntimeError("the lab did not start")
        yield lab_dir


def test_with_a_lab_that_cannot_start(lab_that_cannot_start):
    pass


def test_the_switchover_back(lab):
    (lab / "us-east-1" / "db").mkdir(parents=True)
    (lab / "us-east-1" / "db" / "error.log").write_text("[Note] the last line mariadbd wrote")
    (lab / "us-east-1" / "db" / "data").mkdir()
    (lab / "us-east-1" / "db" / "data" / "ddl_recovery.log").write_text("not a log to show")
    (lab / "lab.log").write_text("drill: Planned switchover back to us-east-1")
    assert False, "the drill failed"
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[Path]:
    with running_lab("orbitask-lab-") as lab_dir:
        yield lab_dir


@pytest.fixture(scope="module")
def drill(lab: Path) -> dict[str, Any]:
    out = lab / "drill.json"
    orbitask("lab", "drill", "--dir", str(lab), "--pairs", str(PAIRS), "--json", str(out), timeout=600)
    return json.loads(out.read_text())


def test_status_shows_one_writer_and_replicating_readers(lab: Path) -> None:
    info = json.loads(orbitask("lab", "status", "--dir", str(lab), "--json").stdout)
    assert info["status"] == "ready" and info["supervisor"]
    writers = [r for r, row in info["regions"].items() if row["read_only"] is False]
    assert writers == [info["writer"]]
    # the lab starts with semi-sync (the default): the writer's commits wait for a replica's copy
    assert info["semi_sync"] and info["regions"][info["writer"]]["semi_sync_active"] is True
    for region, row in info["regions"].items():
        assert row["db"] and row["redis"] and row["api"], (region, row)
        if region != info["writer"]:
            assert row["replicating"] == "Yes/Yes", (region, row)


def test_no_read_your_writes_violation(drill: dict[str, Any]) -> None:
    rows = drill["locations"]
    assert sum(row["ryw_pairs"] for row in rows.values()) >= PAIRS
    assert {loc: row["ryw_violations"] for loc, row in rows.items()} == dict.fromkeys(REGIONS, 0)
    assert {loc: row["errors"] for loc, row in rows.items()} == dict.fromkeys(REGIONS, 0), rows


def test_forwarded_writes_take_exactly_one_hop(drill: dict[str, Any]) -> None:
    hop = drill["one_hop"]
    assert hop["hops_per_write"] == {r: 1.0 for r in REGIONS if r != drill["writer"]}
    assert hop["transactions_from_reader_regions"] == {r: 0 for r in REGIONS if r != drill["writer"]}


def test_events_reach_sockets_in_every_region(drill: dict[str, Any]) -> None:
    for loc, row in drill["locations"].items():
        assert row["realtime_events"] >= 3 * 20, (loc, row)  # every probe from every location arrived


def test_a_crashed_writer_loses_no_acknowledged_write(drill: dict[str, Any]) -> None:
    fo = drill["failover"]
    assert fo["new_writer"] != fo["old_writer"]
    assert fo["acknowledged"] > 0 and fo["lost"] == 0


def test_the_old_writer_never_accepts_a_write_after_the_promotion(drill: dict[str, Any]) -> None:
    split = drill["failover"]["split_brain"]
    assert split["old_writer_db_refused_app_write"] is True
    assert split["old_writer_api_status"] == 201
    assert split["old_writer_api_forwarded_to"] == drill["failover"]["new_writer"]
    assert split["transactions_from_old_writer_after_promotion"] == 0


def test_the_switchover_back_loses_nothing(drill: dict[str, Any]) -> None:
    so = drill["switchover"]
    assert so["to"] == drill["writer"]
    assert so["acknowledged"] > 0 and so["lost"] == 0


def test_the_journal_names_each_step_and_statement(lab: Path, drill: dict[str, Any]) -> None:
    notes = journal.path(lab).read_text()
    back_from, back_to = drill["failover"]["new_writer"], drill["writer"]
    assert "lab up: ready" in notes
    assert f"drill: Planned switchover back to {back_to}" in notes and "drill: done" in notes
    assert f"switchover: {back_from} -> {back_to}, epoch" in notes
    # the statement that once hung, with its server and how long it took
    assert re.search(rf"sql mariadb {back_from} \(port \d+\) ok [\d.]+s: SET SESSION lock_wait_timeout=\d+; "
                     "SET GLOBAL read_only=ON", notes)
    assert "MASTER_PASSWORD='***'" in notes and "orbitask-repl-pw" not in notes


def test_a_failing_lab_test_shows_the_lab_logs_and_keeps_the_lab(tmp_path: Path) -> None:
    lab_dir, broken_dir = tmp_path / "lab", tmp_path / "broken"
    (tmp_path / "test_failing.py").write_text(FAILING_LAB_TEST.format(lab_dir=str(lab_dir),
                                                                      broken_dir=str(broken_dir)))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.regions.conftest", "-p", "no:cacheprovider",
         "-p", "no:randomly", "--rootdir", str(tmp_path), str(tmp_path / "test_failing.py")],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert done.returncode == 1 and "1 failed, 1 error" in done.stdout, done.stdout + done.stderr
    report = done.stdout
    assert f"logs in {lab_dir} (kept)" in report
    assert "==> us-east-1/db/error.log <==\n[Note] the last line mariadbd wrote" in report
    assert report.index("us-east-1/db/error.log") < report.index("==> lab.log <==\ndrill: Planned switchover back")
    assert "data/ddl_recovery.log <==" not in report  # nothing from the data directories
    assert (lab_dir / "lab.log").exists()
    # a lab whose set-up failed: its logs in that error's report, and kept
    assert f"logs in {broken_dir} (kept)" in report
    assert "==> supervisor.log <==\nlab_bootstrap_failed: mariadb-install-db failed" in report
    assert (broken_dir / "supervisor.log").exists()


def test_down_stops_everything_and_can_be_repeated(lab: Path, drill: dict[str, Any]) -> None:
    assert "Lab stopped" in orbitask("lab", "down", "--dir", str(lab)).stdout
    assert "Nothing was running" in orbitask("lab", "down", "--dir", str(lab)).stdout
    info = json.loads(orbitask("lab", "status", "--dir", str(lab), "--json").stdout)
    assert info["status"] == "stopped"
    assert not any(row[k] for row in info["regions"].values() for k in ("db", "redis", "api"))
