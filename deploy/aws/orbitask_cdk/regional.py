"""The stack of one region: network, data, compute and operations."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from . import accelerator, data, nag, ops, services
from .config import DeployConfig
from .edge import GlobalStack

# Secrets Manager secret (under <name>/) -> the ORBITASK_* variables it fills, with the JSON field of each
APP_SECRETS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "secret-key": (("ORBITASK_SECRET_KEY", None),),
    "forward-secret": (("ORBITASK_FORWARD_SECRET", None),),
    "smtp": (("ORBITASK_SMTP_USERNAME", "username"), ("ORBITASK_SMTP_PASSWORD", "password")),
    "db-app": (("ORBITASK_DATABASE_PASSWORD", None),),  # the app's database user (data.DB_APP_USER)
}
# the app exports traces with OTLP over HTTP (src/orbitask/core/tracing.py): the collector's HTTP port
OTLP_PROTOCOL, OTLP_PORT = "http/protobuf", services.OTLP_PORT
# the SMTP credentials are set by hand after the first deployment (docs/deploy-aws.md); a placeholder until then
GENERATED = {
    "smtp": sm.SecretStringGenerator(secret_string_template='{"username": "set-me"}', generate_string_key="password",
                                     exclude_punctuation=True),
}
# why no app secret rotates on a schedule (cdk-nag AwsSolutions-SMG4): each rotates by hand (docs/deploy-aws.md)
SECRET_ROTATION = {
    "secret-key": "signs sessions and tokens: a new key signs everyone out, so it changes by hand, with a restart",
    "forward-secret": "every region's services must verify the same signature: a change is a coordinated rollout",
    "smtp": "issued by the mail provider: it changes when the provider's credentials do",
    "db-app": "provision_db_user.py sets it as the app user's MySQL password when migrations run: it changes "
              "with a migration run, not behind the services' backs",
}
MASTER_SECRET = "db"  # <name>/db: Aurora's master user (made with the primary cluster)
# <name>/cloudfront-key: the private key of attachments_public_key_file's pair, which the operator stores (PEM) before
# deploying with it (docs/deploy-aws.md): key material never passes through a template
CLOUDFRONT_KEY_SECRET = "cloudfront-key"
# the service that answers downloads (tasks/attachments.py): the only one that reads other regions' buckets or signs
FILES_SERVICE = "tasks"
ENDPOINTS = {
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
}


def network(scope: Construct, cfg: DeployConfig, region: str) -> ec2.Vpc:
    """A VPC: public subnets (ALB, NAT), private ones (tasks), isolated ones (Aurora), VPC endpoints, flow logs.

    Without NAT gateways (the demo) there are no private subnets with egress and no interface endpoints (they cost
    more than the demo's whole compute): the tasks sit in the public subnets with public addresses.
    """
    index = cfg.regions.index(region)
    subnets = [ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)]
    if cfg.nat_gateways:
        subnets.append(ec2.SubnetConfiguration(name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                                               cidr_mask=20))
    subnets.append(ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24))
    vpc = ec2.Vpc(
        scope, "Vpc", ip_addresses=ec2.IpAddresses.cidr(f"10.{10 + 10 * index}.0.0/16"),
        # the region's first AZs as CloudFormation lists them (Fn::GetAZs): no lookup, and no AZ name in the template
        availability_zones=[cdk.Fn.select(i, cdk.Fn.get_azs()) for i in range(cfg.azs)], nat_gateways=cfg.nat_gateways,
        subnet_configuration=subnets,
    )
    vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
    if cfg.nat_gateways:
        private = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        for name, service in ENDPOINTS.items():
            endpoint = vpc.add_interface_endpoint(name, service=service, private_dns_enabled=True, subnets=private)
            nag.suppress(endpoint, "CdkNagValidationFailure", "the endpoint admits the VPC's own CIDR (a GetAtt nag "
                         "cannot read): only what runs in the VPC reaches it", applies_to=["AwsSolutions-EC23"],
                         children=True)
    flow_logs = logs.LogGroup(scope, "FlowLogs", retention=services.log_retention(cfg),
                              removal_policy=cdk.RemovalPolicy.DESTROY)
    vpc.add_flow_log("Flows", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                     traffic_type=ec2.FlowLogTrafficType.ALL)
    return vpc


def storage_regions(cfg: DeployConfig, region: str) -> str:
    """ORBITASK_STORAGE_REGIONS: every other region's attachments bucket (downloads fall back to the origin's)."""
    return json.dumps({other: {"backend": "s3", "bucket": cfg.bucket_name(other), "region": other}
                       for other in cfg.regions if other != region}, separators=(",", ":"))


def peer_reads(cfg: DeployConfig, region: str, key_arn: str) -> list[iam.PolicyStatement]:
    """Reading other regions' attachments: their buckets' objects, decrypted by their replica of the key."""
    others = [r for r in cfg.regions if r != region]
    return [] if not others else [
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"arn:aws:s3:::{cfg.bucket_name(r)}/*" for r in others]),
        iam.PolicyStatement(actions=["kms:Decrypt"], resources=[data.key_arn_in(key_arn, r) for r in others]),
    ]


def files_key_id(stack: cdk.Stack) -> str:
    """The id of the CloudFront public key that verifies signed attachment URLs (the global stack beside STACK)."""
    (found,) = [c for c in stack.node.scope.node.children if isinstance(c, GlobalStack)]
    return found.files_key_id


def accelerator_listener(stack: cdk.Stack) -> str | None:
    """The Global Accelerator listener's ARN (the global stack beside STACK); None without the setting."""
    (found,) = [c for c in stack.node.scope.node.children if isinstance(c, GlobalStack)]
    return found.accelerator.listener_arn if found.accelerator else None


class RegionalStack(cdk.Stack):
    """Everything Orbitask runs in one region; the primary also owns the global database, key and secrets.

    DISTRIBUTION_ARN (the primary only): the CloudFront distribution that may read its attachments.
    """

    def __init__(self, scope: Construct, construct_id: str, *, cfg: DeployConfig, region: str,
                 primary: RegionalStack | None = None, distribution_arn: str | None = None,
                 synthesizer: cdk.IStackSynthesizer | None = None) -> None:
        super().__init__(
            scope, construct_id, env=cdk.Environment(account=cfg.account, region=region),
            cross_region_references=True, description=f"Orbitask in {region}", synthesizer=synthesizer,
        )
        self.cfg, self.region_name = cfg, region
        vpc = network(self, cfg, region)
        if primary is None:
            key = data.primary_key(self, cfg, distribution_arn)
            self.key_arn = key_arn = key.key_arn
            app_secrets: dict[str, sm.ISecret] = {}
            for name in APP_SECRETS:
                app_secrets[name] = sm.Secret(
                    self, f"App-{name}", secret_name=f"{cfg.name}/{name}",
                    description=f"{', '.join(v for v, _ in APP_SECRETS[name])}; replicated to every region",
                    generate_secret_string=GENERATED.get(name) or sm.SecretStringGenerator(
                        password_length=64, exclude_punctuation=True),
                    replica_regions=[sm.ReplicaRegion(region=r) for r in cfg.secondaries],
                )
                nag.suppress(app_secrets[name], "AwsSolutions-SMG4", SECRET_ROTATION[name])
            db = data.primary_database(self, cfg, vpc, key)
            self.secret_arns = {name: secret.secret_arn for name, secret in app_secrets.items()}
            self.secret_arns[MASTER_SECRET] = db.secret.secret_arn
        else:
            key = data.replica_key(self, cfg, primary.key_arn)
            key_arn = key.key_arn
            # the replicas by complete ARN (the primary's, in this region): a partial ARN is misread for some names
            app_secrets = {name: sm.Secret.from_secret_complete_arn(
                self, f"Secret-{name}", data.secret_arn_in(arn, region)) for name, arn in primary.secret_arns.items()}
            db = data.secondary_database(self, cfg, region, vpc, key.key_arn, app_secrets.pop(MASTER_SECRET))
            self.add_stack_dependency(primary, "the global database, key and secrets are made in the primary region")
        files = data.attachments_bucket(self, cfg, region, key, key.key_arn, replicate=cfg.replicate_attachments,
                                        distribution_arn=distribution_arn)
        cache = data.redis(self, cfg, vpc, key)
        app_sg = ec2.SecurityGroup(self, "AppSg", vpc=vpc, description="Orbitask tasks and the failover Lambda")
        db.security_group.add_ingress_rule(app_sg, ec2.Port.tcp(data.DB_PORT), "Orbitask to Aurora")
        cache.security_group.add_ingress_rule(app_sg, ec2.Port.tcp(6379), "Orbitask to Redis")
        # the cluster endpoint only in the writer region: elsewhere it is inactive, so both DSNs name the local
        # reader (reads and /readyz stay in the region; writes, and reads past a replica wait, are forwarded)
        app_host = db.writer_host if region == cfg.writer else db.reader_host
        environment = {
            "ORBITASK_ENV": "production", "ORBITASK_REGION": region, "ORBITASK_REGIONS": cfg.regions_json(),
            "ORBITASK_HOST": "0.0.0.0", "ORBITASK_PORT": str(services.APP_PORT),
            # links name CloudFront's domain; CloudFront reaches the ALBs as api_domain (regions' own names are
            # in ORBITASK_REGIONS): production refuses any other Host
            "ORBITASK_PUBLIC_URL": f"https://{cfg.domain}", "ORBITASK_ALLOWED_HOSTS": cfg.api_domain,
            "ORBITASK_FORWARDED_ALLOW_IPS": vpc.vpc_cidr_block,  # the ALB's addresses: client IPs for rate limits
            "ORBITASK_DATABASE_URL": data.dsn(data.DB_APP_USER, app_host),
            "ORBITASK_DATABASE_READER_URL": data.dsn(data.DB_APP_USER, db.reader_host),
            "ORBITASK_WRITER_REGION": cfg.writer,  # until the topology row names one
            "ORBITASK_REDIS_URL": cache.url, "ORBITASK_S3_BUCKET": files.bucket_name, "ORBITASK_S3_REGION": region,
            "ORBITASK_STORAGE_BACKEND": "s3",  # S3 replicates the files between regions (the bucket's rules)
            "ORBITASK_SMTP_HOST": cfg.smtp_host, "ORBITASK_SMTP_PORT": str(cfg.smtp_port),
            "ORBITASK_SMTP_SECURITY": cfg.smtp_security, "ORBITASK_DATA_DIR": "/tmp/orbitask",
        }
        secrets = {var: (app_secrets[n], field) for n, fills in APP_SECRETS.items() for var, field in fills}
        # other regions' buckets: downloads fall back to the origin's while S3 replicates. The worker gets them only
        # without S3 replication: it would copy every file itself, and its copies would replicate out again
        peers = {"ORBITASK_STORAGE_REGIONS": storage_regions(cfg, region)}
        peer_users = [FILES_SERVICE] + ([] if cfg.replicate_attachments else ["worker"])
        extra_environment = {service: dict(peers) for service in peer_users}
        extra_secrets: dict[str, dict[str, services.ecs.Secret]] = {}
        if distribution_arn:  # signed CloudFront URLs, where CloudFront's /files/* origin is the local bucket
            extra_environment[FILES_SERVICE].update({
                "ORBITASK_CLOUDFRONT_URL": f"https://{cfg.domain}/files",
                "ORBITASK_CLOUDFRONT_KEY_ID": files_key_id(self),
            })
            extra_secrets[FILES_SERVICE] = {"ORBITASK_CLOUDFRONT_PRIVATE_KEY": services.ecs.Secret.from_secrets_manager(
                sm.Secret.from_secret_name_v2(self, "CloudFrontKey", f"{cfg.name}/{CLOUDFRONT_KEY_SECRET}"))}
        tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{OTLP_PORT}",
                   "OTEL_EXPORTER_OTLP_PROTOCOL": OTLP_PROTOCOL} if cfg.tracing else {}
        # the migration task and the failover Lambda act only where the writer is now (which a failover moves):
        # they use this region's cluster endpoint, active once the cluster is promoted
        local_writer = data.dsn(data.DB_APP_USER, db.writer_host)
        migrate_environment = {k: v for k, v in environment.items() if k != "ORBITASK_DATABASE_READER_URL"}
        migrate_secrets = {**secrets, "ORBITASK_DATABASE_PASSWORD": (db.secret, "password"),
                           "ORBITASK_APP_DATABASE_PASSWORD": (app_secrets["db-app"], None)}
        rt = services.AppRuntime(
            environment={**environment, **tracing},
            secrets={env: services.ecs.Secret.from_secrets_manager(s, f) for env, (s, f) in secrets.items()},
            security_group=app_sg, files=files, tracing=cfg.tracing,
            migrate_environment={
                **migrate_environment, **tracing, "ORBITASK_DATABASE_URL": data.dsn(data.DB_USER, db.writer_host),
                "ORBITASK_APP_DATABASE_USER": data.DB_APP_USER,
            },
            migrate_secrets={env: services.ecs.Secret.from_secrets_manager(s, f)
                             for env, (s, f) in migrate_secrets.items()},
            extra_environment=extra_environment, extra_secrets=extra_secrets,
            extra_statements={service: peer_reads(cfg, region, key_arn) for service in peer_users},
        )
        zone = route53.HostedZone.from_hosted_zone_attributes(
            self, "Zone", hosted_zone_id=cfg.hosted_zone_id, zone_name=cfg.hosted_zone_name,
        )
        self.compute = services.compute(self, cfg, region, vpc, rt, zone)
        data.log_access(files, self.compute.logs_bucket, "s3/files/")
        # with Global Accelerator: this region's load balancer joins the accelerator, and the watcher may dial it
        listener_arn = accelerator_listener(self) if cfg.global_accelerator else None
        if listener_arn:
            accelerator.endpoint_group(self, cfg, region, listener_arn=listener_arn, alb=self.compute.alb)
        topic = ops.alarm_topic(self, cfg)
        region_alarms = ops.alarms(self, cfg, region, self.compute.alb, db.cluster_id, topic)
        # the services roll back on two of them, named in their deployment configuration: they exist first
        for service in self.compute.services.values():
            service.node.add_dependency(*region_alarms[:len(services.DEPLOYMENT_ALARMS)])
        ops.oncall_alarms(self, cfg, region, self.compute, db.cluster_id, topic)
        watcher_environment = {**environment, "ORBITASK_DATABASE_URL": local_writer,
                               **({"ORBITASK_ACCELERATOR_LISTENER": listener_arn} if listener_arn else {})}
        self.failover = ops.failover_lambda(self, cfg, region, vpc, app_sg, watcher_environment, secrets, topic)
        if listener_arn:  # the endpoint groups of this accelerator's listener only
            self.failover.add_to_role_policy(iam.PolicyStatement(
                actions=["globalaccelerator:ListEndpointGroups", "globalaccelerator:UpdateEndpointGroup"],
                resources=[listener_arn, f"{listener_arn}/endpoint-group/*"],
            ))
        ops.canary(self, cfg, region, self.compute.logs_bucket, topic)
        ops.dashboard(self, cfg, region, self.compute, db.cluster_id)
        self.files = files
        cdk.CfnOutput(self, "LoadBalancer", value=self.compute.alb.load_balancer_dns_name)
        cdk.CfnOutput(self, "RegionalUrl", value=f"https://{cfg.regional_fqdn(region)}")
