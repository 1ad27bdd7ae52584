"""The deployment profiles: production (today's sizes) and demo (the cheapest two-region setup).

The config tests are pure logic; the synthesis tests build the demo example (regions.demo.yaml) once for this
module and read the production templates from the session's synthesis (tests/deploy/conftest.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.cdk import DEPLOY_AWS, Synthesised, cfn_lint_errors, import_app, require_toolchain, resources

DEMO_CONFIG = DEPLOY_AWS / "regions.demo.yaml"
_DEMO: dict[str, Synthesised] = {}  # one demo synthesis for this module and test_aws_cost.py
GOOD = {"name": "orbitask", "account": "123456789012", "regions": ["us-east-1", "eu-west-1"],
        "domain": "a.example.com", "api_domain": "api.example.com", "hosted_zone_id": "Z1",
        "hosted_zone_name": "example.com", "alarm_email": "a@example.com", "monthly_budget_usd": 100,
        "source_repository": "o/r", "source_branch": "main",
        "source_connection_arn": "arn:aws:codeconnections:us-east-1:1:connection/x"}


def parse(**changes: Any) -> Any:
    """GOOD with CHANGES, parsed."""
    return import_app().config.parse({**GOOD, **changes})


def test_production_is_the_default_profile_and_keeps_todays_settings() -> None:
    cfg = parse()
    assert cfg.profile == "production"
    assert (cfg.fargate_spot, cfg.arm64, cfg.aurora_serverless) == (False, False, False)
    assert cfg.waf_on_load_balancers and cfg.nat_gateways == 1 and cfg.desired_tasks == 0
    assert cfg.protect_data and cfg.db_readers == 1 and cfg.redis_node_type == "cache.t4g.small"
    assert cfg.size("auth").min_tasks == 2 and cfg.size("worker").max_tasks == 1


def test_the_demo_profile_derives_the_cheap_settings() -> None:
    cfg = parse(profile="demo")
    assert (cfg.fargate_spot, cfg.arm64, cfg.aurora_serverless) == (True, True, True)
    assert not cfg.waf_on_load_balancers and cfg.nat_gateways == 0 and cfg.desired_tasks == 1
    assert cfg.redis_node_type == "cache.t4g.micro" and cfg.db_readers == 0 and not cfg.tracing
    # one task per service even where the services section asks for more
    sized = parse(profile="demo", services={"auth": {"cpu": 512, "memory": 1024, "min_tasks": 3, "max_tasks": 9}})
    assert (sized.size("auth").cpu, sized.size("auth").min_tasks, sized.size("auth").max_tasks) == (512, 1, 1)
    assert (sized.size("tasks").cpu, sized.size("tasks").memory) == (256, 512)


def test_the_demo_profile_keeps_what_the_file_says_but_refuses_a_nat_gateway() -> None:
    config = import_app().config
    assert parse(profile="demo", redis_node_type="cache.t4g.small").redis_node_type == "cache.t4g.small"
    assert parse(profile="demo", nat_gateways=0).nat_gateways == 0
    with pytest.raises(config.ConfigError, match="nat_gateways"):
        parse(profile="demo", nat_gateways=1)
    with pytest.raises(config.ConfigError, match="profile"):
        parse(profile="staging")


def test_the_demo_example_is_the_demo_profile_in_two_regions() -> None:
    cfg = import_app().load(DEMO_CONFIG)
    assert cfg.profile == "demo" and len(cfg.regions) == 2 and cfg.nat_gateways == 0


def synthesise_demo(tmp: Path) -> Synthesised:
    """The app synthesised from the demo example (two regions), once per session."""
    if "demo" not in _DEMO:
        require_toolchain()
        app_pkg = import_app()
        cfg = app_pkg.load(DEMO_CONFIG, image_tag="test-tag")
        app, delivery = app_pkg.build(cfg, tmp / "cdk.out")
        assembly, stage = app.synth(), delivery.stage.synth()
        templates = {"delivery": assembly.get_stack_artifact(delivery.artifact_id).template,
                     "global": stage.get_stack_artifact(delivery.stage.global_stack.artifact_id).template}
        for region, stack in delivery.stage.regionals.items():
            templates[region] = stage.get_stack_artifact(stack.artifact_id).template
        _DEMO["demo"] = Synthesised(cfg=cfg, outdir=tmp / "cdk.out", templates=templates)
    return _DEMO["demo"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    return synthesise_demo(tmp_path_factory.mktemp("demo"))


def db_clusters(synth: Synthesised) -> dict[str, dict[str, Any]]:
    """Every Aurora cluster of the synthesis, by region."""
    return {region: cluster for region in synth.cfg.regions
            for cluster in resources(synth, region, "AWS::RDS::DBCluster").values()}


def test_demo_aurora_is_serverless_v2_with_one_instance_per_cluster(demo: Synthesised) -> None:
    data = import_app().data
    for region, cluster in db_clusters(demo).items():
        scaling = cluster["Properties"]["ServerlessV2ScalingConfiguration"]
        assert scaling["MinCapacity"] == data.SERVERLESS_MIN_ACU and scaling["MaxCapacity"] >= 1
        instances = resources(demo, region, "AWS::RDS::DBInstance")
        assert [i["Properties"]["DBInstanceClass"] for i in instances.values()] == ["db.serverless"]


def test_demo_redis_is_one_micro_node_in_isolated_subnets(demo: Synthesised) -> None:
    for region in demo.cfg.regions:
        (group,) = resources(demo, region, "AWS::ElastiCache::ReplicationGroup").values()
        props = group["Properties"]
        assert props["CacheNodeType"] == "cache.t4g.micro" and props["NumCacheClusters"] == 1
        assert not props["AutomaticFailoverEnabled"] and props["TransitEncryptionEnabled"]
        # no NAT gateway, so no private subnets with egress: Redis sits in the isolated ("data") subnets
        (subnets,) = resources(demo, region, "AWS::ElastiCache::SubnetGroup").values()
        ids = subnets["Properties"]["SubnetIds"]
        assert ids and all("VpcdataSubnet" in str(i) for i in ids)


def test_production_aurora_stays_provisioned(synth: Synthesised) -> None:
    for region, cluster in db_clusters(synth).items():
        assert "ServerlessV2ScalingConfiguration" not in cluster["Properties"]
        classes = {i["Properties"]["DBInstanceClass"] for i in resources(synth, region, "AWS::RDS::DBInstance").values()}
        assert classes == {synth.cfg.db_instance_class}


def deletion_protection(synth: Synthesised) -> set[bool]:
    """DeletionProtection of every Aurora cluster and of the global cluster."""
    flags = {c["Properties"].get("DeletionProtection", False) for c in db_clusters(synth).values()}
    flags |= {g["Properties"].get("DeletionProtection", False)
              for g in resources(synth, synth.cfg.primary, "AWS::RDS::GlobalCluster").values()}
    return flags


def test_a_first_deployment_can_roll_back_and_a_later_one_protects_the_data(demo: Synthesised,
                                                                            synth: Synthesised) -> None:
    # protect_data false (the demo's default, and every first deployment): a failed creation deletes its clusters
    assert deletion_protection(demo) == {False}
    assert deletion_protection(synth) == {True}
    for s in (demo, synth):
        for region in s.cfg.regions:
            for cluster in resources(s, region, "AWS::RDS::DBCluster").values():
                assert cluster["DeletionPolicy"] == "Snapshot"  # a deleted cluster leaves its final snapshot


def test_each_region_backs_up_its_cluster_and_copies_it_to_the_next_region(synth: Synthesised) -> None:
    regions = synth.cfg.regions
    for i, region in enumerate(regions):
        target = regions[(i + 1) % len(regions)]
        (vault,) = resources(synth, region, "AWS::Backup::BackupVault").values()
        assert "EncryptionKeyArn" in vault["Properties"]
        (plan,) = resources(synth, region, "AWS::Backup::BackupPlan").values()
        rules = plan["Properties"]["BackupPlan"]["BackupPlanRule"]
        copies = [c for rule in rules for c in rule.get("CopyActions", [])]
        assert copies and all(f":backup:{target}:" in str(c["DestinationBackupVaultArn"]) for c in copies)
        assert all(c["Lifecycle"]["DeleteAfterDays"] >= 7 for c in copies)
        (selection,) = resources(synth, region, "AWS::Backup::BackupSelection").values()
        assert ":cluster:" in str(selection["Properties"]["BackupSelection"]["Resources"])


def test_the_demo_synthesis_has_two_regions(demo: Synthesised) -> None:
    assert set(demo.templates) == {"delivery", "global", *demo.cfg.regions}
    assert len(demo.cfg.regions) == 2


def test_cfn_lint_reports_no_errors_on_the_demo_templates(demo: Synthesised) -> None:
    files = demo.template_files()
    assert len(files) >= 4
    errors = cfn_lint_errors(files)
    assert errors == [], "\n".join(errors)


def log_retention(synth: Synthesised, region: str) -> set[int]:
    """RetentionInDays of the region's task log groups (services.task_definition) and flow logs."""
    prefixes = tuple(f"{service}Logs" for service in (*import_app().config.ALL_SERVICES, "migrate")) + ("FlowLogs",)
    return {g["Properties"]["RetentionInDays"] for name, g in resources(synth, region, "AWS::Logs::LogGroup").items()
            if name.startswith(prefixes)}


def test_the_demo_template_has_the_cheap_health_checks_waf_and_log_retention(demo: Synthesised,
                                                                               synth: Synthesised) -> None:
    for s, (interval, latency, bot_control, days) in ((demo, (30, False, False, 7)), (synth, (10, True, True, 30))):
        assert (s.cfg.health_check_interval, s.cfg.health_check_latency, s.cfg.bot_control,
                s.cfg.log_retention_days) == (interval, latency, bot_control, days)
        for check in resources(s, "global", "AWS::Route53::HealthCheck").values():
            config = check["Properties"]["HealthCheckConfig"]
            assert (config["Type"], config["RequestInterval"], config.get("MeasureLatency", False)) == (
                "HTTPS", interval, latency)
        (acl,) = resources(s, "global", "AWS::WAFv2::WebACL").values()
        groups = [r["Statement"].get("ManagedRuleGroupStatement", {}).get("Name") for r in acl["Properties"]["Rules"]]
        assert ("AWSManagedRulesBotControlRuleSet" in groups) is bot_control
        assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesSQLiRuleSet"} <= set(groups)  # the rest stays
        for region in s.cfg.regions:
            assert log_retention(s, region) == {days}
