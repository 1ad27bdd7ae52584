"""One region's compute: an ECS cluster, one Fargate service per Orbitask service, an ALB with path rules and its
access log, the collector sidecar that sends traces to X-Ray and the app's metrics to CloudWatch."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from . import nag, waf
from .config import ALL_SERVICES, HTTP_SERVICES, DeployConfig

APP_PORT = 8000
APP_USER = "10001:10001"  # the image's non-root user (deploy/docker/Dockerfile)
API = "/api/v1"
HEALTH_CMD = ["CMD", "python", "-c",
              "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
OTEL_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
OTLP_PORT = 4318  # the collector's OTLP/HTTP port (the app exports over HTTP: src/orbitask/core/tracing.py)
# the app's Prometheus metrics (/metrics, src/orbitask/core/observability.py) that reach CloudWatch through the
# collector, as embedded metric format logs: name prefix -> the labels kept as dimensions besides ServiceName
METRICS_NAMESPACE = "Orbitask"
EXPORTED_METRICS: dict[str, tuple[str, ...]] = {
    "orbitask_relay_lag_seconds": (),
    "orbitask_relay_published_total": (),
    "orbitask_replica_lag_events": (),
    "orbitask_topology_epoch": (),
    "orbitask_websockets": (),
    "orbitask_forwarded_requests_total": ("target", "outcome"),
    "orbitask_forward_received_total": ("origin",),
}
SCRAPE_INTERVAL = "60s"
ACCESS_LOG_DAYS = 90
# ALB rules in priority order (at most 5 patterns a rule); the boards service takes everything else
PATH_RULES: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (10, "realtime", (f"{API}/ws", f"{API}/ws/*")),
    (20, "notifications", (f"{API}/notifications", f"{API}/notifications/*", f"{API}/boards/*/watch",
                           f"{API}/webhooks*", f"{API}/workspaces/*/webhooks*")),
    (30, "tasks", (f"{API}/cards", f"{API}/cards/*", f"{API}/lists/*/cards", f"{API}/boards/*/cards",
                   f"{API}/me/tasks")),
    (31, "tasks", (f"{API}/comments/*", f"{API}/checklists/*", f"{API}/checklist-items/*", f"{API}/attachments/*")),
    (40, "boards", (f"{API}/workspaces/*/boards",)),
    (50, "auth", (f"{API}/auth/*", f"{API}/me", f"{API}/me/api-tokens*", f"{API}/workspaces", f"{API}/workspaces/*")),
    (51, "auth", (f"{API}/invitations/*",)),
)
DEFAULT_SERVICE = "boards"
# the region's alarms (ops.alarms) a service deployment rolls back on
DEPLOYMENT_ALARMS = ("5xx", "latency-p99")
# services whose task role may read and write the attachments bucket
FILE_USERS = frozenset({"tasks", "worker"})
# the migration task's entry point: makes the app's database user, then runs `orbitask db upgrade`
PROVISION_DB_USER = (Path(__file__).resolve().parent.parent / "scripts" / "provision_db_user.py").read_text()


def log_retention(cfg: DeployConfig) -> logs.RetentionDays:
    """How long the tasks' and the VPC's flow logs are kept (config.log_retention_days)."""
    return {7: logs.RetentionDays.ONE_WEEK, 30: logs.RetentionDays.ONE_MONTH}[cfg.log_retention_days]


def alarm_name(cfg: DeployConfig, region: str, alarm: str) -> str:
    """The name of one of REGION's alarms (ops.py makes them): `<name>-<region>-<alarm>`."""
    return f"{cfg.name}-{region}-{alarm}"


def metrics_log_group_name(cfg: DeployConfig) -> str:
    """Where the collector writes the app's metrics (EMF): named, since the collector's config is a literal."""
    return f"/{cfg.name}/metrics"


def migrate_role_names(cfg: DeployConfig, region: str) -> tuple[str, str]:
    """The migration task's role and execution role: named, so the pipeline may pass exactly these two."""
    return f"{cfg.name}-migrate-{region}", f"{cfg.name}-migrate-exec-{region}"


def command(service: str) -> list[str]:
    """The container command (after the `orbitask` entrypoint) that runs SERVICE."""
    if service == "worker":
        return ["worker"]
    return ["serve", "--services", service]


@dataclass
class AppRuntime:
    """What every Orbitask container of the region gets: environment, secrets, network, files."""

    environment: dict[str, str]
    secrets: Mapping[str, ecs.Secret]
    security_group: ec2.SecurityGroup
    files: s3.IBucket
    tracing: bool
    # the migration task's own: the master user on the region's cluster endpoint, and the app user's password
    migrate_environment: dict[str, str] = field(default_factory=dict)
    migrate_secrets: Mapping[str, ecs.Secret] = field(default_factory=dict)
    # what only some services get, by service (attachments: other regions' buckets, CloudFront signing), and the
    # grants that go with it
    extra_environment: dict[str, dict[str, str]] = field(default_factory=dict)
    extra_secrets: dict[str, Mapping[str, ecs.Secret]] = field(default_factory=dict)
    extra_statements: dict[str, list[iam.PolicyStatement]] = field(default_factory=dict)


@dataclass
class Compute:
    """The region's cluster, services and load balancer."""

    cluster: ecs.Cluster
    alb: elbv2.ApplicationLoadBalancer
    logs_bucket: s3.Bucket  # the ALB's access logs (and the canary's artifacts)
    services: dict[str, ecs.FargateService] = field(default_factory=dict)
    target_groups: dict[str, elbv2.ApplicationTargetGroup] = field(default_factory=dict)
    web_acl: wafv2.CfnWebACL | None = None  # none when the profile has one WAF, on CloudFront


def collector_config(service: str, *, scrape: bool, metrics_log_group: str) -> str:
    """The collector's config: OTLP traces to X-Ray; SCRAPE: also the app's /metrics to CloudWatch (EMF)."""
    pipelines: dict[str, object] = {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["awsxray"]}}
    config: dict[str, object] = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{OTLP_PORT}"}}}},
        "processors": {"batch": {}},
        "exporters": {"awsxray": {}},
        "service": {"pipelines": pipelines},
    }
    if scrape:
        config["receivers"]["prometheus"] = {"config": {"scrape_configs": [{  # type: ignore[index]
            "job_name": "orbitask", "scrape_interval": SCRAPE_INTERVAL, "metrics_path": "/metrics",
            "static_configs": [{"targets": [f"127.0.0.1:{APP_PORT}"], "labels": {"ServiceName": service}}],
        }]}}
        config["exporters"]["awsemf"] = {  # type: ignore[index]
            "namespace": METRICS_NAMESPACE, "log_group_name": metrics_log_group, "log_stream_name": "{TaskId}",
            "dimension_rollup_option": "NoDimensionRollup",
            # anchored at the start only: a `$` would be read as the collector's ${ENV} syntax
            "metric_declarations": [{"dimensions": [["ServiceName", *labels]], "metric_name_selectors": [f"^{name}"]}
                                    for name, labels in EXPORTED_METRICS.items()],
        }
        pipelines["metrics"] = {"receivers": ["prometheus"], "processors": ["batch"], "exporters": ["awsemf"]}
    return json.dumps(config)  # JSON is YAML


def task_definition(scope: Construct, cfg: DeployConfig, rt: AppRuntime, repo: ecr.IRepository, name: str,
                    cmd: list[str], *, http: bool, cpu: int, memory: int, migrate: bool = False,
                    roles: tuple[iam.IRole, iam.IRole] | None = None,
                    metrics: logs.ILogGroup | None = None) -> ecs.FargateTaskDefinition:
    """A task: the app container, non-root with a read-only root filesystem, and the collector sidecar.

    MIGRATE: the migration task (its own environment, secrets and entry point); ROLES: its task and execution role;
    METRICS: the log group the collector writes the app's metrics to (an HTTP service's /metrics).
    """
    task_role, execution_role = roles or (None, None)
    task = ecs.FargateTaskDefinition(
        scope, f"{name}Task", family=f"{cfg.name}-{name}", cpu=cpu, memory_limit_mib=memory,
        runtime_platform=ecs.RuntimePlatform(
            cpu_architecture=ecs.CpuArchitecture.ARM64 if cfg.arm64 else ecs.CpuArchitecture.X86_64,
            operating_system_family=ecs.OperatingSystemFamily.LINUX,
        ),
        task_role=task_role, execution_role=execution_role,
    )
    log_group = logs.LogGroup(scope, f"{name}Logs", retention=log_retention(cfg),
                              removal_policy=cdk.RemovalPolicy.DESTROY)
    env = {**(rt.migrate_environment if migrate else {**rt.environment, **rt.extra_environment.get(name, {})}),
           **({"OTEL_SERVICE_NAME": f"orbitask-{name}"} if rt.tracing else {})}
    secrets = rt.migrate_secrets if migrate else {**rt.secrets, **rt.extra_secrets.get(name, {})}
    app = task.add_container(
        "app", image=ecs.ContainerImage.from_ecr_repository(repo, tag=cfg.image_tag), command=cmd,
        entry_point=["python", "-c", PROVISION_DB_USER] if migrate else None,
        environment=env, secrets=dict(secrets), user=APP_USER,
        readonly_root_filesystem=True,
        logging=ecs.LogDrivers.aws_logs(stream_prefix=name, log_group=log_group),
        port_mappings=[ecs.PortMapping(container_port=APP_PORT)] if http else None,
        health_check=ecs.HealthCheck(command=HEALTH_CMD, start_period=cdk.Duration.seconds(30)) if http else None,
        stop_timeout=cdk.Duration.seconds(30),
    )
    task.add_volume(name="tmp")  # the one writable place: Fargate task storage, gone with the task
    nag.suppress(task, "AwsSolutions-ECS2", "plain settings only (region, hosts, ports, URLs): every secret reaches the "
                 "container through `secrets`, from Secrets Manager")
    app.add_mount_points(ecs.MountPoint(container_path="/tmp", source_volume="tmp", read_only=False))
    if rt.tracing:
        config = collector_config(f"{cfg.name}-{name}", scrape=http and metrics is not None,
                                  metrics_log_group=metrics_log_group_name(cfg))
        task.add_container(
            "otel", image=ecs.ContainerImage.from_registry(OTEL_IMAGE), essential=False,
            environment={"AOT_CONFIG_CONTENT": config}, readonly_root_filesystem=True,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=f"{name}-otel", log_group=log_group),
        )
        task.task_role.add_to_principal_policy(iam.PolicyStatement(
            actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources=["*"],  # X-Ray has no resources
        ))
        if http and metrics is not None:
            metrics.grant_write(task.task_role)
    return task


def task_wildcards(scope: Construct, cfg: DeployConfig, *, files: bool, peers: bool) -> None:
    """Acknowledge the wildcards of a task's roles (SCOPE: its task definition, or a role) with their reasons."""
    nag.suppress(scope, "AwsSolutions-IAM5", "`*` only where the action has no resource: ecr:GetAuthorizationToken "
                 "(pulling the image), X-Ray's PutTraceSegments and PutTelemetryRecords", applies_to=["Resource::*"],
                 children=True)
    if files:
        nag.suppress(scope, "AwsSolutions-IAM5", "the attachments bucket's objects under any key, and its key, by "
                     "CDK's read-write grant: the service stores and serves every attachment", applies_to=[
                         "Action::s3:Abort*", "Action::s3:DeleteObject*", "Action::s3:GetBucket*",
                         "Action::s3:GetObject*", "Action::s3:List*", "Action::kms:GenerateDataKey*",
                         "Action::kms:ReEncrypt*", "/^Resource::<Files[0-9A-F]+\\.Arn>\\/\\*$/"], children=True)
    if peers:
        nag.suppress(scope, "AwsSolutions-IAM5", "s3:GetObject on the other regions' attachments buckets' objects: a "
                     "download falls back to the file's origin region while S3 replicates it",
                     applies_to=[f"Resource::arn:aws:s3:::{cfg.bucket_name(r)}/*" for r in cfg.regions], children=True)


def access_logs_bucket(scope: Construct, cfg: DeployConfig, region: str) -> s3.Bucket:
    """The region's log bucket (ALB access logs, canary artifacts): SSE-S3, as ALB log delivery requires."""
    return s3.Bucket(
        scope, "AccessLogs", bucket_name=f"{cfg.name}-logs-{cfg.account}-{region}",
        encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True, versioned=False,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=cdk.RemovalPolicy.RETAIN,
        lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(ACCESS_LOG_DAYS),
                                          abort_incomplete_multipart_upload_after=cdk.Duration.days(1))],
    )


def compute(scope: Construct, cfg: DeployConfig, region: str, vpc: ec2.IVpc, rt: AppRuntime,
            zone: route53.IHostedZone) -> Compute:
    """The ECS cluster, every service, the ALB (HTTPS, path rules, WebSockets) and the region's DNS name."""
    cluster = ecs.Cluster(scope, "Cluster", vpc=vpc, cluster_name=cfg.name,
                          container_insights_v2=ecs.ContainerInsights.ENABLED,
                          enable_fargate_capacity_providers=cfg.fargate_spot)
    # without NAT gateways (the demo) the tasks sit in the public subnets with public addresses, reaching only
    # what their security group lets out; inbound only from the load balancer
    public_tasks = cfg.nat_gateways == 0
    task_subnets = ec2.SubnetSelection(
        subnet_type=ec2.SubnetType.PUBLIC if public_tasks else ec2.SubnetType.PRIVATE_WITH_EGRESS)
    repo = ecr.Repository.from_repository_name(scope, "Repo", cfg.name)  # replicated here from the primary
    alb_sg = ec2.SecurityGroup(scope, "AlbSg", vpc=vpc, description="Orbitask load balancer")
    alb_sg.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS")
    alb_sg.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "HTTP, redirected to HTTPS")
    nag.suppress(alb_sg, "AwsSolutions-EC23", "the internet-facing load balancer: CloudFront and API clients reach it "
                 "from anywhere, on 443 (and 80, redirected)")
    rt.security_group.add_ingress_rule(alb_sg, ec2.Port.tcp(APP_PORT), "from the load balancer")
    alb = elbv2.ApplicationLoadBalancer(
        scope, "Alb", vpc=vpc, internet_facing=True, security_group=alb_sg, drop_invalid_header_fields=True,
        idle_timeout=cdk.Duration.seconds(300),  # WebSockets: heartbeats every 20 s keep them well inside this
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
    )
    logs_bucket = access_logs_bucket(scope, cfg, region)
    nag.suppress(logs_bucket, "AwsSolutions-S1", "the region's log bucket (the ALB's, the attachments bucket's S3 access "
                 "logs, the canary's): logging its own writes would only log the logs")
    alb.log_access_logs(logs_bucket, prefix="alb")
    metrics = logs.LogGroup(scope, "AppMetrics", log_group_name=metrics_log_group_name(cfg),
                            retention=logs.RetentionDays.ONE_MONTH, removal_policy=cdk.RemovalPolicy.DESTROY)
    regional_name = cfg.regional_fqdn(region)
    cert = acm.Certificate(
        scope, "Cert", domain_name=regional_name, subject_alternative_names=[cfg.api_domain],
        validation=acm.CertificateValidation.from_dns(zone),
    )
    out = Compute(cluster=cluster, alb=alb, logs_bucket=logs_bucket)
    for service in ALL_SERVICES:
        http = service in HTTP_SERVICES
        size = cfg.size(service)
        task = task_definition(scope, cfg, rt, repo, service, command(service), http=http, cpu=size.cpu,
                               memory=size.memory, metrics=metrics)
        if service in FILE_USERS:
            rt.files.grant_read_write(task.task_role)
        for statement in rt.extra_statements.get(service, []):
            task.task_role.add_to_principal_policy(statement)
        task_wildcards(task, cfg, files=service in FILE_USERS, peers=bool(rt.extra_statements.get(service)))
        svc = ecs.FargateService(
            scope, f"{service}Service", cluster=cluster, task_definition=task, service_name=f"{cfg.name}-{service}",
            desired_count=cfg.desired_tasks or size.min_tasks, security_groups=[rt.security_group],
            vpc_subnets=task_subnets, assign_public_ip=public_tasks,
            capacity_provider_strategies=[ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1)]
            if cfg.fargate_spot else None,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            # a deployment that sets off the region's 5xx or p99 alarm rolls back (ops.py makes them, after the
            # services: by name)
            deployment_alarms=ecs.DeploymentAlarmConfig(
                alarm_names=[alarm_name(cfg, region, alarm) for alarm in DEPLOYMENT_ALARMS],
                behavior=ecs.AlarmBehavior.ROLLBACK_ON_ALARM),
            min_healthy_percent=100, max_healthy_percent=200,
            health_check_grace_period=cdk.Duration.seconds(60) if http else None,
        )
        if size.max_tasks > size.min_tasks:
            svc.auto_scale_task_count(min_capacity=size.min_tasks, max_capacity=size.max_tasks) \
                .scale_on_cpu_utilization("Cpu", target_utilization_percent=60)
        out.services[service] = svc
        if http:
            tg = elbv2.ApplicationTargetGroup(
                scope, f"{service}Targets", vpc=vpc, port=APP_PORT, protocol=elbv2.ApplicationProtocol.HTTP,
                target_type=elbv2.TargetType.IP, targets=[svc],
                deregistration_delay=cdk.Duration.seconds(60 if service == "realtime" else 20),
                health_check=elbv2.HealthCheck(path="/healthz", healthy_http_codes="200",
                                               interval=cdk.Duration.seconds(15)),
            )
            out.target_groups[service] = tg
    https = alb.add_listener(
        "Https", port=443, certificates=[cert], ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
        default_action=elbv2.ListenerAction.forward([out.target_groups[DEFAULT_SERVICE]]),
    )
    for priority, service, patterns in PATH_RULES:
        https.add_action(
            f"{service}{priority}", priority=priority, conditions=[elbv2.ListenerCondition.path_patterns(list(patterns))],
            action=elbv2.ListenerAction.forward([out.target_groups[service]]),
        )
    alb.add_redirect(source_port=80, target_port=443)
    if cfg.waf_on_load_balancers:  # API clients reach the ALB directly
        out.web_acl = waf.web_acl(scope, "Waf", f"{cfg.name}-{region}", cloudfront=False)
        wafv2.CfnWebACLAssociation(scope, "WafOnAlb", resource_arn=alb.load_balancer_arn,
                                   web_acl_arn=out.web_acl.attr_arn)
        waf.log_requests(scope, "Waf", out.web_acl, f"{cfg.name}-{region}")
    route53.ARecord(scope, "RegionalName", zone=zone, record_name=regional_name,
                    target=route53.RecordTarget.from_alias(targets.LoadBalancerTarget(alb)))
    ecs_tasks = iam.ServicePrincipal("ecs-tasks.amazonaws.com")
    task_role_name, execution_role_name = migrate_role_names(cfg, region)
    migrate_roles = (iam.Role(scope, "MigrateTaskRole", role_name=task_role_name, assumed_by=ecs_tasks),
                     iam.Role(scope, "MigrateExecutionRole", role_name=execution_role_name, assumed_by=ecs_tasks))
    migrate_task = task_definition(scope, cfg, rt, repo, "migrate", ["db", "upgrade"], http=False, cpu=512,
                                   memory=1024, migrate=True, roles=migrate_roles)
    for role in migrate_roles:
        task_wildcards(role, cfg, files=False, peers=False)
    ssm.StringParameter(
        scope, "MigrateParams", parameter_name=f"/{cfg.name}/migrate",
        description="what deploy/aws/scripts/migrate.sh needs to run `orbitask db upgrade` in this region",
        string_value=cdk.Stack.of(scope).to_json_string({
            "cluster": cluster.cluster_name, "family": migrate_task.family,
            "subnets": vpc.select_subnets(subnet_type=task_subnets.subnet_type).subnet_ids,
            "public_ip": public_tasks,
            "security_group": rt.security_group.security_group_id,
        }),
    )
    return out
