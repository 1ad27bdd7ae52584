"""`aws_failover` against botocore's Stubber: the right RDS API and parameters, bounded waiting, then the topology."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from orbitask.regions.aws import AwsFailoverError, aws_failover

GLOBAL = "orbitask-global"
ACCOUNT = "123456789012"
PRIMARY = f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:orbitask-us-east-1"
EU = f"arn:aws:rds:eu-west-1:{ACCOUNT}:cluster:orbitask-eu-west-1"
AP = f"arn:aws:rds:ap-southeast-1:{ACCOUNT}:cluster:orbitask-ap-southeast-1"


def described(writer: str, status: str = "available", failover: str | None = None) -> dict[str, Any]:
    """A DescribeGlobalClusters answer with WRITER as the writer member."""
    members = [{"DBClusterArn": arn, "IsWriter": arn == writer} for arn in (PRIMARY, EU, AP)]
    cluster: dict[str, Any] = {
        "GlobalClusterIdentifier": GLOBAL, "Engine": "aurora-mysql", "Status": status, "GlobalClusterMembers": members,
    }
    if failover:
        cluster["FailoverState"] = {"Status": failover, "FromDbClusterArn": PRIMARY, "ToDbClusterArn": EU}
    return {"GlobalClusters": [cluster]}


class Topology:
    """Stands in for regions.topology.set_writer: records calls, checks RDS was done first, returns epochs."""

    def __init__(self, stubber: Stubber) -> None:
        self.stubber, self.calls, self.epoch = stubber, [], 7

    async def __call__(self, region: str) -> int:
        self.stubber.assert_no_pending_responses()  # every RDS call (and the last poll) happened before this
        self.calls.append(region)
        self.epoch += 1
        return self.epoch


class FakeTime:
    """A clock that only the injected sleep moves: waiting is checked without waiting."""

    def __init__(self) -> None:
        self.now, self.sleeps = 1000.0, []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def rds() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("rds", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def operation_answer(state: str) -> dict[str, Any]:
    """A Switchover/FailoverGlobalCluster answer: the cluster, now in STATE."""
    return {"GlobalCluster": described(PRIMARY, state, state)["GlobalClusters"][0]}


def expect_describe(stubber: Stubber, answer: dict[str, Any]) -> None:
    stubber.add_response("describe_global_clusters", answer, {"GlobalClusterIdentifier": GLOBAL})


async def test_planned_switchover_waits_for_the_target_then_bumps_the_epoch(rds: tuple[Any, Stubber]) -> None:
    client, stubber = rds
    expect_describe(stubber, described(PRIMARY))
    stubber.add_response(
        "switchover_global_cluster", operation_answer("switching-over"),
        {"GlobalClusterIdentifier": GLOBAL, "TargetDbClusterIdentifier": EU},
    )
    expect_describe(stubber, described(PRIMARY, "switching-over", "pending"))
    expect_describe(stubber, described(EU, "switching-over", "switching-over"))  # writer moved, not yet available
    expect_describe(stubber, described(EU))
    topology, fake = Topology(stubber), FakeTime()
    seen: list[str] = []

    result = await aws_failover(
        GLOBAL, "eu-west-1", True, topology, client, sleep=fake.sleep, clock=fake.clock,
        progress=lambda state, _elapsed: seen.append(state),
    )

    assert topology.calls == ["eu-west-1"]
    assert (result.epoch, result.writer_cluster_arn, result.previous_writer_arn) == (8, EU, PRIMARY)
    assert result.started and result.planned and result.polls == 3
    assert fake.sleeps == [5.0, 7.5, 11.25]  # backing off between polls
    assert seen[-1] == "available, writer eu-west-1"


async def test_unplanned_failover_allows_data_loss(rds: tuple[Any, Stubber]) -> None:
    client, stubber = rds
    expect_describe(stubber, described(PRIMARY))
    stubber.add_response(
        "failover_global_cluster", operation_answer("failing-over"),
        {"GlobalClusterIdentifier": GLOBAL, "TargetDbClusterIdentifier": EU, "AllowDataLoss": True},
    )
    expect_describe(stubber, described(EU))
    topology, fake = Topology(stubber), FakeTime()

    result = await aws_failover(GLOBAL, "eu-west-1", False, topology, client, sleep=fake.sleep, clock=fake.clock)

    assert topology.calls == ["eu-west-1"] and result.epoch == 8 and not result.planned


async def test_waiting_is_bounded_and_leaves_the_topology_alone(rds: tuple[Any, Stubber]) -> None:
    client, stubber = rds
    expect_describe(stubber, described(PRIMARY))
    stubber.add_response(
        "switchover_global_cluster", operation_answer("switching-over"),
        {"GlobalClusterIdentifier": GLOBAL, "TargetDbClusterIdentifier": EU},
    )
    for _ in range(6):  # 5 + 7.5 + 11.25 + 16.9 + 25.3 + 4.05 (the remainder) = 70 s
        expect_describe(stubber, described(PRIMARY, "switching-over", "switching-over"))
    topology, fake = Topology(stubber), FakeTime()

    with pytest.raises(AwsFailoverError, match="did not complete within 70 s.*switching-over.*not changed"):
        await aws_failover(
            GLOBAL, "eu-west-1", True, topology, client, timeout_s=70, sleep=fake.sleep, clock=fake.clock
        )

    assert topology.calls == []
    assert sum(fake.sleeps) == pytest.approx(70)


async def test_an_unknown_region_is_refused_before_any_change(rds: tuple[Any, Stubber]) -> None:
    client, stubber = rds
    expect_describe(stubber, described(PRIMARY))
    topology = Topology(stubber)

    with pytest.raises(AwsFailoverError, match="'sa-east-1'.*member regions: ap-southeast-1, eu-west-1, us-east-1"):
        await aws_failover(GLOBAL, "sa-east-1", True, topology, client)

    assert topology.calls == []


async def test_a_target_that_already_writes_only_updates_the_topology(rds: tuple[Any, Stubber]) -> None:
    client, stubber = rds
    expect_describe(stubber, described(EU))  # e.g. a retry after the topology update failed
    topology = Topology(stubber)

    result = await aws_failover(GLOBAL, "eu-west-1", True, topology, client)

    assert topology.calls == ["eu-west-1"] and not result.started and result.polls == 0


async def test_an_operation_in_progress_is_not_doubled(rds: tuple[Any, Stubber]) -> None:
    client, stubber = rds
    expect_describe(stubber, described(PRIMARY, "failing-over", "failing-over"))
    topology = Topology(stubber)

    with pytest.raises(AwsFailoverError, match="already has a failing-over operation in progress"):
        await aws_failover(GLOBAL, "eu-west-1", False, topology, client)
    assert topology.calls == []


async def test_a_refusal_from_rds_names_the_operation(rds: tuple[Any, Stubber]) -> None:
    client, stubber = rds
    expect_describe(stubber, described(PRIMARY))
    stubber.add_client_error(
        "switchover_global_cluster", "InvalidGlobalClusterStateFault", "secondary is not in sync",
        expected_params={"GlobalClusterIdentifier": GLOBAL, "TargetDbClusterIdentifier": EU},
    )
    topology = Topology(stubber)

    with pytest.raises(AwsFailoverError, match="RDS refused the switchover.*not in sync"):
        await aws_failover(GLOBAL, "eu-west-1", True, topology, client)
    assert topology.calls == []


def test_the_failover_command_drives_aws_and_records_the_new_writer(
    tmp_path: Any, template_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`orbitask failover --aws`: the RDS operation for the target, then the topology row on this region's database."""
    import asyncio
    import shutil

    from typer.testing import CliRunner

    from orbitask import cli
    from orbitask.core.db import Database
    from orbitask.core.observability import configure_logging
    from orbitask.regions import aws
    from orbitask.regions.topology import read_writer

    shutil.copy(template_db, tmp_path / "orbitask.db")
    monkeypatch.setenv("ORBITASK_DATA_DIR", str(tmp_path))
    calls: list[tuple[str, str, bool]] = []

    async def fake(global_cluster_id: str, target_region: str, planned: bool, update_topology: Any,
                   **_: Any) -> Any:
        calls.append((global_cluster_id, target_region, planned))
        epoch = await update_topology(target_region)  # what the real one does once RDS reports the new writer
        return type("R", (), {"epoch": epoch, "elapsed_s": 1.0, "polls": 1})()

    monkeypatch.setattr(aws, "aws_failover", fake)
    # logging set up by an earlier test in this process may point at a stream that is closed by now
    configure_logging("WARNING", False)
    runner = CliRunner()
    refused = runner.invoke(cli.app, ["failover", "--aws", "--to", "eu-west-1"])
    assert refused.exit_code == 2 and "--global-cluster" in refused.output
    done = runner.invoke(cli.app, ["failover", "--aws", "--to", "eu-west-1", "--global-cluster", "orbitask",
                                   "--planned"])
    assert done.exit_code == 0, done.output
    assert calls == [("orbitask", "eu-west-1", True)]

    async def writer() -> Any:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'orbitask.db'}")
        try:
            return await read_writer(db, "nobody")
        finally:
            await db.dispose()

    view = asyncio.run(writer())
    assert (view.region, view.epoch) == ("eu-west-1", 1)
