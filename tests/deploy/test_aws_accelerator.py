"""Global Accelerator as a setting: the example synthesised with `global_accelerator: true` against the session's
synthesis without it (tests/deploy/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.deploy.cdk import (
    EXAMPLE_CONFIG,
    Synthesised,
    cfn_lint_errors,
    import_app,
    require_toolchain,
    resources,
    text,
)
from tests.deploy.test_aws_cost import cost, template_counts


@pytest.fixture(scope="module")
def ga(tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    """The three-region example with the accelerator on."""
    require_toolchain()
    tmp: Path = tmp_path_factory.mktemp("ga")
    app_pkg = import_app()
    cfg = app_pkg.load(EXAMPLE_CONFIG, image_tag="test-tag", global_accelerator=True)
    app, delivery = app_pkg.build(cfg, tmp / "cdk.out")
    app.synth()
    stage = delivery.stage.synth()
    templates = {"global": stage.get_stack_artifact(delivery.stage.global_stack.artifact_id).template}
    for region, stack in delivery.stage.regionals.items():
        templates[region] = stage.get_stack_artifact(stack.artifact_id).template
    return Synthesised(cfg=cfg, outdir=tmp / "cdk.out", templates=templates)


def api_records(synth: Synthesised) -> list[dict]:
    """The global stack's records for the API name."""
    name = synth.cfg.api_domain
    return [r["Properties"] for r in resources(synth, "global", "AWS::Route53::RecordSet").values()
            if r["Properties"]["Name"].rstrip(".") == name]


def test_without_the_setting_the_api_name_is_latency_records_and_no_accelerator(synth: Synthesised) -> None:
    assert not synth.cfg.global_accelerator  # the default
    records = api_records(synth)
    assert sorted(r["Region"] for r in records) == sorted(synth.cfg.regions)
    assert all(r["Type"] == "CNAME" and "HealthCheckId" in r for r in records)
    every = [r["Type"] for t in synth.templates.values() for r in t["Resources"].values()]
    assert not [t for t in every if t.startswith("AWS::GlobalAccelerator::")]
    for region in synth.cfg.regions:
        (fn,) = [f for k, f in resources(synth, region, "AWS::Lambda::Function").items() if k.startswith("Failover")]
        assert "ORBITASK_ACCELERATOR_LISTENER" not in fn["Properties"]["Environment"]["Variables"]


def test_with_the_setting_the_api_name_is_an_alias_of_the_accelerator(ga: Synthesised) -> None:
    (record,) = api_records(ga)  # no latency records left
    (accelerator_id,) = resources(ga, "global", "AWS::GlobalAccelerator::Accelerator")
    assert record["Type"] == "A" and accelerator_id in text(record["AliasTarget"]["DNSName"])
    (accelerator,) = resources(ga, "global", "AWS::GlobalAccelerator::Accelerator").values()
    assert accelerator["Properties"]["Enabled"] and accelerator["Properties"]["Name"] == "orbitask-api"
    (listener,) = resources(ga, "global", "AWS::GlobalAccelerator::Listener").values()
    assert listener["Properties"]["Protocol"] == "TCP" and listener["Properties"]["ClientAffinity"] == "NONE"
    assert listener["Properties"]["PortRanges"] == [{"FromPort": 443, "ToPort": 443}]
    # the regions' /readyz health checks stay: the region-down alarms and the watchers read them
    assert len(resources(ga, "global", "AWS::Route53::HealthCheck")) == len(ga.cfg.regions)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-1"])
def test_each_region_adds_its_load_balancer_with_a_full_dial_and_lets_its_watcher_dial_it(ga: Synthesised,
                                                                                       region: str) -> None:
    (group,) = resources(ga, region, "AWS::GlobalAccelerator::EndpointGroup").values()
    props = group["Properties"]
    (alb_id,) = resources(ga, region, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert props["EndpointGroupRegion"] == region and props["TrafficDialPercentage"] == 100
    assert props["EndpointConfigurations"] == [{"ClientIPPreservationEnabled": True, "EndpointId": {"Ref": alb_id}}]
    assert (props["HealthCheckProtocol"], props["HealthCheckPort"], props["HealthCheckPath"]) == ("HTTPS", 443,
                                                                                                 "/readyz")
    assert "ApiAcceleratorHttps" in text(props["ListenerArn"])  # the global stack's listener
    (fn,) = [f for k, f in resources(ga, region, "AWS::Lambda::Function").items() if k.startswith("Failover")]
    listener = fn["Properties"]["Environment"]["Variables"]["ORBITASK_ACCELERATOR_LISTENER"]
    assert text(listener) == text(props["ListenerArn"])
    role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    (dial,) = [s for policy in resources(ga, region, "AWS::IAM::Policy").values()
               for s in policy["Properties"]["PolicyDocument"]["Statement"] if "globalaccelerator" in text(s["Action"])]
    assert [policy for policy in resources(ga, region, "AWS::IAM::Policy").values()
            if "globalaccelerator" in text(policy) and policy["Properties"]["Roles"] == [{"Ref": role}]]
    assert sorted(dial["Action"]) == ["globalaccelerator:ListEndpointGroups", "globalaccelerator:UpdateEndpointGroup"]
    assert "*" not in json.dumps(dial["Resource"]).replace("endpoint-group/*", "")  # this listener's groups only


def test_the_estimate_counts_the_accelerator_the_synthesis_makes(ga: Synthesised) -> None:
    counted, made = cost.counts(ga.cfg), template_counts(ga)
    for kind in ("AWS::GlobalAccelerator::Accelerator", "AWS::GlobalAccelerator::EndpointGroup"):
        assert counted[kind] == made[kind] > 0, kind


def test_cfn_lint_reports_no_errors_on_the_accelerator_templates(ga: Synthesised) -> None:
    files = sorted(p for p in ga.template_files() if "Production" in p.parent.name)
    assert len(files) >= 4
    errors = cfn_lint_errors(files)
    assert errors == [], "\n".join(errors)
