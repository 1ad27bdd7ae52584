"""One region's data: the KMS multi-region key, the attachments bucket, ElastiCache Redis, the Aurora cluster
and its backups."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_backup as backup
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from . import nag
from .config import DeployConfig

AURORA_VERSION = rds.AuroraMysqlEngineVersion.VER_3_09_0
ENGINE = rds.DatabaseClusterEngine.aurora_mysql(version=AURORA_VERSION)
DB_NAME = "orbitask"
DB_USER = "orbitask"  # the master user: migrations (DDL) and making the app's user, never the services
DB_APP_USER = "orbitask_app"  # the services and the failover Lambda: rows only (scripts/provision_db_user.py)
DB_PORT = 3306
# Amazon RDS's CA bundle in the image (deploy/docker/Dockerfile): the DSNs verify the server's certificate and name
RDS_CA_BUNDLE = "/etc/ssl/certs/rds-global-bundle.pem"
# every Aurora cluster refuses connections without TLS (the secondaries too: any of them may be promoted)
DB_CLUSTER_PARAMETERS = {"require_secure_transport": "ON"}
# characters a DSN would need escaped: keep them out of the generated password
DB_PASSWORD_EXCLUDE = " %+~`#$&*()|[]{}:;<>?!'/@\"\\,="
ISOLATED = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
PRIVATE = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
# Aurora Serverless v2 (the demo profile). Aurora MySQL 3.08+ (this app's 3.09) accepts a minimum of 0 ACU
# (auto-pause), but not on a global database's primary cluster, and an instance pauses only without
# connections, which the services' pools, the relay and the topology poll never allow: 0.5 is the real floor
SERVERLESS_MIN_ACU = 0.5
SERVERLESS_MAX_ACU = 4.0  # 8 GiB: room for a burst; a demo pays for what it uses, not for the maximum
BACKUP_DAYS = 14  # AWS Backup's daily snapshots and their copies in the next region (as Aurora's own retention)


def arn_in(arn: str, region: str, service: str, resource: str, arn_format: cdk.ArnFormat) -> str:
    """ARN with another region: a multi-region key's or a replicated secret's replica (same id and suffix)."""
    parts = cdk.Arn.split(arn, arn_format)
    return cdk.Arn.format(cdk.ArnComponents(
        partition=parts.partition, service=service, region=region, account=parts.account, resource=resource,
        resource_name=parts.resource_name, arn_format=arn_format,
    ))


def key_arn_in(key_arn: str, region: str) -> str:
    """The ARN of a multi-region key's replica in REGION: same key id, another region."""
    return arn_in(key_arn, region, "kms", "key", cdk.ArnFormat.SLASH_RESOURCE_NAME)


def secret_arn_in(secret_arn: str, region: str) -> str:
    """The complete ARN of a replicated secret's replica in REGION (the primary's name and random suffix).

    A secret named by a partial ARN whose name ends in a hyphen and six characters (`forward-secret`) is read
    by AWS as a complete ARN and not found, so replicas are always named by their complete ARN.
    """
    return arn_in(secret_arn, region, "secretsmanager", "secret", cdk.ArnFormat.COLON_RESOURCE_NAME)


def dsn(user: str, host: str) -> str:
    """An Aurora DSN over verified TLS; the password comes from ORBITASK_DATABASE_PASSWORD."""
    return (f"mysql+asyncmy://{user}@{host}:{DB_PORT}/{DB_NAME}"
            f"?ssl_ca={RDS_CA_BUNDLE}&ssl_check_hostname=true")


def key_policy(distribution_arn: str | None = None) -> iam.PolicyDocument:
    """Admin through IAM in this account; the one distribution that serves attachments may decrypt them."""
    statements = [iam.PolicyStatement(
        sid="AccountAdministersThroughIam", principals=[iam.AccountRootPrincipal()], actions=["kms:*"],
        resources=["*"],
    )]
    if distribution_arn:
        statements.append(iam.PolicyStatement(
            sid="CloudFrontReadsAttachments", principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
            actions=["kms:Decrypt"], resources=["*"],
            conditions={"StringEquals": {"AWS:SourceArn": distribution_arn}},
        ))
    return iam.PolicyDocument(statements=statements)


def primary_key(scope: Construct, cfg: DeployConfig, distribution_arn: str | None) -> kms.Key:
    """The multi-region KMS key (primary) that encrypts Aurora, S3, Redis and the image repository."""
    key = kms.Key(
        scope, "Key", alias=f"alias/{cfg.name}", enable_key_rotation=True, policy=key_policy(distribution_arn),
        description=f"{cfg.name}: data at rest (multi-region primary)", removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    key.node.default_child.add_property_override("MultiRegion", True)
    return key


def replica_key(scope: Construct, cfg: DeployConfig, primary_arn: str) -> kms.IKey:
    """This region's replica of the multi-region key."""
    replica = kms.CfnReplicaKey(
        scope, "Key", primary_key_arn=primary_arn, key_policy=key_policy(),
        description=f"{cfg.name}: data at rest (multi-region replica)",
    )
    replica.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
    kms.CfnAlias(scope, "KeyAlias", alias_name=f"alias/{cfg.name}", target_key_id=replica.attr_key_id)
    return kms.Key.from_key_arn(scope, "KeyRef", replica.attr_arn)


def attachments_bucket(scope: Construct, cfg: DeployConfig, region: str, key: kms.IKey, key_arn: str,
                       *, replicate: bool, distribution_arn: str | None = None) -> s3.Bucket:
    """Versioned, KMS-encrypted attachments bucket replicating to every other region's bucket.

    DISTRIBUTION_ARN: the CloudFront distribution that serves /files/* from this bucket (the primary's only).
    """
    rules = []
    if replicate:
        for priority, other in enumerate(r for r in cfg.regions if r != region):
            rules.append(s3.ReplicationRule(
                id=f"to-{other}", priority=priority, destination=s3.Bucket.from_bucket_attributes(
                    scope, f"Replica-{other}", bucket_name=cfg.bucket_name(other), region=other,
                ),
                kms_key=kms.Key.from_key_arn(scope, f"ReplicaKey-{other}", key_arn_in(key_arn, other)),
                sse_kms_encrypted_objects=True, delete_marker_replication=True, filter=s3.Filter(prefix=""),
            ))
    bucket = s3.Bucket(
        scope, "Files", bucket_name=cfg.bucket_name(region), versioned=True, encryption=s3.BucketEncryption.KMS,
        encryption_key=key, bucket_key_enabled=True, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=cdk.RemovalPolicy.RETAIN, replication_rules=rules or None,
        lifecycle_rules=[s3.LifecycleRule(
            noncurrent_version_expiration=cdk.Duration.days(90), abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
        )],
    )
    if rules:
        nag.suppress(bucket, "AwsSolutions-IAM5", "S3's replication role, as CDK writes it: every object (and version) "
                     "of this bucket to the same keys in the other regions' buckets, encrypted with the key's replicas",
                     applies_to=["Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*",
                                 "/^Resource::<Files[0-9A-F]+\\.Arn>\\/\\*$/",
                                 *(f"Resource::arn:aws:s3:::{cfg.bucket_name(r)}/*" for r in cfg.regions if r != region)],
                     children=True)
    if distribution_arn:
        bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudFrontReadsThroughOriginAccessControl",
            principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
            actions=["s3:GetObject"], resources=[bucket.arn_for_objects("*")],
            conditions={"StringEquals": {"AWS:SourceArn": distribution_arn}},
        ))
    return bucket


def log_access(bucket: s3.Bucket, logs: s3.IBucket, prefix: str) -> None:
    """S3 server access logs of BUCKET into LOGS (SSE-S3, as S3's log delivery requires) under PREFIX."""
    cfn: s3.CfnBucket = bucket.node.default_child  # type: ignore[assignment]
    cfn.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
        destination_bucket_name=logs.bucket_name, log_file_prefix=prefix)
    logs.add_to_resource_policy(iam.PolicyStatement(
        sid=f"S3LogsFrom{bucket.node.id}", principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
        actions=["s3:PutObject"], resources=[logs.arn_for_objects(f"{prefix}*")],
        conditions={"ArnLike": {"aws:SourceArn": bucket.bucket_arn},
                    "StringEquals": {"aws:SourceAccount": cdk.Stack.of(bucket).account}},
    ))


@dataclass
class Redis:
    """The region's Redis: its URL and the security group clients must be allowed through."""

    url: str
    security_group: ec2.SecurityGroup


def redis(scope: Construct, cfg: DeployConfig, vpc: ec2.IVpc, key: kms.IKey) -> Redis:
    """ElastiCache Redis 7 with TLS and encryption at rest: two nodes in two AZs with automatic failover, or
    one node for the demo profile (the app runs on without Redis while it is replaced: /readyz only reports it).
    """
    sg = ec2.SecurityGroup(scope, "RedisSg", vpc=vpc, description="ElastiCache Redis", allow_all_outbound=False)
    # without NAT gateways the VPC has no private subnets with egress; Redis needs none
    subnet_type = ec2.SubnetType.PRIVATE_WITH_EGRESS if cfg.nat_gateways else ec2.SubnetType.PRIVATE_ISOLATED
    subnets = elasticache.CfnSubnetGroup(
        scope, "RedisSubnets", description=f"{cfg.name} Redis", subnet_ids=vpc.select_subnets(subnet_type=subnet_type).subnet_ids,
    )
    nodes = 1 if cfg.demo else 2
    group = elasticache.CfnReplicationGroup(
        scope, "Redis", replication_group_description=f"{cfg.name} bus, cache, rate limits, presence",
        engine="redis", engine_version="7.1", cache_node_type=cfg.redis_node_type, num_cache_clusters=nodes,
        automatic_failover_enabled=nodes > 1, multi_az_enabled=nodes > 1, transit_encryption_enabled=True,
        at_rest_encryption_enabled=True, kms_key_id=key.key_arn, cache_subnet_group_name=subnets.ref,
        security_group_ids=[sg.security_group_id], snapshot_retention_limit=1,
    )
    nag.suppress(group, "AwsSolutions-AEC5", "the port is reachable only from the app's security group, inside the VPC: "
                 "another number would hide nothing")
    nag.suppress(group, "AwsSolutions-AEC6", "TLS in transit and a security group that admits only the app's tasks; "
                 "Redis AUTH would put a password in ORBITASK_REDIS_URL, which the app takes from plain settings")
    if nodes == 1:
        nag.suppress(group, "AwsSolutions-AEC4", "the demo profile's one node (its budget): the app runs on without "
                     "Redis while ElastiCache replaces it (/readyz only reports it)")
    url = f"rediss://{group.attr_primary_end_point_address}:{group.attr_primary_end_point_port}/0"
    return Redis(url=url, security_group=sg)


@dataclass
class Database:
    """The region's Aurora cluster: endpoints, its security group, the master user's credentials."""

    writer_host: str  # the cluster endpoint: inactive while the cluster is a secondary
    reader_host: str
    cluster_id: str
    security_group: ec2.SecurityGroup
    secret: sm.ISecret  # the master user's (migrations and the app user's provisioning only)


def primary_database(scope: Construct, cfg: DeployConfig, vpc: ec2.IVpc, key: kms.IKey) -> Database:
    """The writer cluster and the global database around it; credentials replicated to every region."""
    sg = ec2.SecurityGroup(scope, "DbSg", vpc=vpc, description="Aurora MySQL", allow_all_outbound=False)
    parameters = rds.ParameterGroup(scope, "DbParams", engine=ENGINE, parameters=DB_CLUSTER_PARAMETERS,
                                    description=f"{cfg.name}: TLS only")
    if cfg.aurora_serverless:
        writer = rds.ClusterInstance.serverless_v2("Writer")
        readers = [rds.ClusterInstance.serverless_v2(f"Reader{i + 1}", scale_with_writer=True)
                   for i in range(cfg.db_readers)]
        capacity = {"serverless_v2_min_capacity": SERVERLESS_MIN_ACU, "serverless_v2_max_capacity": SERVERLESS_MAX_ACU}
    else:
        instance_type = ec2.InstanceType(cfg.db_instance_class.removeprefix("db."))
        writer = rds.ClusterInstance.provisioned("Writer", instance_type=instance_type)
        readers = [rds.ClusterInstance.provisioned(f"Reader{i + 1}", instance_type=instance_type)
                   for i in range(cfg.db_readers)]
        capacity = {}
    cluster = rds.DatabaseCluster(
        scope, "Db", engine=ENGINE, cluster_identifier=f"{cfg.name}-{cfg.primary}", default_database_name=DB_NAME,
        parameter_group=parameters,
        credentials=rds.Credentials.from_generated_secret(
            DB_USER, secret_name=f"{cfg.name}/db", exclude_characters=DB_PASSWORD_EXCLUDE,
            replica_regions=[sm.ReplicaRegion(region=r) for r in cfg.secondaries],
        ),
        writer=writer, readers=readers, **capacity,
        vpc=vpc, vpc_subnets=ISOLATED, security_groups=[sg], port=DB_PORT,
        # deletion protection makes a failed first creation end in ROLLBACK_FAILED (the rollback cannot delete
        # the cluster): off until the first deployment succeeded, then protect_data turns it on (no replacement)
        storage_encrypted=True, storage_encryption_key=key, deletion_protection=cfg.protect_data,
        backup=rds.BackupProps(retention=cdk.Duration.days(14)), removal_policy=cdk.RemovalPolicy.SNAPSHOT,
        cloudwatch_logs_exports=["error", "slowquery"], monitoring_interval=cdk.Duration.seconds(60),
    )
    aurora_findings(cluster, cfg)
    nag.suppress(cluster, "AwsSolutions-IAM4", "the enhanced monitoring role: AWS's policy for it is the documented one "
                 "(CloudWatch Logs RDSOSMetrics only)", applies_to=[
                     "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"],
                 children=True)
    nag.suppress(cluster.node.find_child("Secret"), "AwsSolutions-SMG4", "the master user's password, replicated to every region, used "
                 "only by migrations: a rotation Lambda would need the VPC to reach Secrets Manager (the demo has no NAT); "
                 "rotate it by hand (docs/deploy-aws.md)", children=True)
    rds.CfnGlobalCluster(
        scope, "GlobalDb", global_cluster_identifier=cfg.global_cluster_id,
        source_db_cluster_identifier=cluster.cluster_arn, deletion_protection=cfg.protect_data,
    )
    backups(scope, cfg, cfg.primary, cluster.cluster_arn, key)
    return Database(
        writer_host=cluster.cluster_endpoint.hostname, reader_host=cluster.cluster_read_endpoint.hostname,
        cluster_id=cluster.cluster_identifier, security_group=sg, secret=cluster.secret,
    )


def secondary_database(scope: Construct, cfg: DeployConfig, region: str, vpc: ec2.IVpc, key_arn: str,
                       secret: sm.ISecret) -> Database:
    """A secondary cluster of the global database: read-only until a switchover or failover promotes it.

    SECRET: this region's replica of the master credentials.
    """
    sg = ec2.SecurityGroup(scope, "DbSg", vpc=vpc, description="Aurora MySQL", allow_all_outbound=False)
    parameters = rds.ParameterGroup(scope, "DbParams", engine=ENGINE, parameters=DB_CLUSTER_PARAMETERS,
                                    description=f"{cfg.name}: TLS only")
    subnets = rds.SubnetGroup(scope, "DbSubnets", vpc=vpc, vpc_subnets=ISOLATED, description=f"{cfg.name} Aurora")
    cluster = rds.CfnDBCluster(
        scope, "Db", engine="aurora-mysql", engine_version=AURORA_VERSION.aurora_mysql_full_version,
        db_cluster_identifier=f"{cfg.name}-{region}", global_cluster_identifier=cfg.global_cluster_id,
        db_subnet_group_name=subnets.subnet_group_name, vpc_security_group_ids=[sg.security_group_id],
        db_cluster_parameter_group_name=parameters.bind_to_cluster().parameter_group_name,
        port=DB_PORT, storage_encrypted=True, kms_key_id=key_arn, deletion_protection=cfg.protect_data,
        backup_retention_period=14, enable_cloudwatch_logs_exports=["error", "slowquery"],
        serverless_v2_scaling_configuration=rds.CfnDBCluster.ServerlessV2ScalingConfigurationProperty(
            min_capacity=SERVERLESS_MIN_ACU, max_capacity=SERVERLESS_MAX_ACU,
        ) if cfg.aurora_serverless else None,
    )
    cluster.apply_removal_policy(cdk.RemovalPolicy.SNAPSHOT)
    aurora_findings(cluster, cfg)
    for i in range(max(cfg.db_readers, 1)):
        rds.CfnDBInstance(
            scope, f"DbInstance{i + 1}", engine="aurora-mysql", db_cluster_identifier=cluster.ref,
            db_instance_class="db.serverless" if cfg.aurora_serverless else cfg.db_instance_class,
            db_subnet_group_name=subnets.subnet_group_name, publicly_accessible=False,
        )
    cluster_arn = cdk.Stack.of(scope).format_arn(
        service="rds", resource="cluster", resource_name=cluster.ref, arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )
    backups(scope, cfg, region, cluster_arn, kms.Key.from_key_arn(scope, "BackupKey", key_arn))
    return Database(
        writer_host=cluster.attr_endpoint_address, reader_host=cluster.attr_read_endpoint_address,
        cluster_id=cluster.ref, security_group=sg, secret=secret,
    )



def aurora_findings(cluster: Construct, cfg: DeployConfig) -> None:
    """The cdk-nag findings every Aurora cluster of the global database has, and why they stay."""
    nag.suppress(cluster, "AwsSolutions-RDS6", "the app signs in with a password from Secrets Manager over verified "
                 "TLS (require_secure_transport); IAM tokens would cap new connections per second and need app support",
                 children=True)
    nag.suppress(cluster, "AwsSolutions-RDS11", "the port is reachable only from the app's security group in isolated "
                 "subnets: another number would hide nothing", children=True)
    nag.suppress(cluster, "AwsSolutions-RDS14", "Aurora Backtrack is not available for a cluster in a global database",
                 children=True)
    if not cfg.protect_data:
        nag.suppress(cluster, "AwsSolutions-RDS10", "protect_data is off: a failed first creation must be able to delete "
                     "its cluster; set it once the first deployment succeeded (docs/deploy-aws.md)", children=True)


def backups(scope: Construct, cfg: DeployConfig, region: str, cluster_arn: str, key: kms.IKey) -> None:
    """AWS Backup: a daily (demo: weekly) snapshot of this region's cluster, copied to the next region's vault.

    Every region backs up its own cluster (after a failover the writer is elsewhere, and a secondary's snapshot
    holds the same data), so each region's data has a copy outside the region even while it is lost. Attachments
    need no plan: versioning keeps 90 days of overwritten and deleted objects, and replication copies every
    version to every region.
    """
    # the vault's name is fixed (the other regions' plans name it); with protect_data off it goes with a rolled
    # back stack, so that the next attempt can create it again
    vault = backup.BackupVault(
        scope, "BackupVault", backup_vault_name=cfg.name, encryption_key=key,
        removal_policy=cdk.RemovalPolicy.RETAIN if cfg.protect_data else cdk.RemovalPolicy.DESTROY,
    )
    target = cfg.regions[(cfg.regions.index(region) + 1) % len(cfg.regions)]
    stack = cdk.Stack.of(scope)
    target_vault = backup.BackupVault.from_backup_vault_arn(scope, "BackupCopyVault", stack.format_arn(
        service="backup", region=target, resource="backup-vault", resource_name=cfg.name,
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    ))
    plan = backup.BackupPlan(scope, "BackupPlan", backup_plan_name=f"{cfg.name}-{region}", backup_vault=vault)
    # the demo weekly: each copy of an Aurora snapshot to another region is a full copy, paid by the GB
    schedule = events.Schedule.cron(week_day="SUN", hour="3", minute="0") if cfg.demo \
        else events.Schedule.cron(hour="3", minute="0")
    plan.add_rule(backup.BackupPlanRule(
        rule_name="weekly" if cfg.demo else "daily", schedule_expression=schedule,
        delete_after=cdk.Duration.days(BACKUP_DAYS),
        copy_actions=[backup.BackupPlanCopyActionProps(
            destination_backup_vault=target_vault, delete_after=cdk.Duration.days(BACKUP_DAYS),
        )],
    ))
    selection = plan.add_selection("Aurora", resources=[backup.BackupResource.from_arn(cluster_arn)])
    nag.suppress(selection, "AwsSolutions-IAM4", "AWS Backup's own policy for the role that takes the snapshots",
                 applies_to=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"],
                 children=True)
