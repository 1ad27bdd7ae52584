"""The CDK app for a three-region config: every component of issue 10 is present and wired, cfn-lint is clean.

Synthesis runs once (tests/deploy/conftest.py, about 40 s on Node); each test reads the templates with
aws_cdk.assertions.
"""

from __future__ import annotations

import json

import pytest

from orbitask.config import Settings
from orbitask.core.hosts import allowed_hosts
from tests.deploy.cdk import Synthesised, cfn_lint_errors, import_app, resources, template, text

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")
PRIMARY, SECONDARIES = REGIONS[0], REGIONS[1:]
SERVICES = ("auth", "boards", "tasks", "notifications", "realtime", "worker")


def test_the_config_names_three_regions_with_the_writer_first(synth: Synthesised) -> None:
    assert synth.cfg.regions == REGIONS
    assert set(synth.templates) == {"delivery", "global", *REGIONS}


@pytest.mark.parametrize("region", REGIONS)
def test_each_region_has_a_vpc_with_private_subnets_and_endpoints(synth: Synthesised, region: str) -> None:
    from aws_cdk.assertions import Match

    t = template(synth, region)
    t.resource_count_is("AWS::EC2::VPC", 1)
    subnets = resources(synth, region, "AWS::EC2::Subnet").values()
    private = [s for s in subnets if not s["Properties"].get("MapPublicIpOnLaunch")]
    assert len(private) == 4  # app and data subnets in two AZs
    endpoints = text([e["Properties"]["ServiceName"] for e in resources(synth, region, "AWS::EC2::VPCEndpoint").values()])
    for service in ("s3", "ecr.api", "ecr.dkr", "secretsmanager", "logs"):
        assert f".{service}" in endpoints, service
    t.has_resource_properties("AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Interface", "PrivateDnsEnabled": True,
                                                        "SubnetIds": Match.any_value()})


@pytest.mark.parametrize("region", REGIONS)
def test_every_service_runs_on_fargate_as_non_root_with_a_read_only_root(synth: Synthesised, region: str) -> None:
    services = {s["Properties"]["ServiceName"]: s for s in resources(synth, region, "AWS::ECS::Service").values()}
    assert set(services) == {f"orbitask-{s}" for s in SERVICES}
    assert all(s["Properties"]["LaunchType"] == "FARGATE" for s in services.values())
    assert all(s["Properties"]["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
               for s in services.values())
    commands = {}
    for task in resources(synth, region, "AWS::ECS::TaskDefinition").values():
        app = next(c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == "app")
        assert app["User"] == "10001:10001"
        assert app["ReadonlyRootFilesystem"] is True
        assert app["Image"]["Fn::Join"][1][-1].endswith(":test-tag")
        commands[task["Properties"]["Family"]] = app["Command"]
        for sidecar in task["Properties"]["ContainerDefinitions"]:
            assert sidecar.get("ReadonlyRootFilesystem") is True, sidecar["Name"]
    assert commands["orbitask-realtime"] == ["serve", "--services", "realtime"]
    assert commands["orbitask-worker"] == ["worker"]
    assert commands["orbitask-migrate"] == ["db", "upgrade"]


@pytest.mark.parametrize("region", REGIONS)
def test_the_alb_routes_paths_to_services_and_websockets_to_realtime(synth: Synthesised, region: str) -> None:
    t = template(synth, region)
    groups = {}
    for service in resources(synth, region, "AWS::ECS::Service").values():
        for lb in service["Properties"].get("LoadBalancers", []):
            groups[lb["TargetGroupArn"]["Ref"]] = service["Properties"]["ServiceName"].removeprefix("orbitask-")
    assert sorted(groups.values()) == sorted(s for s in SERVICES if s != "worker")
    routes: dict[str, str] = {}
    for rule in resources(synth, region, "AWS::ElasticLoadBalancingV2::ListenerRule").values():
        target = groups[rule["Properties"]["Actions"][0]["TargetGroupArn"]["Ref"]]
        for condition in rule["Properties"]["Conditions"]:
            for pattern in condition["PathPatternConfig"]["Values"]:
                routes[pattern] = target
    assert routes["/api/v1/ws"] == "realtime" and routes["/api/v1/ws/*"] == "realtime"
    assert routes["/api/v1/cards/*"] == "tasks" and routes["/api/v1/auth/*"] == "auth"
    assert routes["/api/v1/workspaces/*/boards"] == "boards"
    https = [li["Properties"] for li in resources(synth, region, "AWS::ElasticLoadBalancingV2::Listener").values()
             if li["Properties"]["Port"] == 443]
    assert groups[https[0]["DefaultActions"][0]["TargetGroupArn"]["Ref"]] == "boards"
    t.has_resource_properties("AWS::ElasticLoadBalancingV2::Listener", {
        "Port": 80, "DefaultActions": [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443",
                                                                               "StatusCode": "HTTP_301"}}]})
    alb = next(iter(resources(synth, region, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()))
    attributes = {a["Key"]: a["Value"] for a in alb["Properties"]["LoadBalancerAttributes"]}
    assert int(attributes["idle_timeout.timeout_seconds"]) >= 300  # WebSockets stay open between heartbeats
    t.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)


@pytest.mark.parametrize("region", REGIONS)
def test_the_app_environment_names_the_region_its_peers_and_no_secret(synth: Synthesised, region: str) -> None:
    task = next(t for t in resources(synth, region, "AWS::ECS::TaskDefinition").values()
                if t["Properties"]["Family"] == "orbitask-tasks")
    app = task["Properties"]["ContainerDefinitions"][0]
    env = {e["Name"]: e["Value"] for e in app["Environment"]}
    assert env["ORBITASK_ENV"] == "production" and env["ORBITASK_REGION"] == region
    peers = json.loads(env["ORBITASK_REGIONS"])
    assert [p["name"] for p in peers] == list(REGIONS)
    assert all(p["internal_url"] == f"https://{p['name']}.api.orbitask.example.com" for p in peers)
    assert env["ORBITASK_FORWARDED_ALLOW_IPS"] == {"Fn::GetAtt": ["Vpc8378EB38", "CidrBlock"]}
    # links name CloudFront's domain; production answers it, the latency-routed name CloudFront reaches the ALBs
    # by, and each region's own name (from ORBITASK_REGIONS), and refuses any other Host
    assert env["ORBITASK_PUBLIC_URL"] == "https://app.orbitask.example.com"
    assert env["ORBITASK_ALLOWED_HOSTS"] == "api.orbitask.example.com"
    settings = Settings(env="production", secret_key="x" * 40, database_url="mysql+asyncmy://o@db/o",
                        regions=peers, public_url=env["ORBITASK_PUBLIC_URL"],
                        allowed_hosts=env["ORBITASK_ALLOWED_HOSTS"], region=region)
    assert {"app.orbitask.example.com", "api.orbitask.example.com", f"{region}.api.orbitask.example.com"} <= set(
        allowed_hosts(settings))
    assert "Files" in text(env["ORBITASK_S3_BUCKET"]) and env["ORBITASK_S3_REGION"] == region
    assert not {"ORBITASK_SECRET_KEY", "ORBITASK_DATABASE_PASSWORD", "ORBITASK_FORWARD_SECRET"} & set(env)


@pytest.mark.parametrize("region", REGIONS)
def test_redis_is_encrypted_and_multi_az(synth: Synthesised, region: str) -> None:
    template(synth, region).has_resource_properties("AWS::ElastiCache::ReplicationGroup", {
        "Engine": "redis", "EngineVersion": "7.1", "NumCacheClusters": 2, "MultiAZEnabled": True,
        "AutomaticFailoverEnabled": True, "TransitEncryptionEnabled": True, "AtRestEncryptionEnabled": True,
    })
    task = next(iter(resources(synth, region, "AWS::ECS::TaskDefinition").values()))
    env = {e["Name"]: e["Value"] for e in task["Properties"]["ContainerDefinitions"][0]["Environment"]}
    assert "rediss://" in text(env["ORBITASK_REDIS_URL"]) and "Redis" in text(env["ORBITASK_REDIS_URL"])


@pytest.mark.parametrize("region", REGIONS)
def test_the_bucket_is_versioned_kms_encrypted_and_replicates_to_both_other_regions(synth: Synthesised,
                                                                                     region: str) -> None:
    # besides the access-log bucket (tests/deploy/test_aws_operations.py)
    (bucket,) = [b for b in resources(synth, region, "AWS::S3::Bucket").values()
                 if b["Properties"]["BucketName"] == f"orbitask-files-123456789012-{region}"]
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    encryption = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert encryption["SSEAlgorithm"] == "aws:kms" and "Key" in text(encryption["KMSMasterKeyID"])
    rules = props["ReplicationConfiguration"]["Rules"]
    others = [r for r in REGIONS if r != region]
    # a literal ARN with @aws-cdk/core:enablePartitionLiterals (cdk.json), a join on the partition without it
    destinations = [text(r["Destination"]["Bucket"]) for r in rules]
    assert len(destinations) == len(others)
    assert all(f':s3:::orbitask-files-123456789012-{o}"' in d for d, o in zip(destinations, others, strict=True))
    for rule, other in zip(rules, others, strict=True):
        # the destination's replica of the same multi-region key
        assert f":kms:{other}:" in text(rule["Destination"]["EncryptionConfiguration"]["ReplicaKmsKeyID"])
        assert rule["SourceSelectionCriteria"] == {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
        assert rule["DeleteMarkerReplication"] == {"Status": "Enabled"} and rule["Status"] == "Enabled"


def test_the_kms_key_is_multi_region_with_a_replica_in_each_secondary(synth: Synthesised) -> None:
    template(synth, PRIMARY).has_resource_properties("AWS::KMS::Key", {"MultiRegion": True, "EnableKeyRotation": True})
    for region in SECONDARIES:
        (replica,) = resources(synth, region, "AWS::KMS::ReplicaKey").values()
        assert "PrimaryKeyArn" in replica["Properties"]


def test_aurora_global_database_writer_in_the_primary_secondaries_elsewhere(synth: Synthesised) -> None:
    from aws_cdk.assertions import Match

    primary = template(synth, PRIMARY)
    primary.has_resource_properties("AWS::RDS::GlobalCluster", {
        "GlobalClusterIdentifier": "orbitask-global", "SourceDBClusterIdentifier": Match.any_value()})
    primary.has_resource_properties("AWS::RDS::DBCluster", {
        "Engine": "aurora-mysql", "StorageEncrypted": True, "DeletionProtection": True,
        "DBClusterIdentifier": "orbitask-us-east-1"})
    primary.resource_count_is("AWS::RDS::DBInstance", 2)  # writer + one reader
    for region in SECONDARIES:
        (cluster,) = resources(synth, region, "AWS::RDS::DBCluster").values()
        props = cluster["Properties"]
        assert props["GlobalClusterIdentifier"] == "orbitask-global"
        assert props["StorageEncrypted"] is True and "MasterUsername" not in props
        task = next(iter(resources(synth, region, "AWS::ECS::TaskDefinition").values()))
        env = {e["Name"]: e["Value"] for e in task["Properties"]["ContainerDefinitions"][0]["Environment"]}
        assert "ReadEndpoint.Address" in text(env["ORBITASK_DATABASE_READER_URL"])
        assert text(env["ORBITASK_DATABASE_URL"]).startswith('{"Fn::Join": ["", ["mysql+asyncmy://orbitask_app@')


def test_route53_latency_records_each_have_a_health_check(synth: Synthesised) -> None:
    checks = resources(synth, "global", "AWS::Route53::HealthCheck")
    by_name = {c["Properties"]["HealthCheckConfig"]["FullyQualifiedDomainName"]: k for k, c in checks.items()}
    assert set(by_name) == {f"{r}.api.orbitask.example.com" for r in REGIONS}
    assert all(c["Properties"]["HealthCheckConfig"]["ResourcePath"] == "/readyz" for c in checks.values())
    latency = [r["Properties"] for r in resources(synth, "global", "AWS::Route53::RecordSet").values()
               if r["Properties"].get("Region")]
    assert sorted(r["Region"] for r in latency) == sorted(REGIONS)
    for record in latency:
        assert record["Name"] == "api.orbitask.example.com."
        check_id = by_name[f"{record['Region']}.api.orbitask.example.com"]
        assert record["HealthCheckId"] == {"Fn::GetAtt": [check_id, "HealthCheckId"]}
    alarms = [a["Properties"] for a in resources(synth, "global", "AWS::CloudWatch::Alarm").values()]
    # besides CloudFront's (tests/deploy/test_aws_operations.py)
    assert sorted(a["AlarmName"] for a in alarms if "region-down" in a["AlarmName"]) == sorted(
        f"orbitask-region-down-{r}" for r in REGIONS)


def test_cloudfront_serves_the_web_bundle_api_and_attachments_behind_waf(synth: Synthesised) -> None:
    (dist,) = resources(synth, "global", "AWS::CloudFront::Distribution").values()
    config = dist["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    behaviours = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert set(behaviours) == {"/api/*", "/files/*"}
    api_origin = origins[behaviours["/api/*"]["TargetOriginId"]]
    assert api_origin["DomainName"] == "api.orbitask.example.com"
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    files_origin = origins[behaviours["/files/*"]["TargetOriginId"]]
    assert "orbitask-files-123456789012-us-east-1" in text(files_origin["DomainName"])
    assert "OriginAccessControlId" in files_origin and behaviours["/files/*"]["TrustedKeyGroups"]
    web_origin = origins[config["DefaultCacheBehavior"]["TargetOriginId"]]
    assert "OriginAccessControlId" in web_origin
    assert "Waf" in text(config["WebACLId"])


@pytest.mark.parametrize("stack", ["global", PRIMARY])
def test_the_waf_has_the_managed_rule_groups_and_a_rate_rule(synth: Synthesised, stack: str) -> None:
    (acl,) = resources(synth, stack, "AWS::WAFv2::WebACL").values()
    props = acl["Properties"]
    assert props["Scope"] == ("CLOUDFRONT" if stack == "global" else "REGIONAL")
    groups = [r["Statement"]["ManagedRuleGroupStatement"]["Name"] for r in props["Rules"]
              if "ManagedRuleGroupStatement" in r["Statement"]]
    # bot control on CloudFront only (the web app's paths: test_aws_hardening.py), never on the API's ALBs
    assert groups == ["AWSManagedRulesCommonRuleSet", "AWSManagedRulesSQLiRuleSet",
                      "AWSManagedRulesKnownBadInputsRuleSet",
                      *(["AWSManagedRulesBotControlRuleSet"] if stack == "global" else [])]
    (rate,) = [r for r in props["Rules"] if "RateBasedStatement" in r["Statement"]]
    assert rate["Action"] == {"Block": {}} and rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"


def test_secrets_are_replicated_to_every_other_region(synth: Synthesised) -> None:
    secrets = resources(synth, PRIMARY, "AWS::SecretsManager::Secret")
    names = sorted(s["Properties"]["Name"] for s in secrets.values())
    assert names == ["orbitask/db", "orbitask/db-app", "orbitask/forward-secret", "orbitask/secret-key",
                     "orbitask/smtp"]
    for secret in secrets.values():
        assert [r["Region"] for r in secret["Properties"]["ReplicaRegions"]] == list(SECONDARIES)
    for region in REGIONS:
        task = next(iter(resources(synth, region, "AWS::ECS::TaskDefinition").values()))
        injected = {s["Name"]: text(s["ValueFrom"]) for s in task["Properties"]["ContainerDefinitions"][0]["Secrets"]}
        assert set(injected) == {"ORBITASK_SECRET_KEY", "ORBITASK_FORWARD_SECRET", "ORBITASK_SMTP_USERNAME",
                                 "ORBITASK_SMTP_PASSWORD", "ORBITASK_DATABASE_PASSWORD"}
        # the primary's own secrets are referenced directly, the replicas by the complete ARN the primary exports
        assert all(("ExportsReader" in ref) == (region != PRIMARY) for ref in injected.values()), injected
        assert "Appdbapp" in injected["ORBITASK_DATABASE_PASSWORD"]  # the app's user, not the master user
        assert injected["ORBITASK_SMTP_USERNAME"].endswith(':username::"]]}')


@pytest.mark.parametrize("region", REGIONS)
def test_task_roles_have_least_privilege(synth: Synthesised, region: str) -> None:
    roles = {k: r for k, r in resources(synth, region, "AWS::IAM::Role").items()
             if "ecs-tasks.amazonaws.com" in text(r["Properties"]["AssumeRolePolicyDocument"])}
    policies = resources(synth, region, "AWS::IAM::Policy").values()
    s3_roles = set()
    for policy in policies:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert "*" not in actions and not any(a.endswith(":*") for a in actions), statement
            if any(a.startswith("s3:") for a in actions):
                s3_roles.update(r["Ref"] for r in policy["Properties"]["Roles"] if r["Ref"] in roles)
    assert sorted(k.removesuffix("TaskRole")[:8] for k in s3_roles) == ["tasksTas", "workerTa"]


@pytest.mark.parametrize("region", REGIONS)
def test_alarms_on_replication_lag_5xx_and_latency_notify_sns(synth: Synthesised, region: str) -> None:
    alarms = [a["Properties"] for a in resources(synth, region, "AWS::CloudWatch::Alarm").values()]
    (topic,) = resources(synth, region, "AWS::SNS::Topic")
    # on-call's further alarms (tasks, targets, Aurora, Redis, WAF, canary): tests/deploy/test_aws_operations.py
    assert {a["AlarmName"].removeprefix(f"orbitask-{region}-") for a in alarms} >= {
        "5xx", "latency-p99", "replication-lag", "failover-errors", "failover-dlq", "watcher-silent"}
    assert all(a["AlarmActions"] == [{"Ref": topic}] for a in alarms)
    metrics = text(alarms)
    assert "HTTPCode_Target_5XX_Count" in metrics and "TargetResponseTime" in metrics
    assert ("AuroraReplicaLagMaximum" if region == PRIMARY else "AuroraGlobalDBReplicationLag") in metrics


@pytest.mark.parametrize("region", REGIONS)
def test_rds_global_cluster_events_invoke_the_failover_lambda(synth: Synthesised, region: str) -> None:
    (rule,) = resources(synth, region, "AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"]["source"] == ["aws.rds"]
    assert rule["Properties"]["EventPattern"]["detail"] == {"EventCategories": ["global-failover"]}
    functions = {k: f for k, f in resources(synth, region, "AWS::Lambda::Function").items()
                 if f["Properties"].get("PackageType") == "Image"}
    (fn_id, fn), = functions.items()
    assert {"Fn::GetAtt": [fn_id, "Arn"]} in [t["Arn"] for t in rule["Properties"]["Targets"]]
    image = fn["Properties"]["ImageConfig"]
    assert image["EntryPoint"] == ["python", "-m", "awslambdaric"]
    module, _, name = image["Command"][0].rpartition(".")
    assert callable(getattr(__import__(module, fromlist=[name]), name))  # the handler exists in the app
    env = fn["Properties"]["Environment"]["Variables"]
    assert env["ORBITASK_GLOBAL_CLUSTER"] == "orbitask-global" and env["ORBITASK_FAILOVER_ORDER"] == ",".join(REGIONS)
    granted = text([p["Properties"]["PolicyDocument"] for p in resources(synth, region, "AWS::IAM::Policy").values()])
    assert "rds:SwitchoverGlobalCluster" in granted and "rds:FailoverGlobalCluster" in granted


def test_a_budget_mails_on_actual_and_forecast_spend(synth: Synthesised) -> None:
    (budget,) = resources(synth, "global", "AWS::Budgets::Budget").values()
    props = budget["Properties"]
    assert props["Budget"]["BudgetLimit"] == {"Amount": 2000, "Unit": "USD"}
    kinds = {n["Notification"]["NotificationType"] for n in props["NotificationsWithSubscribers"]}
    assert kinds == {"ACTUAL", "FORECASTED"}


def test_ecr_replicates_and_the_pipeline_tests_builds_and_deploys_regions_in_order(synth: Synthesised) -> None:
    t = template(synth, "delivery")
    t.has_resource_properties("AWS::ECR::Repository", {"RepositoryName": "orbitask", "ImageTagMutability": "IMMUTABLE"})
    (replication,) = resources(synth, "delivery", "AWS::ECR::ReplicationConfiguration").values()
    (rule,) = replication["Properties"]["ReplicationConfiguration"]["Rules"]
    assert [d["Region"] for d in rule["Destinations"]] == list(SECONDARIES)
    (pipeline,) = resources(synth, "delivery", "AWS::CodePipeline::Pipeline").values()
    stages = {s["Name"]: s["Actions"] for s in pipeline["Properties"]["Stages"]}
    build_specs = text(resources(synth, "delivery", "AWS::CodeBuild::Project"))
    assert "make test" not in build_specs and "push-image.sh" in build_specs and "migrate.sh" in build_specs
    order = {a["Name"]: a["RunOrder"] for a in stages["Production"]}
    # the global stack first: the primary's bucket and key name its distribution, the regions use its topic
    deploys = ["orbitask-global.Deploy"] + [f"orbitask-{r}.Deploy" for r in REGIONS]
    assert [order[d] for d in deploys] == sorted(order[d] for d in deploys)
    assert len({order[d] for d in deploys}) == len(deploys)  # one after another, never two at once
    assert order["Migrate"] < order[deploys[0]] < order[deploys[-1]] < order["MigrateAfterDeploy"]
    assert order["MigrateAfterDeploy"] < order["PublishWeb"] and "publish-web.sh" in build_specs


def test_cfn_lint_reports_no_errors_on_any_template(synth: Synthesised) -> None:
    files = synth.template_files()
    assert len(files) >= 5
    errors = cfn_lint_errors(files)
    assert errors == [], "\n".join(errors)


def test_a_bad_config_is_refused_with_the_field_named() -> None:
    config = import_app().config
    good = {"name": "orbitask", "account": "123456789012", "regions": list(REGIONS), "domain": "a.example.com",
            "api_domain": "api.example.com", "hosted_zone_id": "Z1", "hosted_zone_name": "example.com",
            "alarm_email": "a@example.com", "monthly_budget_usd": 100, "source_repository": "o/r",
            "source_branch": "main", "source_connection_arn": "arn:aws:codeconnections:us-east-1:1:connection/x"}
    assert config.parse(good).primary == PRIMARY
    for change, message in (({"regions": ["us-east-1", "mars-1"]}, "regions"), ({"account": "12"}, "account"),
                            ({"colour": "red"}, "unknown config keys"), ({"domain": ""}, "missing config keys"),
                            ({"writer_region": "eu-central-1"}, "writer_region"),
                            ({"services": {"search": {}}}, "unknown service 'search'")):
        with pytest.raises(config.ConfigError, match=message):
            config.parse({**good, **change})
