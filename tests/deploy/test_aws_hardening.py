"""The CDK app's fixes of issue 29: secrets named by complete ARN, regional DSNs, the web app's deep links,
the OTLP port, least-privilege PassRole and CloudFront grants, TLS and an app database user, scoped WAF rules.

Reads the templates the session synthesised once (tests/deploy/conftest.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.dialects.mysql.asyncmy import dialect as asyncmy_dialect
from sqlalchemy.engine import make_url

from orbitask.config import Settings
from orbitask.core.db import Database
from orbitask.regions.forwarding import SIGNATURE_HEADER
from tests.deploy.cdk import ROOT, Synthesised, import_app, resources, text

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")
PRIMARY, SECONDARIES = REGIONS[0], REGIONS[1:]
SERVICES = ("auth", "boards", "tasks", "notifications", "realtime", "worker")
# AWS reads a secret ARN whose name ends in a hyphen and six characters as complete (the random suffix)
LOOKS_COMPLETE = re.compile(r"-[A-Za-z0-9]{6}$")
NAMED_SECRET = re.compile(r":secret:([^:\"]+)")
# the collector's OTLP ports by protocol (OpenTelemetry's defaults, which the ADOT collector listens on)
OTLP_PORTS = {"http/protobuf": 4318, "grpc": 4317}


def strings(value: Any) -> Iterator[str]:
    """Every literal string in a template (inside intrinsic functions too)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def resolve(value: Any) -> str:
    """A property as the string CloudFormation would make, with `<LogicalId.Attribute>` for what it looks up."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve(p) for p in parts)
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if "Ref" in value:
        return f"<{value['Ref']}>"
    return f"<{text(value)}>"


def app_containers(synth: Synthesised, region: str) -> dict[str, dict[str, Any]]:
    """The app container of every task definition in REGION, by family without the `orbitask-` prefix."""
    return {task["Properties"]["Family"].removeprefix("orbitask-"): task["Properties"]["ContainerDefinitions"][0]
            for task in resources(synth, region, "AWS::ECS::TaskDefinition").values()}


def environment(container: dict[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container["Environment"]}


def cluster_id(synth: Synthesised, region: str) -> str:
    (logical_id,) = resources(synth, region, "AWS::RDS::DBCluster")
    return logical_id


def test_no_secret_is_named_by_a_partial_arn_that_aws_would_read_as_complete(synth: Synthesised) -> None:
    named: dict[str, set[str]] = {}
    templates = {**{f"stack {k}": v for k, v in synth.templates.items()},
                 **{str(path): json.loads(path.read_text()) for path in synth.template_files()}}
    for where, body in templates.items():
        for literal in strings(body):
            for name in NAMED_SECRET.findall(literal):
                named.setdefault(name.removesuffix("-??????"), set()).add(where)  # IAM's wildcard for the suffix
    assert {name: where for name, where in named.items() if LOOKS_COMPLETE.search(name)} == {}
    for region in SECONDARIES:  # every secret a secondary injects is its replica, by complete ARN
        for family, container in app_containers(synth, region).items():
            for secret in container["Secrets"]:
                ref = text(secret["ValueFrom"])
                assert "ExportsReader" in ref and f":secretsmanager:{region}:" in ref, (region, family, secret["Name"], ref)


@pytest.mark.parametrize("region", SECONDARIES)
def test_secondary_services_use_only_their_local_reader_so_readiness_stays_regional(synth: Synthesised,
                                                                                       region: str) -> None:
    db = cluster_id(synth, region)
    writer_endpoint, reader_endpoint = f"<{db}.Endpoint.Address>", f"<{db}.ReadEndpoint.Address>"
    containers = app_containers(synth, region)
    for service in SERVICES:
        env = environment(containers[service])
        assert not [k for k, v in env.items() if writer_endpoint in resolve(v)], service  # inactive on a secondary
        assert make_url(resolve(env["ORBITASK_DATABASE_READER_URL"])).host == reader_endpoint
        assert env["ORBITASK_WRITER_REGION"] == PRIMARY  # writes are forwarded there until the topology row says
    # the app's /readyz checks its writer and reader engines: here both, and primary_reader, are the local reader
    env = environment(containers["tasks"])
    settings = Settings(env="production", secret_key="x" * 40, database_url=resolve(env["ORBITASK_DATABASE_URL"]),
                        database_reader_url=resolve(env["ORBITASK_DATABASE_READER_URL"]), region=region,
                        regions=json.loads(env["ORBITASK_REGIONS"]), writer_region=env["ORBITASK_WRITER_REGION"])
    database = Database.from_settings(settings, replica=settings.multi_region or None)
    try:
        assert {make_url(str(e.url)).host for e in (database.writer, database.reader, database.primary_reader)} == {
            reader_endpoint}
        assert database.replica  # a token the replica has not reached is forwarded to the writer region
    finally:
        for engine in {database.writer, database.reader, database.primary_reader}:
            engine.sync_engine.dispose()


def test_the_writer_region_services_write_to_their_cluster_endpoint(synth: Synthesised) -> None:
    db = cluster_id(synth, PRIMARY)
    env = environment(app_containers(synth, PRIMARY)["tasks"])
    assert make_url(resolve(env["ORBITASK_DATABASE_URL"])).host == f"<{db}.Endpoint.Address>"
    assert make_url(resolve(env["ORBITASK_DATABASE_READER_URL"])).host == f"<{db}.ReadEndpoint.Address>"


def test_deep_links_get_the_web_app_by_a_function_on_the_web_behaviour_only(synth: Synthesised) -> None:
    (dist,) = resources(synth, "global", "AWS::CloudFront::Distribution").values()
    config = dist["Properties"]["DistributionConfig"]
    # a distribution-wide error page would answer the API's 404s (and S3's 403s) with index.html and a 200
    assert not [e for e in config.get("CustomErrorResponses", []) if e.get("ResponseCode") in (200, "200")]
    (spa,) = config["DefaultCacheBehavior"]["FunctionAssociations"]
    assert spa["EventType"] == "viewer-request"
    function_id = spa["FunctionARN"]["Fn::GetAtt"][0]
    behaviours = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert "FunctionAssociations" not in behaviours["/api/*"]  # the API's answers pass through untouched
    assert function_id not in text(config["CacheBehaviors"])
    code = resources(synth, "global", "AWS::CloudFront::Function")[function_id]["Properties"]["FunctionCode"]
    uris = ["/b/123", "/", "/settings/profile", "/assets/index-3f2a.js", "/favicon.ico", "/index.html"]
    assert run_function(code, uris) == ["/index.html", "/index.html", "/index.html", "/assets/index-3f2a.js",
                                        "/favicon.ico", "/index.html"]


def run_function(code: str, uris: list[str]) -> list[str]:
    """The CloudFront Function CODE run by Node on a viewer request for each URI; the URIs it passes on."""
    node = shutil.which("node")
    assert node is not None, "CDK synthesis already needs Node.js"
    requests = "JSON.stringify(" + json.dumps(uris) + ".map(u => handler({request: {uri: u, headers: {}}}).uri))"
    script = f"{code}\nconsole.log({requests});"
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_the_otlp_endpoint_is_the_collector_port_of_the_protocol_the_app_exports_with(synth: Synthesised) -> None:
    source = (ROOT / "src" / "orbitask" / "core" / "tracing.py").read_text()
    (kind,) = set(re.findall(r"opentelemetry\.exporter\.otlp\.proto\.(http|grpc)", source))
    protocol = "http/protobuf" if kind == "http" else "grpc"
    for region in REGIONS:
        for family, container in app_containers(synth, region).items():
            env = environment(container)
            endpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"]
            assert env.get("OTEL_EXPORTER_OTLP_PROTOCOL") == protocol, family
            assert endpoint.startswith("http://127.0.0.1:") and int(endpoint.rsplit(":", 1)[1]) == OTLP_PORTS[protocol]


def test_the_migrate_steps_may_pass_only_the_migration_tasks_roles(synth: Synthesised) -> None:
    roles = set()
    for region in REGIONS:
        task = next(t["Properties"] for t in resources(synth, region, "AWS::ECS::TaskDefinition").values()
                    if t["Properties"]["Family"] == "orbitask-migrate")
        defined = resources(synth, region, "AWS::IAM::Role")
        for attribute in ("TaskRoleArn", "ExecutionRoleArn"):
            roles.add(defined[task[attribute]["Fn::GetAtt"][0]]["Properties"]["RoleName"])
    assert len(roles) == 2 * len(REGIONS)
    passes = [s for p in resources(synth, "delivery", "AWS::IAM::Policy").values()
              for s in p["Properties"]["PolicyDocument"]["Statement"] if "iam:PassRole" in text(s["Action"])]
    prod = [s for s in passes if "stg-" not in text(s["Resource"])]
    staging = [s for s in passes if s not in prod]
    assert len(prod) == 2  # Migrate and MigrateAfterDeploy
    for statement in prod:
        assert sorted(statement["Resource"]) == sorted(f"arn:aws:iam::123456789012:role/{r}" for r in roles)
    assert len(staging) == 2  # the staging copy's two migration steps pass only its own two roles
    for statement in staging:
        assert sorted(statement["Resource"]) == sorted(f"arn:aws:iam::123456789012:role/stg-orbitask-{kind}-us-east-1"
                                                       for kind in ("migrate", "migrate-exec"))
    for statement in passes:
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def cloudfront_statements(synth: Synthesised, stack: str) -> list[dict[str, Any]]:
    """Key and bucket policy statements in STACK that let CloudFront in."""
    policies = [r["Properties"].get("KeyPolicy") or r["Properties"].get("PolicyDocument")
                for kind in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey", "AWS::S3::BucketPolicy")
                for r in resources(synth, stack, kind).values()]
    return [s for p in policies for s in p["Statement"] if "cloudfront.amazonaws.com" in text(s.get("Principal"))]


def test_only_this_distribution_may_read_the_attachments_and_decrypt_them(synth: Synthesised) -> None:
    (distribution,) = resources(synth, "global", "AWS::CloudFront::Distribution")
    for stack in synth.templates:  # no resource policy lets in any distribution of the account
        assert "distribution/*" not in text(cloudfront_statements(synth, stack)), stack
    statements = cloudfront_statements(synth, PRIMARY)
    assert sorted(s["Action"] for s in statements) == ["kms:Decrypt", "s3:GetObject"]
    for statement in statements:
        (source,) = statement["Condition"]["StringEquals"].values()
        assert list(statement["Condition"]["StringEquals"]) == ["AWS:SourceArn"]
        assert ":cloudfront::123456789012:distribution/" in text(source) and distribution in text(source)
    for region in SECONDARIES:  # CloudFront reads /files/* from the primary's bucket only
        assert cloudfront_statements(synth, region) == []


def test_every_aurora_cluster_requires_tls(synth: Synthesised) -> None:
    for region in REGIONS:
        (cluster,) = resources(synth, region, "AWS::RDS::DBCluster").values()
        groups = resources(synth, region, "AWS::RDS::DBClusterParameterGroup")
        group = groups[cluster["Properties"]["DBClusterParameterGroupName"]["Ref"]]
        assert group["Properties"]["Parameters"]["require_secure_transport"] == "ON", region


@pytest.mark.parametrize("region", REGIONS)
def test_services_connect_over_verified_tls_as_the_app_user_and_migrations_make_it(synth: Synthesised,
                                                                                 region: str) -> None:
    data = import_app().data
    (primary_cluster,) = resources(synth, PRIMARY, "AWS::RDS::DBCluster").values()
    master = primary_cluster["Properties"]["MasterUsername"]
    assert master == data.DB_USER != data.DB_APP_USER
    containers = app_containers(synth, region)
    for family, container in containers.items():
        env = environment(container)
        user = data.DB_USER if family == "migrate" else data.DB_APP_USER
        for name in ("ORBITASK_DATABASE_URL", "ORBITASK_DATABASE_READER_URL"):
            if name not in env:
                continue
            url = make_url(resolve(env[name]))
            assert url.username == user and url.password is None, (family, name)
            _, connect = asyncmy_dialect().create_connect_args(url)  # what the app's driver is given
            assert connect["ssl"] == {"ca": data.RDS_CA_BUNDLE, "check_hostname": True}, (family, name)
        passwords = {s["Name"]: text(s["ValueFrom"]) for s in container["Secrets"]}
        if family == "migrate":
            assert "Appdbapp" in passwords["ORBITASK_APP_DATABASE_PASSWORD"]
            assert "Appdbapp" not in passwords["ORBITASK_DATABASE_PASSWORD"]
            assert passwords["ORBITASK_DATABASE_PASSWORD"].endswith(':password::"]]}')  # the master secret's field
            assert env["ORBITASK_APP_DATABASE_USER"] == data.DB_APP_USER
        else:
            assert "Appdbapp" in passwords["ORBITASK_DATABASE_PASSWORD"] and "ORBITASK_APP_DATABASE_PASSWORD" not in passwords
    migrate = containers["migrate"]
    assert migrate["EntryPoint"] == ["python", "-c", (ROOT / "deploy/aws/scripts/provision_db_user.py").read_text()]
    assert migrate["Command"] == ["db", "upgrade"]


def rules(synth: Synthesised, stack: str) -> dict[str, dict[str, Any]]:
    (acl,) = resources(synth, stack, "AWS::WAFv2::WebACL").values()
    return {r["Name"]: r for r in acl["Properties"]["Rules"]}


@pytest.mark.parametrize("region", REGIONS)
def test_the_alb_waf_lets_forwarded_writes_past_the_address_limit_and_has_no_bot_control(synth: Synthesised,
                                                                                        region: str) -> None:
    acl = rules(synth, region)
    assert "AWSManagedRulesBotControlRuleSet" not in acl  # API clients and the region hop are programs
    rate = acl["RatePerAddress"]["Statement"]["RateBasedStatement"]
    header = rate["ScopeDownStatement"]["NotStatement"]["Statement"]["SizeConstraintStatement"]
    assert header["FieldToMatch"] == {"SingleHeader": {"Name": SIGNATURE_HEADER.decode()}}
    assert (header["ComparisonOperator"], header["Size"]) == ("GT", 0)  # present: the hop always signs


def test_cloudfront_bot_control_inspects_the_web_app_not_the_api(synth: Synthesised) -> None:
    acl = rules(synth, "global")
    statement = acl["AWSManagedRulesBotControlRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    api = statement["ScopeDownStatement"]["NotStatement"]["Statement"]["ByteMatchStatement"]
    assert api["FieldToMatch"] == {"UriPath": {}}
    assert (api["PositionalConstraint"], api["SearchString"]) == ("STARTS_WITH", "/api/")
    assert "ScopeDownStatement" not in acl["RatePerAddress"]["Statement"]["RateBasedStatement"]

