"""Failover control that does not live in the region it guards (issue 29, point 3): a watcher in every region,
the table they share replicated to every region, the Lambda's timeout above the code's own bound, a DLQ and alarms.

Reads the templates the session synthesised once (tests/deploy/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from orbitask.regions import aws_watch
from tests.deploy.cdk import Synthesised, resources, text

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")


def failover_function(synth: Synthesised, region: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(k, f) for k, f in resources(synth, region, "AWS::Lambda::Function").items()
                if f["Properties"].get("FunctionName") == f"orbitask-failover-{region}"]
    return found


@pytest.mark.parametrize("region", REGIONS)
def test_every_region_runs_its_own_watcher_every_minute(synth: Synthesised, region: str) -> None:
    fn_id, _ = failover_function(synth, region)
    (schedule,) = resources(synth, region, "AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "rate(1 minute)" and props.get("State", "ENABLED") == "ENABLED"
    assert props["Target"]["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    assert text(props["Target"]["Input"]) == text('{"action":"watch"}')


def test_no_failover_resource_lives_only_in_one_region(synth: Synthesised) -> None:
    (table,) = resources(synth, "global", "AWS::DynamoDB::GlobalTable").values()
    assert {r["Region"] for r in table["Properties"]["Replicas"]} >= set(REGIONS)
    for region in REGIONS:
        _, fn = failover_function(synth, region)
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["ORBITASK_FAILOVER_TABLE"] == table["Properties"]["TableName"]
        granted = text([p["Properties"]["PolicyDocument"] for p in resources(synth, region, "AWS::IAM::Policy").values()])
        assert f"arn:aws:dynamodb:{region}:123456789012:table/orbitask-failover" in granted  # its own replica
        assert "route53:GetHealthCheckStatus" in granted and "route53:ChangeResourceRecordSets" in granted
    # nothing subscribes a region's failover to the us-east-1 health topic any more: the alarms only mail on-call
    for region in REGIONS:
        assert not resources(synth, region, "AWS::SNS::Subscription") or all(
            s["Properties"]["Protocol"] == "email" for s in resources(synth, region, "AWS::SNS::Subscription").values())
    assert not [s for s in resources(synth, "global", "AWS::SNS::Subscription").values()
                if s["Properties"]["Protocol"] == "lambda"]


@pytest.mark.parametrize("region", REGIONS)
def test_the_lambda_timeout_covers_the_codes_own_bound(synth: Synthesised, region: str) -> None:
    _, fn = failover_function(synth, region)
    assert fn["Properties"]["Timeout"] == aws_watch.LAMBDA_TIMEOUT_S
    assert fn["Properties"]["Timeout"] > aws_watch.RUN_BOUND_S


@pytest.mark.parametrize("region", REGIONS)
def test_failed_runs_land_in_a_dlq_and_errors_the_dlq_and_a_silent_watcher_alarm(synth: Synthesised,
                                                                                 region: str) -> None:
    fn_id, fn = failover_function(synth, region)
    (dlq_id,) = resources(synth, region, "AWS::SQS::Queue")
    assert fn["Properties"]["DeadLetterConfig"]["TargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    (schedule,) = resources(synth, region, "AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["Target"]["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    (topic,) = resources(synth, region, "AWS::SNS::Topic")
    alarms = {a["Properties"]["AlarmName"].removeprefix(f"orbitask-{region}-"): a["Properties"]
              for a in resources(synth, region, "AWS::CloudWatch::Alarm").values()}
    errors, dlq, silent = alarms["failover-errors"], alarms["failover-dlq"], alarms["watcher-silent"]
    assert errors["MetricName"] == "Errors" and errors["Dimensions"][0]["Value"] == {"Ref": fn_id}
    assert dlq["MetricName"] == "ApproximateNumberOfMessagesVisible" and text(dlq_id) in text(dlq["Dimensions"])
    assert silent["MetricName"] == "Invocations" and silent["TreatMissingData"] == "breaching"
    assert all(a["AlarmActions"] == [{"Ref": topic}] for a in (errors, dlq, silent))
