"""Monthly cost estimate of each deployment profile from the price table in deploy/aws/prices.yaml.

`python deploy/aws/scripts/cost.py [--config regions.example.yaml] [--profile demo|production|all]`

The estimate counts what the CDK app deploys for the config (regions, profile, sizes) and prices a small team's
usage (USAGE, printed with the table). It reads only the config and the price table: no AWS account, no synthesis.
tests/deploy/test_aws_cost.py checks that every resource type the demo synthesis creates has a line here.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEPLOY_AWS = Path(__file__).resolve().parents[1]
PRICES = DEPLOY_AWS / "prices.yaml"
PROFILES = ("production", "demo")


def _config_module() -> Any:
    """deploy/aws/orbitask_cdk/config.py alone: the package imports the CDK, which the estimate does not need."""
    spec = importlib.util.spec_from_file_location("orbitask_cdk_config", DEPLOY_AWS / "orbitask_cdk" / "config.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


config = _config_module()


@dataclass(frozen=True)
class Usage:
    """What a small team does in a month: the assumptions every line states."""

    users: int = 20
    peak_rps: int = 50
    avg_rps: float = 2.0  # over the whole month: 5.3 million requests
    response_kb: int = 10
    db_gb: int = 10
    db_write_io_per_s: int = 10  # the writer's log writes: commands, outbox, topology lease
    db_read_io_per_s: int = 5  # per cluster: buffer-pool misses (the working set fits in memory)
    files_gb: int = 20
    new_files_gb: int = 2  # a month: what replication copies to each other region
    alb_lcu: float = 0.2  # per load balancer, averaged over the month (new connections dominate)
    log_gb_per_task: float = 0.3  # a month of JSON request logs per running task
    waf_log_gb: float = 3.0  # a month per web ACL at 5.3 million requests
    flow_log_gb: float = 1.0  # a month per VPC
    nat_gb: int = 20  # a month per NAT gateway: forwarded writes, SES, AWS APIs without an endpoint
    releases: int = 20  # pipeline runs a month
    build_minutes: int = 40  # per release, all CodeBuild steps together
    image_gb: float = 3.0  # images kept per region's repository
    secret_reads: int = 50_000  # a month per region: task starts and rotations
    kms_requests: int = 200_000  # a month per region: S3 bucket keys, secrets, logs
    watcher_writes: int = 44_000  # a month per region: one vote a minute into the failover table

    @property
    def requests(self) -> float:
        """Requests a month."""
        return self.avg_rps * 3600 * 730


USAGE = Usage()
# what the CDK app makes per region that the config does not size (deploy/aws/orbitask_cdk/*.py)
SECRETS = 5  # regional.APP_SECRETS and the master user's; each replica is billed as a secret
INTERFACE_ENDPOINTS = 4  # regional.ENDPOINTS, only with NAT gateways (the demo's tasks reach AWS by public IPs)
WAF_RULES = 4  # waf.MANAGED_RULE_GROUPS but Bot Control, and the rate rule
ALARMS_PER_REGION = 23  # ops.py: services, load balancer, Aurora, Redis, failover watcher, canary
GLOBAL_ALARMS = 2  # edge.py, ops.py: CloudFront and its WAF
DASHBOARDS_PER_REGION, GLOBAL_DASHBOARDS = 1, 1  # ops.py: one a region and a global one
CANARIES_PER_REGION = 1  # ops.py: the region's /readyz and the web app through CloudFront
CANARY_MINUTES = {False: 5, True: 30}  # ops.CANARY_MINUTES: production, demo
WAF_LOG_DAYS = 90  # waf.log_requests
ACCELERATOR_ADDRESSES = 2  # static anycast IPv4 addresses of a standard accelerator


class Prices:
    """The price table: a price by key and region, and the regions it had to guess."""

    def __init__(self, path: Path = PRICES) -> None:
        raw = yaml.safe_load(path.read_text())
        self.hours: int = raw["hours_per_month"]
        self.table: dict[str, dict[str, Any]] = raw["prices"]
        self.guessed: set[str] = set()
        self.used: set[str] = set()

    def __call__(self, key: str, region: str = "all") -> float:
        """The price of KEY in REGION; the highest listed figure for a region the table does not list."""
        entry = self.table[key]
        self.used.add(key)
        if region in entry:
            return float(entry[region])
        if "all" in entry:
            return float(entry["all"])
        self.guessed.add(region)
        return max(float(v) for k, v in entry.items() if "-" in k and k[-1].isdigit())

    def has(self, key: str) -> bool:
        """Whether the table prices KEY."""
        return key in self.table


@dataclass(frozen=True)
class Line:
    """One line of the estimate: what is priced, how much of it, the monthly amount."""

    service: str
    item: str
    quantity: str
    usd: float
    types: tuple[str, ...] = ()  # the CloudFormation resource types it prices


# CloudFormation resource types that cost nothing by themselves (their use is priced on another line)
FREE_TYPES = frozenset({
    "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::InstanceProfile",
    "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::RouteTable", "AWS::EC2::Route",
    "AWS::EC2::SubnetRouteTableAssociation", "AWS::EC2::InternetGateway", "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::EgressOnlyInternetGateway", "AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress",
    "AWS::EC2::SecurityGroupEgress", "AWS::EC2::NetworkAcl", "AWS::EC2::NetworkAclEntry",
    "AWS::EC2::SubnetNetworkAclAssociation", "AWS::EC2::VPCCidrBlock", "AWS::EC2::SubnetCidrBlock",
    "AWS::ECS::Cluster", "AWS::ECS::TaskDefinition", "AWS::ECS::ClusterCapacityProviderAssociations",
    "AWS::ElasticLoadBalancingV2::Listener", "AWS::ElasticLoadBalancingV2::ListenerRule",
    "AWS::ElasticLoadBalancingV2::TargetGroup", "AWS::ElasticLoadBalancingV2::ListenerCertificate",
    "AWS::ElastiCache::SubnetGroup", "AWS::ElastiCache::ParameterGroup",
    "AWS::RDS::DBClusterParameterGroup", "AWS::RDS::DBParameterGroup", "AWS::RDS::DBSubnetGroup",
    "AWS::KMS::Alias", "AWS::CertificateManager::Certificate", "AWS::Events::Rule",
    "AWS::Lambda::Permission", "AWS::Lambda::EventInvokeConfig", "AWS::Lambda::LayerVersion",
    "AWS::SNS::Subscription", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy",
    "AWS::SSM::Parameter", "AWS::SecretsManager::SecretTargetAttachment", "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudFront::ResponseHeadersPolicy", "AWS::CloudFront::CachePolicy",
    "AWS::CloudFront::OriginRequestPolicy", "AWS::CloudFront::KeyGroup", "AWS::CloudFront::PublicKey",
    "AWS::Budgets::Budget", "AWS::Backup::BackupSelection", "AWS::WAFv2::WebACLAssociation",
    "AWS::Logs::ResourcePolicy", "AWS::Logs::SubscriptionFilter", "AWS::Logs::MetricFilter",
    "AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::ServiceDiscovery::PrivateDnsNamespace", "AWS::CodeStarNotifications::NotificationRule",
    "AWS::Route53::RecordSet", "AWS::Route53::RecordSetGroup",  # queries: the Route 53 line
    "AWS::EC2::VPCEndpoint",  # gateway endpoints are free; interface ones are counted (interface_endpoints)
    "AWS::CDK::Metadata", "Custom::CrossRegionExportReader", "Custom::CrossRegionExportWriter",
    "Custom::AWS", "Custom::S3AutoDeleteObjects", "Custom::CDKBucketDeployment",
    "Custom::VpcRestrictDefaultSG",  # a deploy-time Lambda (the restrictDefaultSecurityGroup flag)
})


def month(prices: Prices, hourly: float) -> float:
    """An hourly price over a month."""
    return hourly * prices.hours


def tasks(cfg: Any, service: str) -> int:
    """Tasks SERVICE runs in each region (its minimum: a small team never scales it out)."""
    return cfg.size(service).min_tasks


def db_instances(cfg: Any) -> dict[str, int]:
    """Aurora instances by region: the primary's writer and readers, at least one in each secondary."""
    return {r: (1 + cfg.db_readers if r == cfg.primary else max(cfg.db_readers, 1)) for r in cfg.regions}


def cache_nodes(cfg: Any) -> int:
    """ElastiCache nodes a region (data.redis)."""
    return 1 if cfg.demo else 2


def web_acls(cfg: Any) -> int:
    """WAF web ACLs: CloudFront's, and one a load balancer unless the profile leaves them out."""
    return 1 + (len(cfg.regions) if cfg.waf_on_load_balancers else 0)


def bot_control_acls(cfg: Any) -> int:
    """Web ACLs with Bot Control: CloudFront's, unless the profile leaves it out (never the load balancers')."""
    return 1 if cfg.bot_control else 0


def health_check_features(cfg: Any) -> int:
    """Optional features of each Route 53 health check: HTTPS, a 10 s interval, latency measurement (edge.py)."""
    return 1 + (cfg.health_check_interval == 10) + bool(cfg.health_check_latency)


def canary_runs(cfg: Any) -> int:
    """Runs a month of one canary."""
    return 730 * 60 // CANARY_MINUTES[cfg.demo]


def interface_endpoints(cfg: Any) -> int:
    """VPC interface endpoints a region."""
    return INTERFACE_ENDPOINTS if cfg.nat_gateways else 0


def counts(cfg: Any) -> dict[str, int]:
    """How many of each resource priced by the hour or the month the app makes for CFG, all regions together."""
    regions = len(cfg.regions)
    return {
        "AWS::RDS::DBInstance": sum(db_instances(cfg).values()),
        "AWS::ElastiCache::ReplicationGroup nodes": cache_nodes(cfg) * regions,
        "AWS::ElasticLoadBalancingV2::LoadBalancer": regions,
        "AWS::EC2::NatGateway": cfg.nat_gateways * regions,
        "AWS::EC2::VPCEndpoint Interface": interface_endpoints(cfg) * regions,
        "AWS::WAFv2::WebACL": web_acls(cfg),
        "AWS::ECS::Service tasks": sum(tasks(cfg, s) for s in config.ALL_SERVICES) * regions,
        "AWS::SecretsManager::Secret": SECRETS,
        "AWS::Route53::HealthCheck": regions,
        "AWS::Route53::HealthCheck features": health_check_features(cfg) * regions,
        "AWS::WAFv2::WebACL rules": WAF_RULES * web_acls(cfg) + bot_control_acls(cfg),
        "AWS::WAFv2::WebACL bot control": bot_control_acls(cfg),
        "AWS::Synthetics::Canary runs": canary_runs(cfg) * CANARIES_PER_REGION * regions,
        "AWS::GlobalAccelerator::Accelerator": int(cfg.global_accelerator),
        "AWS::GlobalAccelerator::EndpointGroup": regions if cfg.global_accelerator else 0,
        "AWS::CloudWatch::Alarm": ALARMS_PER_REGION * regions + GLOBAL_ALARMS,
        "AWS::CloudWatch::Dashboard": DASHBOARDS_PER_REGION * regions + GLOBAL_DASHBOARDS,
        "AWS::Synthetics::Canary": CANARIES_PER_REGION * regions,
    }


def aurora_lines(cfg: Any, p: Prices, u: Usage) -> list[Line]:
    """Instances or ACUs, storage, I/O, global replication and AWS Backup, in every region."""
    instances = db_instances(cfg)
    if cfg.aurora_serverless:
        data = _data_constants()
        acu = data["SERVERLESS_MIN_ACU"]
        compute = sum(n * acu * month(p, p("aurora_acu_hour", r)) for r, n in instances.items())
        what = (f"{sum(instances.values())} Serverless v2 instances x {acu} ACU (the minimum; the pools and "
                "the relay keep it awake)")
    else:
        key = f"aurora_{cfg.db_instance_class}_hour"
        if not p.has(key):
            raise SystemExit(f"prices.yaml has no price for {cfg.db_instance_class} ({key})")
        compute = sum(n * month(p, p(key, r)) for r, n in instances.items())
        what = f"{sum(instances.values())} x {cfg.db_instance_class}"
    io_million = 2.628  # one I/O a second for a month, in millions
    io = sum((u.db_read_io_per_s + (u.db_write_io_per_s if r == cfg.writer else 0)) * io_million
             * p("aurora_io_million", r) for r in cfg.regions)
    replicated = sum(u.db_write_io_per_s * io_million * p("aurora_replicated_write_io_million", r)
                     for r in cfg.secondaries)
    storage = sum(u.db_gb * p("aurora_storage_gb_month", r) for r in cfg.regions)
    # each region keeps its own snapshots and the previous region's copies; Aurora copies are full snapshots
    copies = backup_copies(cfg)
    backup_gb = 2 * 2 * u.db_gb
    backups = sum(backup_gb * p("backup_aurora_gb_month", r) for r in cfg.regions)
    return [
        Line("Aurora MySQL", "compute", what, compute, ("AWS::RDS::DBInstance",)),
        Line("Aurora MySQL", "storage", f"{u.db_gb} GB x {len(cfg.regions)} cluster volumes", storage,
             ("AWS::RDS::DBCluster",)),
        Line("Aurora MySQL", "I/O", f"{u.db_write_io_per_s} write + {u.db_read_io_per_s} read I/O/s (writer), "
             f"{u.db_read_io_per_s} read elsewhere", io, ("AWS::RDS::DBCluster",)),
        Line("Aurora MySQL", "global replication", f"{u.db_write_io_per_s} write I/O/s to "
             f"{len(cfg.secondaries)} secondary region(s)", replicated, ("AWS::RDS::GlobalCluster",)),
        Line("AWS Backup", "Aurora snapshots", f"{copies:g} a month kept 14 days, ~{backup_gb} GB a region "
             "with the copies",
             backups, ("AWS::Backup::BackupVault", "AWS::Backup::BackupPlan")),
    ]


def backup_copies(cfg: Any) -> float:
    """Snapshots a month each region copies to the next (data.backups: daily, the demo weekly)."""
    return 4.3 if cfg.demo else 30


def _data_constants() -> dict[str, float]:
    """SERVERLESS_MIN_ACU from data.py, read without importing the CDK."""
    text = (DEPLOY_AWS / "orbitask_cdk" / "data.py").read_text()
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" = ")
        if name in ("SERVERLESS_MIN_ACU", "SERVERLESS_MAX_ACU"):
            values[name] = float(value.split("#")[0])
    return values


def compute_lines(cfg: Any, p: Prices, u: Usage) -> list[Line]:
    """Fargate tasks, load balancers, NAT gateways, interface endpoints and public IPv4 addresses."""
    arch = "arm64" if cfg.arm64 else "x86"
    spot = p("fargate_spot_fraction") if cfg.fargate_spot else 1.0
    per_region = sum(tasks(cfg, s) for s in config.ALL_SERVICES)
    fargate = sum(
        tasks(cfg, s) * spot * month(p, cfg.size(s).cpu / 1024 * p(f"fargate_{arch}_vcpu_hour", r)
                                     + cfg.size(s).memory / 1024 * p(f"fargate_{arch}_gb_hour", r))
        for r in cfg.regions for s in config.ALL_SERVICES)
    sizes = sorted({(cfg.size(s).cpu / 1024, cfg.size(s).memory / 1024) for s in config.ALL_SERVICES})
    alb = sum(month(p, p("alb_hour", r)) for r in cfg.regions)
    lcu = sum(u.alb_lcu * month(p, p("alb_lcu_hour", r)) for r in cfg.regions)
    nat = sum(cfg.nat_gateways * (month(p, p("nat_hour", r)) + u.nat_gb * p("nat_gb", r)) for r in cfg.regions)
    endpoints = interface_endpoints(cfg)
    vpce = sum(endpoints * cfg.azs * month(p, p("interface_endpoint_az_hour", r)) for r in cfg.regions)
    public_tasks = 0 if cfg.nat_gateways else per_region
    addresses = len(cfg.regions) * (cfg.azs + cfg.nat_gateways + public_tasks)
    lines = [
        Line("ECS Fargate", f"{arch}{' Spot' if cfg.fargate_spot else ''} tasks",
             f"{per_region} tasks a region ({', '.join(f'{c:g} vCPU/{m:g} GB' for c, m in sizes)})", fargate,
             ("AWS::ECS::Service",)),
        Line("Load balancing", "ALB hours", f"1 ALB x {len(cfg.regions)} regions", alb,
             ("AWS::ElasticLoadBalancingV2::LoadBalancer",)),
        Line("Load balancing", "ALB LCUs", f"{u.alb_lcu} LCU average per ALB", lcu,
             ("AWS::ElasticLoadBalancingV2::LoadBalancer",)),
        Line("VPC", "public IPv4 addresses", f"{addresses}: {cfg.azs} per ALB"
             + (f", {cfg.nat_gateways} per NAT" if cfg.nat_gateways else "")
             + (f", {public_tasks} tasks a region" if public_tasks else ""),
             addresses * month(p, p("public_ipv4_hour")), ("AWS::EC2::EIP",)),
    ]
    if cfg.nat_gateways:
        lines.append(Line("VPC", "NAT gateways", f"{cfg.nat_gateways} a region, {u.nat_gb} GB each", nat,
                          ("AWS::EC2::NatGateway",)))
        lines.append(Line("VPC", "interface endpoints", f"{endpoints} x {cfg.azs} AZs a region", vpce,
                          ("AWS::EC2::VPCEndpoint",)))
    return lines


def data_lines(cfg: Any, p: Prices, u: Usage) -> list[Line]:
    """ElastiCache, S3 and the DynamoDB failover table."""
    nodes = cache_nodes(cfg)
    key = f"elasticache_{cfg.redis_node_type}_hour"
    if not p.has(key):
        raise SystemExit(f"prices.yaml has no price for {cfg.redis_node_type} ({key})")
    redis = sum(nodes * month(p, p(key, r)) for r in cfg.regions)
    # every region holds every file (replication); the web bundle is a few MB
    s3_storage = sum(u.files_gb * p("s3_gb_month", r) for r in cfg.regions)
    uploads = u.requests * 0.005  # 0.5% of requests upload a file; as many replication PUTs in each other region
    s3_requests = sum(uploads / 1000 * p("s3_put_thousand", r) + u.requests * 0.02 / 1000 * p("s3_get_thousand", r)
                      for r in cfg.regions)
    regions = len(cfg.regions)
    # each region's votes are written there and replicated into every other region
    dynamo = sum(u.watcher_writes / 1e6 * (p("dynamodb_write_million", r)
                                           + (regions - 1) * p("dynamodb_replicated_write_million", r))
                 for r in cfg.regions)
    return [
        Line("ElastiCache Redis", cfg.redis_node_type, f"{nodes} node(s) a region", redis,
             ("AWS::ElastiCache::ReplicationGroup",)),
        Line("S3", "storage", f"{u.files_gb} GB attachments in each of {regions} regions", s3_storage,
             ("AWS::S3::Bucket",)),
        Line("S3", "requests and replication", f"{uploads / 1e3:.0f} k uploads, each replicated", s3_requests,
             ("AWS::S3::Bucket",)),
        Line("DynamoDB", "failover table (global)", f"{u.watcher_writes // 1000} k votes a region, replicated",
             dynamo, ("AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table")),
    ]


def edge_lines(cfg: Any, p: Prices, u: Usage) -> list[Line]:
    """CloudFront, Route 53, WAF and the traffic between regions."""
    gb_out = u.requests * u.response_kb / 1e6
    cloudfront = (max(0.0, gb_out - 1000) * p("cloudfront_gb") + max(0.0, u.requests - 10e6) / 1e4
                  * p("cloudfront_https_10k") + max(0.0, u.requests - 2e6) / 1e6 * p("cloudfront_function_million"))
    features = health_check_features(cfg)
    checks = len(cfg.regions) * (p("route53_health_check_month") + features * p("route53_health_check_feature_month"))
    # with the accelerator the API name is one alias record (alias queries to AWS resources are free)
    queries = 0.0 if cfg.global_accelerator else 1.0 * p("route53_latency_query_million")
    route53 = p("route53_zone_month") + checks + queries
    acls, bots = web_acls(cfg), bot_control_acls(cfg)
    # Bot Control inspects only the web app's paths on CloudFront: priced here on every request, an upper bound
    waf = acls * (p("waf_web_acl_month") + WAF_RULES * p("waf_rule_month")) + u.requests / 1e6 * p("waf_request_million") \
        + bots * (p("waf_rule_month") + p("waf_bot_control_month")
                  + u.requests / 1e6 * p("waf_bot_control_request_million"))
    # forwarded writes (10% of requests, 5 KB each way) from each non-writer region; replication of new files,
    # images and the daily backup copy (full snapshots) to the next region
    forwarded = u.requests * 0.1 * (len(cfg.regions) - 1) / len(cfg.regions) * 10 / 1e6
    copied = u.new_files_gb * (len(cfg.regions) - 1) * len(cfg.regions) + u.image_gb * len(cfg.secondaries) \
        + backup_copies(cfg) * u.db_gb * len(cfg.regions)
    transfer = (forwarded + copied) * p("inter_region_gb", cfg.primary)
    check_kind = "HTTPS health checks" + (f" at {cfg.health_check_interval} s") \
        + (" with latency" if cfg.health_check_latency else "")
    lines = [
        Line("CloudFront", "transfer, requests, function", f"{gb_out:.0f} GB, {u.requests / 1e6:.1f} M requests "
             "(after the always-free tier)", cloudfront, ("AWS::CloudFront::Distribution", "AWS::CloudFront::Function")),
        Line("Route 53", "zone, health checks, queries", f"1 zone, {len(cfg.regions)} {check_kind} "
             f"({features} optional feature(s) each)" + ("" if cfg.global_accelerator else ", 1 M latency queries"),
             route53, ("AWS::Route53::HealthCheck",)),
        Line("WAF", "web ACLs, rules, requests", f"{acls} web ACL(s) x {WAF_RULES} rules"
             + (" + Bot Control on CloudFront" if bots else ", no Bot Control") + f", {u.requests / 1e6:.1f} M requests",
             waf, ("AWS::WAFv2::WebACL",)),
        Line("Data transfer", "between regions", f"{forwarded + copied:.0f} GB: forwarded writes, file, image "
             "and backup copies", transfer, ("AWS::ECR::ReplicationConfiguration",)),
    ]
    if cfg.global_accelerator:
        # the API's answers (all of CloudFront's /api/* and direct clients) cross the accelerator once
        fixed = month(p, p("global_accelerator_hour"))
        premium = gb_out * p("global_accelerator_dt_premium_gb")
        lines.append(Line("Global Accelerator", "accelerator, DT-premium", f"1 accelerator, {gb_out:.0f} GB "
                          "(Europe/North America); its 2 addresses: see docs", fixed + premium,
                          ("AWS::GlobalAccelerator::Accelerator", "AWS::GlobalAccelerator::Listener",
                           "AWS::GlobalAccelerator::EndpointGroup")))
    return lines


def ops_lines(cfg: Any, p: Prices, u: Usage) -> list[Line]:
    """Secrets, keys, CloudWatch, X-Ray, Lambda, ECR and the pipeline."""
    regions = len(cfg.regions)
    secrets = SECRETS * regions * p("secret_month") + u.secret_reads * regions / 1e4 * p("secret_api_10k")
    kms = regions * p("kms_key_month") + u.kms_requests * regions / 1e4 * p("kms_request_10k")
    task_count = sum(tasks(cfg, s) for s in config.ALL_SERVICES)
    acls = web_acls(cfg)
    logs_gb = {r: task_count * u.log_gb_per_task + u.flow_log_gb for r in cfg.regions}
    waf_logs = acls * u.waf_log_gb
    # kept: a month's ingest times the months of retention (the tasks' and flow logs: config.log_retention_days)
    kept = cfg.log_retention_days / 30
    logs = sum(gb * (p("logs_ingest_gb", r) + kept * p("logs_storage_gb_month", r)) for r, gb in logs_gb.items()) \
        + waf_logs * (p("logs_ingest_gb", cfg.primary) + WAF_LOG_DAYS / 30 * p("logs_storage_gb_month", cfg.primary))
    alarms = (ALARMS_PER_REGION * regions + GLOBAL_ALARMS) * p("alarm_month")
    dashboards = max(0, DASHBOARDS_PER_REGION * regions + GLOBAL_DASHBOARDS - 3) * p("dashboard_month")
    runs = canary_runs(cfg)
    canaries = sum(CANARIES_PER_REGION * runs * p("canary_run", r) for r in cfg.regions)
    traces = max(0.0, u.requests * 0.05 - 100_000) / 1e6 * p("xray_trace_million") if cfg.tracing else 0.0
    ecr = u.image_gb * regions * p("ecr_gb_month")
    pipeline = max(0, u.releases * u.build_minutes - 100) * p("codepipeline_action_minute") \
        + u.releases * u.build_minutes * p("codebuild_minute")
    return [
        Line("Secrets Manager", "secrets and replicas", f"{SECRETS} secrets x {regions} regions", secrets,
             ("AWS::SecretsManager::Secret",)),
        Line("KMS", "multi-region key and replicas", f"{regions} keys, {u.kms_requests // 1000} k requests a region",
             kms, ("AWS::KMS::Key", "AWS::KMS::ReplicaKey")),
        Line("CloudWatch", "logs", f"{sum(logs_gb.values()) + waf_logs:.0f} GB: tasks, flow logs (kept "
             f"{cfg.log_retention_days} days), WAF", logs,
             ("AWS::Logs::LogGroup", "AWS::EC2::FlowLog", "AWS::WAFv2::LoggingConfiguration")),
        Line("CloudWatch", "alarms", f"{ALARMS_PER_REGION} a region + {GLOBAL_ALARMS} global", alarms,
             ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")),
        Line("CloudWatch", "dashboards", f"{DASHBOARDS_PER_REGION} a region + {GLOBAL_DASHBOARDS} global "
             "(3 free an account)", dashboards, ("AWS::CloudWatch::Dashboard",)),
        Line("CloudWatch Synthetics", "canaries", f"{CANARIES_PER_REGION} a region, every "
             f"{CANARY_MINUTES[cfg.demo]} minutes: {runs} runs each",
             canaries, ("AWS::Synthetics::Canary",)),
        Line("X-Ray", "traces", "5% of requests sampled" if cfg.tracing else "tracing off", traces),
        Line("Lambda, EventBridge, SQS, SNS", "failover watcher, alarms",
             "a watcher run a minute a region (within the free tiers)", 0.0,
             ("AWS::Lambda::Function", "AWS::Scheduler::Schedule", "AWS::SQS::Queue", "AWS::SNS::Topic")),
        Line("ECR", "images", f"{u.image_gb:g} GB a region", ecr, ("AWS::ECR::Repository",)),
        Line("CodePipeline, CodeBuild", "releases", f"{u.releases} releases x {u.build_minutes} build minutes",
             pipeline, ("AWS::CodePipeline::Pipeline", "AWS::CodeBuild::Project")),
    ]


def estimate(cfg: Any, prices: Prices | None = None, usage: Usage = USAGE) -> list[Line]:
    """Every line of the monthly estimate of CFG."""
    p = prices or Prices()
    return [*aurora_lines(cfg, p, usage), *compute_lines(cfg, p, usage), *data_lines(cfg, p, usage),
            *edge_lines(cfg, p, usage), *ops_lines(cfg, p, usage)]


def total(lines: list[Line]) -> float:
    """The monthly total."""
    return sum(line.usd for line in lines)


def as_profile(cfg: Any, profile: str) -> Any:
    """CFG under PROFILE, with that profile's defaults for what the file leaves unset (config.parse's rules)."""
    if cfg.profile == profile:
        return cfg
    raw = {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}
    raw["services"] = {k: vars(v) for k, v in cfg.services.items()}
    if profile == "demo":  # the demo's own sizes and two regions
        raw = {**raw, **config.DEMO_DEFAULTS, "services": {}, "regions": list(cfg.regions[:2])}
    else:
        defaults = config.DeployConfig.__dataclass_fields__
        raw = {**raw, **{k: defaults[k].default for k in config.DEMO_DEFAULTS}}
    return config.parse({**raw, "profile": profile, "regions": list(raw["regions"])})


def render(cfg: Any, lines: list[Line], prices: Prices, usage: Usage = USAGE) -> str:
    """The estimate as a text table."""
    as_of = sorted({str(e["as_of"]) for e in prices.table.values()})
    head = (f"Orbitask on AWS, profile {cfg.profile}: {', '.join(cfg.regions)} (writer {cfg.writer}); "
            f"USD a month, list prices as of {', '.join(as_of)} ({PRICES.name}; check them before relying)")
    assume = (f"Usage: {usage.users} users, {usage.peak_rps} req/s peak, {usage.avg_rps:g} req/s average "
              f"({usage.requests / 1e6:.1f} M requests), {usage.db_gb} GB database, {usage.files_gb} GB files, "
              f"{prices.hours} h")
    width = max(len(line.quantity) for line in lines)
    rows = [head, assume, "", f"{'Service':<30} {'Item':<30} {'Quantity, assumption':<{width}} {'USD':>9}"]
    rows += [f"{line.service:<30} {line.item:<30} {line.quantity:<{width}} {line.usd:>9.2f}" for line in lines]
    rows.append(f"{'Total':<30} {'':<30} {'':<{width}} {total(lines):>9.2f}")
    if prices.guessed:
        rows.append(f"(no prices listed for {', '.join(sorted(prices.guessed))}: priced at the highest listed)")
    estimates = sorted(key for key in prices.used if "estimate" in prices.table[key])
    if estimates:
        rows.append(f"(estimates to check against their pages: {', '.join(estimates)})")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEPLOY_AWS / "regions.example.yaml"))
    parser.add_argument("--profile", choices=(*PROFILES, "all"), default=None,
                        help="price the config as this profile (default: the config's own)")
    args = parser.parse_args(argv)
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        print(f"orbitask deploy config: {exc}", file=sys.stderr)
        return 2
    profiles = PROFILES if args.profile == "all" else (args.profile or cfg.profile,)
    for i, profile in enumerate(profiles):
        prices = Prices()
        priced = as_profile(cfg, profile)
        print(("\n" if i else "") + render(priced, estimate(priced, prices), prices))
    return 0


if __name__ == "__main__":
    sys.exit(main())

