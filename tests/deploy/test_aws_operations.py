"""Operations in the AWS app (issue 29, point 8): the recommended CDK feature flags, the attachment settings the
app needs, WAF/ALB/VPC/CloudFront logs, dashboards, on-call alarms, Synthetics canaries, and the demo profile.

Most tests read the templates the session synthesised once (tests/deploy/conftest.py); the demo profile is
synthesised here once more, through app.py as the pipeline runs it (which applies cdk.json's flags).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from orbitask.config import Settings
from orbitask.regions import aws_lambda
from tests.deploy.cdk import (
    DEPLOY_AWS,
    EXAMPLE_CONFIG,
    Synthesised,
    cfn_lint_errors,
    import_app,
    require_toolchain,
    resources,
    text,
)
from tests.deploy.test_aws_hardening import app_containers, environment, resolve

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")
PRIMARY, SECONDARIES = REGIONS[0], REGIONS[1:]
HTTP_SERVICES = ("auth", "boards", "tasks", "notifications", "realtime")
SERVICES = (*HTTP_SERVICES, "worker")
# recommended flags deliberately left at another value, and why (docs/deploy-aws.md, "Operations")
FLAG_EXCEPTIONS = {
    # "weak" reads other stacks' outputs with Fn::GetStackOutput, which cfn-lint rejects inside the Fn::Split that
    # names secret replicas, which lets the primary stack be deleted under its secondaries, and which an existing
    # deployment can only reach through "both"
    "@aws-cdk/core:defaultCrossStackReferences": "strong",
}


def recommended_flags() -> dict[str, Any]:
    """The feature flags `cdk init` writes for the installed aws-cdk-lib (its recommended-feature-flags.json)."""
    import aws_cdk

    (bundle,) = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    with tarfile.open(bundle) as tar:
        member = tar.extractfile("package/recommended-feature-flags.json")
        assert member is not None
        return json.load(member)


def test_every_recommended_feature_flag_is_set_to_its_recommended_value() -> None:
    context = json.loads((DEPLOY_AWS / "cdk.json").read_text())["context"]
    recommended = recommended_flags()
    assert len(recommended) > 80 and set(FLAG_EXCEPTIONS) <= set(recommended)
    wrong = {flag: context.get(flag, "unset") for flag, value in recommended.items()
             if context.get(flag, "unset") != FLAG_EXCEPTIONS.get(flag, value)}
    assert wrong == {}


# -- the demo profile, synthesised by app.py ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The demo profile's production stage (regions.example.yaml with `profile: demo`), by stack name; app.py runs
    cdk-nag too, as `--nag` asks, and a finding would fail it."""
    require_toolchain()
    tmp = tmp_path_factory.mktemp("demo")
    raw = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    raw.pop("nat_gateways")  # the demo refuses any
    raw.update(profile="demo", regions=raw["regions"][:2])
    (tmp / "regions.yaml").write_text(yaml.safe_dump(raw))
    done = subprocess.run([sys.executable, str(DEPLOY_AWS / "app.py"), "--config", str(tmp / "regions.yaml"),
                           "--outdir", str(tmp / "out"), "--image-tag", "demo-tag", "--nag"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    (stage,) = (tmp / "out").glob("assembly-*-Production")
    artifacts = json.loads((stage / "manifest.json").read_text())["artifacts"].values()
    return {a["displayName"].rsplit("/", 1)[1].removeprefix("orbitask-"):
            json.loads((stage / a["properties"]["templateFile"]).read_text())
            for a in artifacts if a["type"] == "aws:cloudformation:stack"}


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_the_demo_runs_arm64_spot_tasks_without_nat_and_one_waf_on_cloudfront(demo: dict[str, Any]) -> None:
    regions = [name for name in demo if name != "global"]
    assert regions == list(REGIONS[:2])
    for region in regions:
        template = demo[region]
        services = of_type(template, "AWS::ECS::Service").values()
        assert len(services) == len(SERVICES)
        for service in services:
            props = service["Properties"]
            assert props["CapacityProviderStrategy"] == [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}]
            assert "LaunchType" not in props and props["DesiredCount"] == 1
            assert props["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "ENABLED"
        for task in of_type(template, "AWS::ECS::TaskDefinition").values():
            assert task["Properties"]["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
        (failover,) = [f for f in of_type(template, "AWS::Lambda::Function").values()
                       if f["Properties"].get("PackageType") == "Image"]
        assert failover["Properties"]["Architectures"] == ["arm64"]  # the same image as the tasks
        assert not of_type(template, "AWS::EC2::NatGateway")
        assert not of_type(template, "AWS::EC2::VPCEndpoint") or all(
            e["Properties"].get("VpcEndpointType") == "Gateway" for e in of_type(template, "AWS::EC2::VPCEndpoint").values())
        assert not of_type(template, "AWS::WAFv2::WebACL") and not of_type(template, "AWS::WAFv2::WebACLAssociation")
        assert of_type(template, "Custom::VpcRestrictDefaultSG")  # a recommended flag reached the app
    (acl_id, acl), = of_type(demo["global"], "AWS::WAFv2::WebACL").items()
    assert acl["Properties"]["Scope"] == "CLOUDFRONT"
    (dist,) = of_type(demo["global"], "AWS::CloudFront::Distribution").values()
    assert dist["Properties"]["DistributionConfig"]["WebACLId"] == {"Fn::GetAtt": [acl_id, "Arn"]}


def test_the_demo_templates_pass_cfn_lint(demo: dict[str, Any], tmp_path: Path) -> None:
    files = []
    for name, template in demo.items():
        files.append(tmp_path / f"{name}.template.json")
        files[-1].write_text(json.dumps(template))
    errors = cfn_lint_errors(files)
    assert errors == [], "\n".join(errors)


# -- the attachment settings the app gets ------------------------------------------------------------------------


def test_the_files_service_knows_every_other_regions_bucket_and_may_read_it(synth: Synthesised) -> None:
    for region in REGIONS:
        containers = app_containers(synth, region)
        env = environment(containers["tasks"])
        peers = json.loads(env["ORBITASK_STORAGE_REGIONS"])
        others = [r for r in REGIONS if r != region]
        assert peers == {r: {"backend": "s3", "bucket": f"orbitask-files-123456789012-{r}", "region": r} for r in others}
        settings = Settings(env="production", secret_key="x" * 40, database_url="mysql+asyncmy://o@db/o",
                            region=region, storage_backend="s3", s3_bucket="b", storage_regions=peers)
        assert set(settings.storage_regions) == set(others)
        # S3 replicates (replicate_attachments): a worker with peers would copy every file a second time
        assert "ORBITASK_STORAGE_REGIONS" not in environment(containers["worker"])
        (task,) = [t for t in resources(synth, region, "AWS::ECS::TaskDefinition").values()
                   if t["Properties"]["Family"] == "orbitask-tasks"]
        role = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
        statements = [s for p in resources(synth, region, "AWS::IAM::Policy").values()
                      if {"Ref": role} in p["Properties"]["Roles"] for s in p["Properties"]["PolicyDocument"]["Statement"]]
        reads = text([s for s in statements if s["Action"] == "s3:GetObject"])
        decrypts = text([s for s in statements if s["Action"] == "kms:Decrypt"])
        for other in others:
            assert f"arn:aws:s3:::orbitask-files-123456789012-{other}/*" in reads
            assert other in decrypts  # the other region's replica of the key


def test_the_writer_regions_files_service_signs_cloudfront_urls_with_a_secret_key(synth: Synthesised) -> None:
    containers = app_containers(synth, PRIMARY)
    tasks = containers["tasks"]
    env = environment(tasks)
    assert env["ORBITASK_CLOUDFRONT_URL"] == "https://app.orbitask.example.com/files"
    (key_id,) = resources(synth, "global", "AWS::CloudFront::PublicKey")
    assert key_id in text(env["ORBITASK_CLOUDFRONT_KEY_ID"])  # the global stack's key, by reference
    assert "ORBITASK_CLOUDFRONT_PRIVATE_KEY" not in env  # key material is never a plain value
    (secret,) = [s for s in tasks["Secrets"] if s["Name"] == "ORBITASK_CLOUDFRONT_PRIVATE_KEY"]
    assert ":secret:orbitask/cloudfront-key" in text(secret["ValueFrom"])
    for name in [*env, *(s["Name"] for s in tasks["Secrets"])]:  # every variable is a setting the app reads
        if name.startswith("ORBITASK_"):
            assert name.removeprefix("ORBITASK_").lower() in Settings.model_fields, name
    for family, container in containers.items():  # only the service that answers downloads holds the key
        if family != "tasks":
            assert "CLOUDFRONT" not in text(container), family
    for region in SECONDARIES:  # CloudFront's /files/* origin is the primary's bucket, not theirs
        assert "CLOUDFRONT" not in text(app_containers(synth, region))


# -- logs ---------------------------------------------------------------------------------------------------------


def test_every_web_acl_logs_to_a_waf_log_group_without_credentials(synth: Synthesised) -> None:
    for stack in ("global", *REGIONS):
        (acl_id,) = resources(synth, stack, "AWS::WAFv2::WebACL")
        (logging,) = resources(synth, stack, "AWS::WAFv2::LoggingConfiguration").values()
        assert logging["Properties"]["ResourceArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
        (group_id,) = [k for k, v in resources(synth, stack, "AWS::Logs::LogGroup").items()
                       if str(v["Properties"].get("LogGroupName", "")).startswith("aws-waf-logs-")]
        assert group_id in text(logging["Properties"]["LogDestinationConfigs"])
        redacted = logging["Properties"]["RedactedFields"]
        assert {"authorization", "cookie"} <= {f["SingleHeader"]["Name"] for f in redacted if "SingleHeader" in f}
        assert {"QueryString": {}} in redacted  # unsubscribe links carry their token there
        kept = logging["Properties"]["LoggingFilter"]
        assert kept["DefaultBehavior"] == "DROP"  # allowed requests (and the tokens in their paths) stay out
        assert {c["ActionCondition"]["Action"] for c in kept["Filters"][0]["Conditions"]} >= {"BLOCK", "COUNT"}


def bucket_is_private_tls_only_and_expires(synth: Synthesised, stack: str, bucket_id: str) -> None:
    bucket = resources(synth, stack, "AWS::S3::Bucket")[bucket_id]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert [r for r in bucket["LifecycleConfiguration"]["Rules"] if r.get("ExpirationInDays")]
    policies = [p["Properties"]["PolicyDocument"] for p in resources(synth, stack, "AWS::S3::BucketPolicy").values()
                if p["Properties"]["Bucket"] == {"Ref": bucket_id}]
    assert [s for p in policies for s in p["Statement"] if s["Effect"] == "Deny"
            and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]


@pytest.mark.parametrize("region", REGIONS)
def test_the_alb_logs_to_an_encrypted_tls_only_expiring_bucket_and_the_vpc_logs_its_flows(synth: Synthesised,
                                                                                         region: str) -> None:
    (alb,) = resources(synth, region, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    attributes = {a["Key"]: a["Value"] for a in alb["Properties"]["LoadBalancerAttributes"]}
    assert attributes["access_logs.s3.enabled"] == "true"
    bucket_is_private_tls_only_and_expires(synth, region, attributes["access_logs.s3.bucket"]["Ref"])
    (vpc_id,) = resources(synth, region, "AWS::EC2::VPC")
    (flow,) = resources(synth, region, "AWS::EC2::FlowLog").values()
    assert flow["Properties"]["ResourceId"] == {"Ref": vpc_id} and flow["Properties"]["TrafficType"] == "ALL"


def test_cloudfront_writes_standard_logs_to_an_expiring_bucket(synth: Synthesised) -> None:
    (dist,) = resources(synth, "global", "AWS::CloudFront::Distribution").values()
    logging = dist["Properties"]["DistributionConfig"]["Logging"]
    bucket_id = logging["Bucket"]["Fn::GetAtt"][0]
    bucket_is_private_tls_only_and_expires(synth, "global", bucket_id)


# -- dashboards and the watcher's metrics --------------------------------------------------------------------------


def dashboard_body(synth: Synthesised, stack: str) -> str:
    (board,) = resources(synth, stack, "AWS::CloudWatch::Dashboard").values()
    return resolve(board["Properties"]["DashboardBody"])


@pytest.mark.parametrize("region", REGIONS)
def test_each_region_has_a_dashboard_of_latency_errors_lag_forwarding_and_failover(synth: Synthesised,
                                                                                  region: str) -> None:
    body = dashboard_body(synth, region)
    services = import_app().services
    for needle in ('"TargetResponseTime"', '"stat":"p50"', '"stat":"p99"', "HTTPCode_Target_5XX_Count",
                   "AuroraGlobalDBReplicationLag", "orbitask_relay_lag_seconds", "orbitask_forwarded_requests_total",
                   '"Orbitask/Failover"', "UnhealthyVotes", "FailoverRuns", "RunningTaskCount", "alarms"):
        assert needle in body, needle
    for metric in ("orbitask_relay_lag_seconds", "orbitask_forwarded_requests_total", "orbitask_replica_lag_events"):
        assert metric in services.EXPORTED_METRICS  # the collector sends what the dashboard searches for


def test_the_collector_sends_the_apps_metrics_to_cloudwatch_from_every_http_service(synth: Synthesised) -> None:
    services = import_app().services
    for region in REGIONS:
        for task in resources(synth, region, "AWS::ECS::TaskDefinition").values():
            family = task["Properties"]["Family"].removeprefix("orbitask-")
            (otel,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == "otel"]
            config = json.loads(environment(otel)["AOT_CONFIG_CONTENT"])
            assert config["service"]["pipelines"]["traces"]["exporters"] == ["awsxray"]
            if family not in HTTP_SERVICES:
                assert "metrics" not in config["service"]["pipelines"], family
                continue
            (scrape,) = config["receivers"]["prometheus"]["config"]["scrape_configs"]
            assert scrape["static_configs"][0]["targets"] == [f"127.0.0.1:{services.APP_PORT}"]
            assert scrape["metrics_path"] == "/metrics"
            emf = config["exporters"]["awsemf"]
            assert emf["namespace"] == services.METRICS_NAMESPACE and "$" not in json.dumps(emf)


def test_the_global_dashboard_shows_every_regions_health_check_watcher_and_cloudfront(synth: Synthesised) -> None:
    body = dashboard_body(synth, "global")
    for region in REGIONS:
        (check_id,) = [k for k, c in resources(synth, "global", "AWS::Route53::HealthCheck").items()
                       if c["Properties"]["HealthCheckTags"][0]["Value"] == f"orbitask-{region}"]
        assert f"<{check_id}.HealthCheckId>" in body
        assert f'"region":"{region}"' in body
    for needle in ("HealthCheckStatus", "5xxErrorRate", "4xxErrorRate", "UnhealthyVotes", "FailoverRuns",
                   "BlockedRequests"):
        assert needle in body, needle


@pytest.fixture
def lambda_log(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """The failover Lambda's log line for an outcome, as Lambda gets it (the handler configures no logging)."""
    saved = structlog.get_config()
    structlog.reset_defaults()

    def line(outcome: dict[str, Any]) -> str:
        aws_lambda.log.info("failover_lambda", **outcome)
        return capsys.readouterr().out

    try:
        yield line
    finally:
        structlog.configure(**saved)


def matches(pattern: str, line: str) -> bool:
    """CloudWatch Logs' term pattern: every quoted term occurs in the line."""
    return all(term in line for term in shlex.split(pattern))


def test_the_watchers_log_lines_become_metrics(synth: Synthesised, lambda_log: Any) -> None:
    ops = import_app().ops
    for region in REGIONS:
        filters = {f["Properties"]["MetricTransformations"][0]["MetricName"]: f["Properties"]
                   for f in resources(synth, region, "AWS::Logs::MetricFilter").values()}
        assert {name: f["FilterPattern"] for name, f in filters.items()} == ops.WATCHER_METRICS
        (fn,) = [f for f in resources(synth, region, "AWS::Lambda::Function").values()
                 if f["Properties"].get("FunctionName") == f"orbitask-failover-{region}"]
        group = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert all(f["LogGroupName"] == {"Ref": group} for f in filters.values())
    patterns = ops.WATCHER_METRICS
    down = lambda_log({"done": "vote", "writer": PRIMARY, "healthy": False, "unhealthy_votes": []})
    up = lambda_log({"done": "vote", "writer": PRIMARY, "healthy": True, "unhealthy_votes": []})
    ran = lambda_log({"done": "failover", "writer": "eu-west-1", "epoch": 2, "planned": False})
    assert [matches(patterns["WatcherTicks"], x) for x in (down, up, ran)] == [True, True, True]
    assert [matches(patterns["UnhealthyVotes"], x) for x in (down, up, ran)] == [True, False, False]
    assert [matches(patterns["FailoverRuns"], x) for x in (down, up, ran)] == [False, False, True]


# -- alarms -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", REGIONS)
def test_on_call_alarms_cover_tasks_targets_aurora_redis_and_waf(synth: Synthesised, region: str) -> None:
    alarms = {a["Properties"]["AlarmName"].removeprefix(f"orbitask-{region}-"): a["Properties"]
              for a in resources(synth, region, "AWS::CloudWatch::Alarm").values()}
    (topic,) = resources(synth, region, "AWS::SNS::Topic")
    wanted = {*(f"tasks-short-{s}" for s in SERVICES), *(f"unhealthy-{s}" for s in HTTP_SERVICES), "db-cpu",
              "db-memory", "db-connections", "redis-cpu", "redis-evictions", "waf-blocked", "canary"}
    assert wanted <= set(alarms)
    assert all(alarms[name]["AlarmActions"] == [{"Ref": topic}] for name in wanted)
    short = text(alarms["tasks-short-worker"]["Metrics"])
    assert "DesiredTaskCount" in short and "RunningTaskCount" in short and "orbitask-worker" in short
    assert alarms["unhealthy-realtime"]["MetricName"] == "UnHealthyHostCount"
    assert {alarms[n]["MetricName"] for n in ("db-cpu", "db-memory", "db-connections")} == {
        "CPUUtilization", "FreeableMemory", "DatabaseConnections"}
    assert alarms["db-memory"]["ComparisonOperator"] == "LessThanThreshold"
    (group,) = resources(synth, region, "AWS::ElastiCache::ReplicationGroup")
    for name, metric in (("redis-cpu", "EngineCPUUtilization"), ("redis-evictions", "Evictions")):
        nodes = [m["MetricStat"]["Metric"] for m in alarms[name]["Metrics"] if "MetricStat" in m]
        assert nodes and all(n["MetricName"] == metric and group in text(n["Dimensions"]) for n in nodes), name
    waf = alarms["waf-blocked"]
    assert waf["MetricName"] == "BlockedRequests" and {"Name": "Region", "Value": region} in waf["Dimensions"]


@pytest.mark.parametrize("region", REGIONS)
def test_a_service_deployment_rolls_back_on_the_regions_5xx_and_latency_alarms(synth: Synthesised, region: str) -> None:
    alarms = {a["Properties"]["AlarmName"]: logical_id
              for logical_id, a in resources(synth, region, "AWS::CloudWatch::Alarm").items()}
    names = [f"orbitask-{region}-5xx", f"orbitask-{region}-latency-p99"]
    services = resources(synth, region, "AWS::ECS::Service").values()
    assert len(services) == len(SERVICES)
    for service in services:
        deployment = service["Properties"]["DeploymentConfiguration"]
        assert deployment["Alarms"] == {"AlarmNames": names, "Enable": True, "Rollback": True}
        assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        # the alarms exist under exactly these names, before any service that names them
        assert {alarms[name] for name in names} <= set(service["DependsOn"])


def test_cloudfront_5xx_and_waf_spikes_alarm_the_health_topic(synth: Synthesised) -> None:
    alarms = {a["Properties"]["AlarmName"]: a["Properties"]
              for a in resources(synth, "global", "AWS::CloudWatch::Alarm").values()}
    (topic,) = resources(synth, "global", "AWS::SNS::Topic")
    assert alarms["orbitask-cdn-5xx"]["MetricName"] == "5xxErrorRate"
    assert alarms["orbitask-cdn-waf-blocked"]["MetricName"] == "BlockedRequests"
    assert all(alarms[n]["AlarmActions"] == [{"Ref": topic}] for n in ("orbitask-cdn-5xx", "orbitask-cdn-waf-blocked"))


# -- canaries -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", REGIONS)
def test_each_region_runs_a_canary_on_its_readyz_and_the_web_app(synth: Synthesised, region: str) -> None:
    (probe,) = resources(synth, region, "AWS::Synthetics::Canary").values()
    props = probe["Properties"]
    assert props["RuntimeVersion"] == import_app().ops.CANARY_RUNTIME.name  # pinned, never "latest"
    assert props["Code"]["Handler"] == "index.handler"
    script = props["Code"]["Script"]
    assert f"https://{region}.api.orbitask.example.com/readyz" in script and "https://app.orbitask.example.com/" in script
    assert props["StartCanaryAfterCreation"] is True


class Answers(BaseHTTPRequestHandler):
    """Answers each path with the status the test set for it."""

    statuses: dict[str, int] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(self.statuses.get(self.path, 404))
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def run_canary(script: str, urls: dict[str, str], statuses: dict[str, int]) -> subprocess.CompletedProcess[str]:
    """The canary's handler in Node, against a server on 127.0.0.1 (http for https, a stand-in Synthetics)."""
    node = shutil.which("node")
    assert node is not None, "CDK synthesis already needs Node.js"
    Answers.statuses = statuses
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        local = script
        for name, url in urls.items():  # each URL becomes /<its name> on the local server
            local = local.replace(url, f"{base}/{name}")
        runner = (
            "const Module = require('module'); const load = Module._load;"
            "Module._load = function (name, ...rest) {"
            "  if (name === 'Synthetics') return {executeStep: async (step, fn) => fn()};"
            "  if (name === 'https') return load.call(this, 'http', ...rest);"
            "  return load.call(this, name, ...rest); };"
            "const m = {exports: {}}; new Function('require', 'module', 'exports', process.argv[1])"
            "(require, m, m.exports);"
            "m.exports.handler().then(() => console.log('passed'), (e) => { console.log('failed: ' + e.message); });"
        )
        return subprocess.run([node, "-e", runner, local], capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_the_canary_fails_when_the_region_is_not_ready_or_the_web_app_is_down(synth: Synthesised) -> None:
    urls = {"readyz": "https://eu-west-1.api.orbitask.example.com/readyz", "web": "https://app.orbitask.example.com/"}
    script = import_app().ops.canary_script(urls)
    (probe,) = resources(synth, "eu-west-1", "AWS::Synthetics::Canary").values()
    assert probe["Properties"]["Code"]["Script"] == script
    assert run_canary(script, urls, {"/readyz": 200, "/web": 200}).stdout.strip() == "passed"
    assert "readyz answered 503" in run_canary(script, urls, {"/readyz": 503, "/web": 200}).stdout
    assert "web answered 404" in run_canary(script, urls, {"/readyz": 200}).stdout
