"""The failover Lambda's other events, against botocore's Stubber (the watcher's ticks: test_aws_watch.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from orbitask.regions.aws_lambda import LambdaSettings, handle, load_secrets
from orbitask.regions.aws_watch import AwsClients
from tests.regions.test_aws_failover import EU, GLOBAL, Topology, described

ORDER = ("us-east-1", "eu-west-1", "ap-southeast-1")


def settings(region: str) -> LambdaSettings:
    return LambdaSettings(region=region, global_cluster_id=GLOBAL, failover_order=ORDER, auto_failover=True)


RDS_EVENT = {"source": "aws.rds", "detail-type": "RDS DB Cluster Event",
             "detail": {"EventCategories": ["global-failover"], "SourceIdentifier": "orbitask-eu-west-1"}}


@pytest.fixture
def rds() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("rds", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def aws(rds: Any) -> AwsClients:
    """Only RDS is used on these paths; the other clients would fail the test if called."""
    return AwsClients(rds=rds, dynamodb=None, route53=None)


def describe(stubber: Stubber, answer: dict[str, Any]) -> None:
    stubber.add_response("describe_global_clusters", answer, {"GlobalClusterIdentifier": GLOBAL})


async def test_an_rds_event_is_recorded_by_the_new_writer_regions_lambda(rds: tuple[Any, Stubber]) -> None:
    client, stubber = rds
    topology = Topology(stubber)
    describe(stubber, described(EU))
    describe(stubber, described(EU))

    elsewhere = await handle(RDS_EVENT, settings=settings("us-east-1"), aws=aws(client), update_topology=topology)
    assert elsewhere["done"] == "nothing" and topology.calls == []

    here = await handle(RDS_EVENT, settings=settings("eu-west-1"), aws=aws(client), update_topology=topology)
    assert here == {"done": "topology", "writer": "eu-west-1", "epoch": 8}
    assert topology.calls == ["eu-west-1"]


async def test_an_event_it_does_not_know_changes_nothing(rds: tuple[Any, Stubber]) -> None:
    client, stubber = rds
    topology = Topology(stubber)

    outcome = await handle({"Records": [{"Sns": {"Message": "{}"}}]}, settings=settings("eu-west-1"),
                           aws=aws(client), update_topology=topology)

    assert outcome["done"] == "nothing" and topology.calls == []


def test_settings_and_secrets_come_from_the_environment() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orbitask/db-AbCdEf"
    env = {
        "ORBITASK_REGION": "eu-west-1", "ORBITASK_GLOBAL_CLUSTER": GLOBAL, "ORBITASK_FAILOVER_ORDER": ",".join(ORDER),
        "ORBITASK_AUTO_FAILOVER": "true", "ORBITASK_FAILOVER_TABLE": "orbitask-failover",
        "ORBITASK_HOSTED_ZONE_ID": "Z1", "ORBITASK_API_DOMAIN": "api.orbitask.example.com",
        "ORBITASK_REGIONS": json.dumps([{"name": "eu-west-1", "public_url": "https://eu-west-1.api.orbitask.example.com",
                                         "internal_url": "https://eu-west-1.api.orbitask.example.com"}]),
        "ORBITASK_SECRETS_FROM": json.dumps({
            "ORBITASK_DATABASE_PASSWORD": f"{arn}:password",
            "ORBITASK_SECRET_KEY": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orbitask/secret-key",
        }),
    }
    stored = {arn: json.dumps({"username": "orbitask", "password": "db-pass"}),
              "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orbitask/secret-key": "k" * 64}

    load_secrets(env, fetch=stored.__getitem__)

    assert env["ORBITASK_DATABASE_PASSWORD"] == "db-pass" and env["ORBITASK_SECRET_KEY"] == "k" * 64
    read = LambdaSettings.from_env(env)
    assert (read.region, read.failover_order, read.auto_failover, read.table) == (
        "eu-west-1", ORDER, True, "orbitask-failover")
    assert read.fqdn("eu-west-1") == "eu-west-1.api.orbitask.example.com" and read.majority == 2
