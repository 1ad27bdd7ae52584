"""The deployment's config file (YAML): account, domains, regions (the first is the writer), sizes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,20}$")
HTTP_SERVICES = ("auth", "boards", "tasks", "notifications", "realtime")
ALL_SERVICES = (*HTTP_SERVICES, "worker")
PROFILES = ("production", "demo")


class ConfigError(ValueError):
    """The config file is invalid; the message names the field."""


@dataclass(frozen=True)
class ServiceSize:
    """Fargate size and scaling of one service."""

    cpu: int = 512
    memory: int = 1024
    min_tasks: int = 2
    max_tasks: int = 6


# one worker per region: its consumers keep cursors in the database and act only in the writer region
DEFAULT_SIZES = {"worker": ServiceSize(cpu=512, memory=1024, min_tasks=1, max_tasks=1)}
# demo: the smallest Fargate size, one task per service, no scaling (docs/deploy-aws.md, "Profiles and cost")
DEMO_SIZE = ServiceSize(cpu=256, memory=512, min_tasks=1, max_tasks=1)
# what the demo profile changes when regions.yaml does not say otherwise: the cheapest settings that still run
# every service in every region (a demo's data is rebuilt, not kept: no deletion protection to undo first)
DEMO_DEFAULTS: dict[str, Any] = {
    "nat_gateways": 0, "db_readers": 0, "redis_node_type": "cache.t4g.micro", "tracing": False,
    "protect_data": False,
}


@dataclass(frozen=True)
class DeployConfig:
    """Everything the CDK app reads from the config file."""

    name: str
    account: str
    regions: tuple[str, ...]  # the first is the primary (writer) region
    domain: str  # CloudFront: the web app, /api and /files
    api_domain: str  # Route 53 latency records; each region also answers at <region>.<api_domain>
    hosted_zone_id: str
    hosted_zone_name: str
    alarm_email: str
    monthly_budget_usd: int
    source_repository: str  # owner/name of the repository the pipeline builds
    source_branch: str
    source_connection_arn: str  # a CodeStar connection to the repository host
    # production: today's sizes; demo: the cheapest two-region setup (docs/deploy-aws.md, "Profiles and cost")
    profile: Literal["production", "demo"] = "production"
    image_tag: str = "latest"
    # false for a first deployment: a bucket can only replicate to buckets that exist (docs/deploy-aws.md)
    replicate_attachments: bool = True
    # Aurora deletion protection; false for a first deployment, so that a failed creation can roll back
    protect_data: bool = True
    auto_failover: bool = False  # promote a secondary automatically when the writer region's health check fails
    # the API name as an alias of a Global Accelerator (anycast addresses, an endpoint group a region) instead of
    # Route 53 latency records (docs/deploy-aws.md, "Global Accelerator")
    global_accelerator: bool = False
    # the region whose services write to their own cluster; the others read their local replica and forward
    # writes. Unset: the first region. After a failover, set it to the new writer and push (docs/deploy-aws.md)
    writer_region: str = ""
    azs: int = 2
    nat_gateways: int = 1
    db_instance_class: str = "db.r6g.large"
    db_readers: int = 1  # per region, besides the primary region's writer
    redis_node_type: str = "cache.t4g.small"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"
    tracing: bool = True  # an OpenTelemetry collector sidecar sends traces to X-Ray
    services: dict[str, ServiceSize] = field(default_factory=dict)
    # CloudFront signed URLs for /files/* (attachments); unset: no /files behaviour, the app presigns S3 URLs
    attachments_public_key_file: str = ""
    attachments_public_key_pem: str = ""

    @property
    def primary(self) -> str:
        """The region whose Aurora cluster is the writer when first deployed."""
        return self.regions[0]

    @property
    def writer(self) -> str:
        """The region whose Aurora cluster the services write to (its endpoint is inactive everywhere else)."""
        return self.writer_region or self.primary

    @property
    def secondaries(self) -> tuple[str, ...]:
        """Every region but the primary."""
        return self.regions[1:]

    @property
    def global_cluster_id(self) -> str:
        """The Aurora global database's identifier (what `orbitask failover --aws` names)."""
        return f"{self.name}-global"

    @property
    def demo(self) -> bool:
        """The demo profile: the cheapest two-region setup."""
        return self.profile == "demo"

    @property
    def fargate_spot(self) -> bool:
        """Services run on Fargate Spot (a task may be stopped with two minutes' notice)."""
        return self.demo

    @property
    def arm64(self) -> bool:
        """Tasks run on ARM64 (Graviton) Fargate; production keeps X86_64 until the image is built for both."""
        return self.demo

    @property
    def waf_on_load_balancers(self) -> bool:
        """A regional web ACL on each load balancer besides the one on CloudFront."""
        return not self.demo

    @property
    def aurora_serverless(self) -> bool:
        """Aurora Serverless v2 instances instead of provisioned ones (db_instance_class)."""
        return self.demo

    @property
    def desired_tasks(self) -> int:
        """Tasks per service when the profile fixes them (demo: 1); 0: each service's own min_tasks."""
        return 1 if self.demo else 0

    @property
    def bot_control(self) -> bool:
        """WAF Bot Control on CloudFront's web-app paths ($10 a month and $1 a million requests): not in the demo."""
        return not self.demo

    @property
    def health_check_interval(self) -> int:
        """Seconds between a Route 53 checker's probes of a region's /readyz: 10 is an optional feature ($1 a month
        a check), 30 the standard one (the demo)."""
        return 30 if self.demo else 10

    @property
    def health_check_latency(self) -> bool:
        """Route 53 measures each check's latency (an optional feature, $1 a month a check): not in the demo."""
        return not self.demo

    @property
    def log_retention_days(self) -> int:
        """Days the tasks' and the VPC flow logs are kept (the demo a week)."""
        return 7 if self.demo else 30

    def size(self, service: str) -> ServiceSize:
        """The configured size of SERVICE (defaults when not configured); demo: always desired_tasks tasks."""
        if self.demo:
            size = self.services.get(service, DEMO_SIZE)
            return ServiceSize(cpu=size.cpu, memory=size.memory, min_tasks=self.desired_tasks,
                               max_tasks=self.desired_tasks)
        return self.services.get(service, DEFAULT_SIZES.get(service, ServiceSize()))

    def regional_fqdn(self, region: str) -> str:
        """The name one region's load balancer answers at."""
        return f"{region}.{self.api_domain}"

    def regions_json(self) -> str:
        """ORBITASK_REGIONS: every region's name, public URL and internal (forwarding) URL."""
        return json.dumps([
            {"name": r, "public_url": f"https://{self.regional_fqdn(r)}", "internal_url": f"https://{self.regional_fqdn(r)}"}
            for r in self.regions
        ], separators=(",", ":"))

    @property
    def web_bucket_name(self) -> str:
        """The bucket CloudFront serves the web app from (us-east-1)."""
        return f"{self.name}-web-{self.account}"

    def bucket_name(self, region: str) -> str:
        """The attachments bucket of REGION (fixed, so every region can name every other's as a replica)."""
        return f"{self.name}-files-{self.account}-{region}"


def load(path: str | Path, **overrides: Any) -> DeployConfig:
    """Read and validate the config file at PATH."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    key_file = raw.get("attachments_public_key_file")
    if key_file:
        key_path = Path(path).parent / key_file
        try:
            raw["attachments_public_key_pem"] = key_path.read_text()
        except OSError as exc:
            raise ConfigError(f"attachments_public_key_file: cannot read {key_path}: {exc}") from exc
    return parse(raw)


def parse(raw: dict[str, Any]) -> DeployConfig:
    """Validate a config mapping."""
    raw = dict(raw)
    known = set(DeployConfig.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"unknown config keys {unknown}")
    source = raw.get("source_repository", "")
    missing = [k for k in ("name", "account", "regions", "domain", "api_domain", "hosted_zone_id",
                           "hosted_zone_name", "alarm_email", "monthly_budget_usd", "source_repository",
                           "source_branch", "source_connection_arn") if raw.get(k) in (None, "", [])]
    if missing:
        raise ConfigError(f"missing config keys {missing}")
    if not NAME_RE.match(str(raw["name"])):
        raise ConfigError("name: 2-21 lowercase letters, digits or dashes, starting with a letter")
    if not re.fullmatch(r"\d{12}", str(raw["account"])):
        raise ConfigError("account: a 12-digit AWS account id (quote it in YAML)")
    regions = tuple(raw["regions"])
    bad = [r for r in regions if not REGION_RE.match(str(r))]
    if bad or len(set(regions)) != len(regions):
        raise ConfigError(f"regions: distinct AWS region codes, the writer first; bad: {bad or 'duplicates'}")
    if raw.get("writer_region") and raw["writer_region"] not in regions:
        raise ConfigError(f"writer_region: one of the regions {list(regions)}")
    if "/" not in source:
        raise ConfigError("source_repository: owner/name")
    profile = raw.setdefault("profile", "production")
    if profile not in PROFILES:
        raise ConfigError(f"profile: one of {list(PROFILES)}")
    if profile == "demo":
        if raw.get("nat_gateways"):
            raise ConfigError("nat_gateways: the demo profile has none (its tasks have public IPs)")
        raw = {**DEMO_DEFAULTS, **raw}
    services = raw.pop("services", None) or {}
    sizes = {}
    for svc, size in services.items():
        if svc not in ALL_SERVICES:
            raise ConfigError(f"services: unknown service {svc!r}; choose from {list(ALL_SERVICES)}")
        sizes[svc] = ServiceSize(**size)
    return DeployConfig(**{**raw, "account": str(raw["account"]), "regions": regions, "services": sizes})
