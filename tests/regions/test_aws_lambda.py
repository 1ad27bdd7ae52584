"""The failover Lambda's decisions, against botocore's Stubber: who acts on which event, and what it calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from orbitask.regions.aws_lambda import LambdaSettings, handle, load_secrets
from tests.regions.test_aws_failover import EU, GLOBAL, PRIMARY, Topology, described, operation_answer

ORDER = ("us-east-1", "eu-west-1", "ap-southeast-1")


def settings(region: str, *, auto: bool = True) -> LambdaSettings:
    return LambdaSettings(region=region, global_cluster_id=GLOBAL, failover_order=ORDER, auto_failover=auto)


def alarm(region: str, state: str = "ALARM") -> dict[str, Any]:
    """The SNS event CloudWatch sends when a region's health alarm changes state."""
    message = {"AlarmName": f"orbitask-region-down-{region}", "NewStateValue": state}
    return {"Records": [{"Sns": {"Message": json.dumps(message)}}]}


RDS_EVENT = {"source": "aws.rds", "detail-type": "RDS DB Cluster Event",
             "detail": {"EventCategories": ["global-failover"], "SourceIdentifier": "orbitask-eu-west-1"}}


@pytest.fixture
def rds() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("rds", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def describe(stubber: Stubber, answer: dict[str, Any]) -> None:
    stubber.add_response("describe_global_clusters", answer, {"GlobalClusterIdentifier": GLOBAL})


async def test_the_writer_region_down_makes_the_next_region_fail_over_to_itself(rds: tuple[Any, Stubber]) -> None:
    client, stubber = rds
    describe(stubber, described(PRIMARY))  # the Lambda checks who writes
    describe(stubber, described(PRIMARY))  # aws_failover's own look
    stubber.add_response(
        "failover_global_cluster", operation_answer("failing-over"),
        {"GlobalClusterIdentifier": GLOBAL, "TargetDbClusterIdentifier": EU, "AllowDataLoss": True},
    )
    describe(stubber, described(EU))
    topology = Topology(stubber)

    async def no_wait(_: float) -> None:
        return None

    outcome = await handle(alarm("us-east-1"), settings=settings("eu-west-1"), client=client,
                           update_topology=topology, sleep=no_wait)

    assert outcome == {"done": "failover", "writer": "eu-west-1", "epoch": 8, "started": True}
    assert topology.calls == ["eu-west-1"]


async def test_only_the_next_region_acts_and_only_with_auto_failover_on(rds: tuple[Any, Stubber]) -> None:
    client, stubber = rds
    topology = Topology(stubber)
    for region, auto, why in (("ap-southeast-1", True, "eu-west-1 is next"), ("eu-west-1", False, "auto failover is off")):
        describe(stubber, described(PRIMARY))
        outcome = await handle(alarm("us-east-1"), settings=settings(region, auto=auto), client=client,
                               update_topology=topology)
        assert outcome["done"] == "nothing" and why in outcome["why"]
    assert topology.calls == []


async def test_a_reader_region_down_or_an_ok_alarm_changes_nothing(rds: tuple[Any, Stubber]) -> None:
    client, stubber = rds
    topology = Topology(stubber)
    describe(stubber, described(PRIMARY))

    reader_down = await handle(alarm("ap-southeast-1"), settings=settings("eu-west-1"), client=client,
                               update_topology=topology)
    recovered = await handle(alarm("us-east-1", "OK"), settings=settings("eu-west-1"), client=client,
                             update_topology=topology)

    assert "not the writer region" in reader_down["why"] and recovered["done"] == "nothing"
    assert topology.calls == []


async def test_an_rds_event_is_recorded_by_the_new_writer_regions_lambda(rds: tuple[Any, Stubber]) -> None:
    client, stubber = rds
    topology = Topology(stubber)
    describe(stubber, described(EU))
    describe(stubber, described(EU))

    elsewhere = await handle(RDS_EVENT, settings=settings("us-east-1"), client=client, update_topology=topology)
    assert elsewhere["done"] == "nothing" and topology.calls == []

    here = await handle(RDS_EVENT, settings=settings("eu-west-1"), client=client, update_topology=topology)
    assert here == {"done": "topology", "writer": "eu-west-1", "epoch": 8}
    assert topology.calls == ["eu-west-1"]


async def test_an_operator_can_invoke_a_planned_switchover(rds: tuple[Any, Stubber]) -> None:
    client, stubber = rds
    describe(stubber, described(EU))  # already the writer: only the topology is updated
    topology = Topology(stubber)

    outcome = await handle({"action": "failover", "target_region": "eu-west-1", "planned": True},
                           settings=settings("eu-west-1"), client=client, update_topology=topology)

    assert outcome == {"done": "failover", "writer": "eu-west-1", "epoch": 8, "started": False}


def test_settings_and_secrets_come_from_the_environment() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orbitask/db-AbCdEf"
    env = {
        "ORBITASK_REGION": "eu-west-1", "ORBITASK_GLOBAL_CLUSTER": GLOBAL, "ORBITASK_FAILOVER_ORDER": ",".join(ORDER),
        "ORBITASK_AUTO_FAILOVER": "true",
        "ORBITASK_SECRETS_FROM": json.dumps({
            "ORBITASK_DATABASE_PASSWORD": f"{arn}:password",
            "ORBITASK_SECRET_KEY": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orbitask/secret-key",
        }),
    }
    stored = {arn: json.dumps({"username": "orbitask", "password": "db-pass"}),
              "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orbitask/secret-key": "k" * 64}

    load_secrets(env, fetch=stored.__getitem__)

    assert env["ORBITASK_DATABASE_PASSWORD"] == "db-pass" and env["ORBITASK_SECRET_KEY"] == "k" * 64
    assert LambdaSettings.from_env(env) == settings("eu-west-1")
