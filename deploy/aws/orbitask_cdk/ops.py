"""One region's operations: alarms to SNS, the failover Lambda with its watcher schedule, DLQ, alarms and metrics,
a Synthetics canary, and the region's dashboard."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_synthetics as synthetics
from constructs import Construct

from . import nag
from .config import DeployConfig
from .services import METRICS_NAMESPACE, Compute, alarm_name

GLOBAL_REGION = "us-east-1"  # Route 53 health-check metrics, CloudFront and its WAF live here
LAMBDA_HANDLER = "orbitask.regions.aws_lambda.handler"
REPLICATION_LAG_MS = 5000
LATENCY_P99_S = 1.0
FIVE_XX_PER_MINUTE = 10
# the Lambda's limit; the code bounds its own waits below it (orbitask.regions.aws_watch.RUN_BOUND_S)
LAMBDA_TIMEOUT_S = 900
WATCH_RATE = cdk.Duration.minutes(1)
WATCH_EVENT = {"action": "watch"}
# the failover Lambda logs one `failover_lambda done=... healthy=...` line a run (regions/aws_lambda.py): metric
# filters make the watchers' state a metric each region and the global dashboard show
FAILOVER_NAMESPACE = "Orbitask/Failover"
WATCHER_METRICS = {
    "WatcherTicks": '"failover_lambda"',
    "UnhealthyVotes": '"failover_lambda" "healthy=False"',  # this region sees the writer region down
    "FailoverRuns": '"failover_lambda" "done=failover"',
}
DB_CPU_PERCENT = 80
DB_FREEABLE_MEMORY_BYTES = 512 * 1024 * 1024
# 80% of max_connections: db.r6g.large's 1000; Serverless v2 at its 4 ACU maximum (data.SERVERLESS_MAX_ACU) ~270
DB_CONNECTIONS = {False: 800, True: 200}
REDIS_CPU_PERCENT = 80
REDIS_EVICTIONS_PER_5_MIN = 100
WAF_BLOCKED_PER_5_MIN = 1000  # far above the odd scanner: an attack, or a rule blocking real users
# Synthetics: pinned Node runtime; every 5 minutes ($0.0012 a run), every 30 for the demo (its budget)
CANARY_RUNTIME = synthetics.Runtime.SYNTHETICS_NODEJS_PUPPETEER_9_1
CANARY_MINUTES = {False: 5, True: 30}
CANARY_SCRIPT = """\
const synthetics = require('Synthetics');
const https = require('https');
const URLS = __URLS__;
const TIMEOUT_MS = 10000;

// the status of one GET (the body is read and dropped); a URL that does not answer in time fails
function get(url) {
  return new Promise((resolve, reject) => {
    const request = https.get(url, {timeout: TIMEOUT_MS}, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode));
    });
    request.on('timeout', () => request.destroy(new Error(`${url}: no answer in ${TIMEOUT_MS} ms`)));
    request.on('error', reject);
  });
}

// one step a URL, so each has its own success metric; any status but 200 fails the run
exports.handler = async () => {
  for (const [name, url] of Object.entries(URLS)) {
    await synthetics.executeStep(name, async () => {
      const status = await get(url);
      if (status !== 200) {
        throw new Error(`${url} answered ${status}`);
      }
    });
  }
};
"""


def failover_table_name(cfg: DeployConfig) -> str:
    """The DynamoDB global table of the watchers' votes and the failover lock (a replica in every region)."""
    return f"{cfg.name}-failover"


def alarm_topic(scope: Construct, cfg: DeployConfig) -> sns.Topic:
    """The region's on-call topic, mailed to the configured address."""
    topic = sns.Topic(scope, "Alarms", topic_name=f"{cfg.name}-alarms", enforce_ssl=True)
    topic.add_subscription(subs.EmailSubscription(cfg.alarm_email))
    return topic


def alarms(scope: Construct, cfg: DeployConfig, region: str, alb: elbv2.ApplicationLoadBalancer,
           db_cluster_id: str, topic: sns.ITopic) -> list[cw.Alarm]:
    """5xx, latency and replication-lag alarms, each notifying TOPIC."""
    minute = cdk.Duration.minutes(1)
    server_errors = cw.MathExpression(
        expression="target + elb", period=minute, label="5xx responses",
        using_metrics={
            "target": alb.metrics.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=minute),
            "elb": alb.metrics.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=minute),
        },
    )
    lag_metric = "AuroraReplicaLagMaximum" if region == cfg.primary else "AuroraGlobalDBReplicationLag"
    made = [
        server_errors.create_alarm(
            scope, "ServerErrors", alarm_name=alarm_name(cfg, region, "5xx"), threshold=FIVE_XX_PER_MINUTE,
            evaluation_periods=5, datapoints_to_alarm=3, treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description="the region answers 5xx (load balancer or app)",
        ),
        alb.metrics.target_response_time(period=minute, statistic="p99").create_alarm(
            scope, "Latency", alarm_name=alarm_name(cfg, region, "latency-p99"), threshold=LATENCY_P99_S,
            evaluation_periods=5, datapoints_to_alarm=3, treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=f"p99 latency above {LATENCY_P99_S} s",
        ),
        cw.Metric(
            namespace="AWS/RDS", metric_name=lag_metric, dimensions_map={"DBClusterIdentifier": db_cluster_id},
            period=minute, statistic="Maximum",
        ).create_alarm(
            scope, "ReplicationLag", alarm_name=f"{cfg.name}-{region}-replication-lag", threshold=REPLICATION_LAG_MS,
            evaluation_periods=5, datapoints_to_alarm=3, treat_missing_data=cw.TreatMissingData.BREACHING,
            alarm_description=f"{lag_metric} above {REPLICATION_LAG_MS} ms: reads here fall back to waiting",
        ),
    ]
    return notify(made, topic)


def notify(made: list[cw.Alarm], topic: sns.ITopic) -> list[cw.Alarm]:
    """MADE, each telling TOPIC when it fires and when it clears."""
    for alarm in made:
        alarm.add_alarm_action(cw_actions.SnsAction(topic))
        alarm.add_ok_action(cw_actions.SnsAction(topic))
    return made


def oncall_alarms(scope: Construct, cfg: DeployConfig, region: str, compute: Compute, db_cluster_id: str,
                  topic: sns.ITopic) -> list[cw.Alarm]:
    """What on-call needs besides alarms(): tasks short of desired, unhealthy targets, Aurora, Redis, WAF blocks."""
    minute, five = cdk.Duration.minutes(1), cdk.Duration.minutes(5)
    made = []
    for service in compute.services:
        dims = {"ClusterName": compute.cluster.cluster_name, "ServiceName": f"{cfg.name}-{service}"}
        short = cw.MathExpression(expression="desired - running", period=minute, label="tasks short", using_metrics={
            name: cw.Metric(namespace="ECS/ContainerInsights", metric_name=metric, dimensions_map=dims,
                            period=minute, statistic="Average")
            for name, metric in (("desired", "DesiredTaskCount"), ("running", "RunningTaskCount"))})
        made.append(short.create_alarm(  # a deployment or a scale-out closes the gap within minutes
            scope, f"TasksShort-{service}", alarm_name=f"{cfg.name}-{region}-tasks-short-{service}", threshold=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, evaluation_periods=10,
            datapoints_to_alarm=8, treat_missing_data=cw.TreatMissingData.MISSING,
            alarm_description=f"{service}: fewer tasks run than desired for 8 minutes (crash loop, capacity, image)",
        ))
    for service, group in compute.target_groups.items():
        made.append(group.metrics.unhealthy_host_count(period=minute, statistic="Maximum").create_alarm(
            scope, f"Unhealthy-{service}", alarm_name=f"{cfg.name}-{region}-unhealthy-{service}", threshold=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, evaluation_periods=5,
            datapoints_to_alarm=3, treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{service}: a target fails the load balancer's /healthz check",
        ))
    db = {"DBClusterIdentifier": db_cluster_id}
    for name, metric, statistic, threshold, below, what in (
        ("db-cpu", "CPUUtilization", "Maximum", DB_CPU_PERCENT, False, f"Aurora CPU above {DB_CPU_PERCENT}%"),
        ("db-memory", "FreeableMemory", "Minimum", DB_FREEABLE_MEMORY_BYTES, True, "Aurora freeable memory low"),
        ("db-connections", "DatabaseConnections", "Maximum", DB_CONNECTIONS[cfg.aurora_serverless], False,
         "Aurora connections near max_connections: pools too large or a leak"),
    ):
        made.append(cw.Metric(namespace="AWS/RDS", metric_name=metric, dimensions_map=db, period=five,
                              statistic=statistic).create_alarm(
            scope, f"Alarm-{name}", alarm_name=f"{cfg.name}-{region}-{name}", threshold=threshold,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD if below
            else cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3, treat_missing_data=cw.TreatMissingData.NOT_BREACHING, alarm_description=what,
        ))
    nodes = redis_nodes(scope)
    for name, metric, statistic, threshold, what in (
        ("redis-cpu", "EngineCPUUtilization", "Maximum", REDIS_CPU_PERCENT, "Redis engine CPU high"),
        ("redis-evictions", "Evictions", "Sum", REDIS_EVICTIONS_PER_5_MIN, "Redis evicts keys: memory is short"),
    ):
        series = {f"n{i}": cw.Metric(namespace="AWS/ElastiCache", metric_name=metric, period=five, statistic=statistic,
                                     dimensions_map={"CacheClusterId": node}) for i, node in enumerate(nodes)}
        worst = cw.MathExpression(expression=f"MAX([{','.join(series)}])", using_metrics=series, period=five,
                                  label=metric)
        made.append(worst.create_alarm(
            scope, f"Alarm-{name}", alarm_name=f"{cfg.name}-{region}-{name}", threshold=threshold,
            evaluation_periods=3, treat_missing_data=cw.TreatMissingData.NOT_BREACHING, alarm_description=what,
        ))
    if compute.web_acl is not None:
        made.append(waf_blocked(compute.web_acl.name or "", region).create_alarm(
            scope, "WafBlocked", alarm_name=f"{cfg.name}-{region}-waf-blocked", threshold=WAF_BLOCKED_PER_5_MIN,
            evaluation_periods=1, treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description="the load balancer's WAF blocks a spike of requests: an attack, or a rule hurting users",
        ))
    return notify(made, topic)


def waf_blocked(acl_name: str, region: str | None) -> cw.Metric:
    """Requests a web ACL blocked in 5 minutes (REGION: a regional ACL's; None: CloudFront's)."""
    dims = {"WebACL": acl_name, "Rule": "ALL", **({"Region": region} if region else {})}
    return cw.Metric(namespace="AWS/WAFV2", metric_name="BlockedRequests", dimensions_map=dims,
                     period=cdk.Duration.minutes(5), statistic="Sum")


def redis_nodes(scope: Construct) -> list[str]:
    """The cache cluster ids of the region's Redis replication group (data.redis): <group>-001, -002..."""
    group = scope.node.find_child("Redis")
    count = group.num_cache_clusters or 1  # type: ignore[attr-defined]
    return [f"{group.ref}-{i:03d}" for i in range(1, count + 1)]  # type: ignore[attr-defined]


def failover_lambda(scope: Construct, cfg: DeployConfig, region: str, vpc: ec2.IVpc, sg: ec2.ISecurityGroup,
                    environment: dict[str, str], secrets: dict[str, tuple[sm.ISecret, str | None]],
                    topic: sns.ITopic) -> lambda_.DockerImageFunction:
    """The app image run as a Lambda: this region's failover watcher (every minute), the same `aws_failover` as
    `orbitask failover --aws`, and topology sync; failed runs land in a DLQ, and errors, the DLQ and a silent
    watcher alarm."""
    repo = ecr.Repository.from_repository_name(scope, "LambdaRepo", cfg.name)
    secret_refs = {env: f"{secret.secret_arn}{f':{field}' if field else ''}" for env, (secret, field) in secrets.items()}
    name = f"{cfg.name}-failover-{region}"
    log_group = logs.LogGroup(scope, "FailoverLogs", log_group_name=f"/aws/lambda/{name}",
                              retention=logs.RetentionDays.THREE_MONTHS, removal_policy=cdk.RemovalPolicy.DESTROY)
    for metric, pattern in WATCHER_METRICS.items():
        logs.MetricFilter(scope, f"Watcher{metric}", log_group=log_group, metric_namespace=FAILOVER_NAMESPACE,
                          metric_name=metric, filter_pattern=logs.FilterPattern.literal(pattern), metric_value="1",
                          default_value=0)
    # without NAT gateways (the demo) a Lambda in the VPC reaches nothing outside it: it runs outside, so it can
    # vote and move RDS and DNS but not write the topology row (docs/deploy-aws.md, "Operations")
    in_vpc = cfg.nat_gateways > 0
    dlq = sqs.Queue(scope, "FailoverDlq", queue_name=f"{cfg.name}-failover-dlq-{region}", enforce_ssl=True,
                    encryption=sqs.QueueEncryption.SQS_MANAGED, retention_period=cdk.Duration.days(14))
    fn = lambda_.DockerImageFunction(
        scope, "Failover", function_name=name, log_group=log_group,
        description="Failover watcher, Aurora global database failover and topology sync (orbitask.regions.aws_lambda)",
        code=lambda_.DockerImageCode.from_ecr(
            repo, tag_or_digest=cfg.image_tag, entrypoint=["python", "-m", "awslambdaric"], cmd=[LAMBDA_HANDLER],
        ),
        vpc=vpc if in_vpc else None,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS) if in_vpc else None,
        security_groups=[sg] if in_vpc else None, timeout=cdk.Duration.seconds(LAMBDA_TIMEOUT_S), memory_size=512,
        # a failover run takes minutes: the watcher's next ticks still run beside it (the table's lock keeps it one)
        reserved_concurrent_executions=3,
        dead_letter_queue=dlq, retry_attempts=1, max_event_age=cdk.Duration.hours(1),
        tracing=lambda_.Tracing.ACTIVE,
        architecture=lambda_.Architecture.ARM_64 if cfg.arm64 else lambda_.Architecture.X86_64,
        environment={
            **environment, "ORBITASK_GLOBAL_CLUSTER": cfg.global_cluster_id,
            "ORBITASK_FAILOVER_ORDER": ",".join(cfg.regions), "ORBITASK_AUTO_FAILOVER": str(cfg.auto_failover).lower(),
            "ORBITASK_FAILOVER_TABLE": failover_table_name(cfg), "ORBITASK_HOSTED_ZONE_ID": cfg.hosted_zone_id,
            "ORBITASK_API_DOMAIN": cfg.api_domain,
            "ORBITASK_SECRETS_FROM": cdk.Stack.of(scope).to_json_string(secret_refs),
        },
    )
    for secret, _ in secrets.values():
        secret.grant_read(fn)
    fn.add_to_role_policy(iam.PolicyStatement(
        actions=["rds:DescribeGlobalClusters", "rds:SwitchoverGlobalCluster", "rds:FailoverGlobalCluster"],
        resources=[f"arn:aws:rds::{cfg.account}:global-cluster:{cfg.global_cluster_id}",
                   f"arn:aws:rds:*:{cfg.account}:cluster:{cfg.name}-*"],
    ))
    fn.add_to_role_policy(iam.PolicyStatement(  # its own region's replica of the global table
        actions=["dynamodb:Scan", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
        resources=[f"arn:aws:dynamodb:{region}:{cfg.account}:table/{failover_table_name(cfg)}"],
    ))
    fn.add_to_role_policy(iam.PolicyStatement(actions=["route53:ListHealthChecks"], resources=["*"]))
    fn.add_to_role_policy(iam.PolicyStatement(actions=["route53:GetHealthCheckStatus"],
                                              resources=["arn:aws:route53:::healthcheck/*"]))
    fn.add_to_role_policy(iam.PolicyStatement(  # only the API's latency records
        actions=["route53:ChangeResourceRecordSets"], resources=[f"arn:aws:route53:::hostedzone/{cfg.hosted_zone_id}"],
        conditions={"ForAllValues:StringEquals": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": [cfg.api_domain],
            "route53:ChangeResourceRecordSetsRecordTypes": ["CNAME"],
        }},
    ))
    # this region's watcher, independent of every other region (Scheduler invokes asynchronously: the DLQ applies)
    scheduler.Schedule(
        scope, "FailoverWatch", schedule_name=f"{cfg.name}-failover-watch-{region}",
        description="the failover watcher's tick: vote on the writer region's health (orbitask.regions.aws_watch)",
        schedule=scheduler.ScheduleExpression.rate(WATCH_RATE),
        target=scheduler_targets.LambdaInvoke(fn, input=scheduler.ScheduleTargetInput.from_object(WATCH_EVENT),
                                              retry_attempts=0, max_event_age=cdk.Duration.minutes(1),
                                              dead_letter_queue=dlq),
    )
    nag.suppress(fn, "AwsSolutions-IAM4", "AWS's policies for a Lambda's own logs and, in a VPC, its network "
                 "interfaces: what every function needs, nothing of the app's", applies_to=[
                     "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                     "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"],
                 children=True)
    nag.suppress(fn, "AwsSolutions-IAM5", "route53:ListHealthChecks and X-Ray have no resource; any health check's "
                 "status (the watcher finds the writer region's by its tag); the app's clusters in every region "
                 "(`<name>-<region>`: a switchover names both ends)", applies_to=[
                     "Resource::*", "Resource::arn:aws:route53:::healthcheck/*",
                     f"Resource::arn:aws:rds:*:{cfg.account}:cluster:{cfg.name}-*"], children=True)
    for role in [c for c in cdk.Stack.of(scope).node.children if c.node.id.startswith("SchedulerRoleForTarget-")]:
        nag.suppress(role, "AwsSolutions-IAM5", "EventBridge Scheduler's role, as CDK writes it: invoke the failover "
                     "Lambda and its versions", applies_to=["/^Resource::<Failover[0-9A-F]+\\.Arn>:\\*$/"],
                     children=True)
    events.Rule(
        scope, "GlobalDbEvents", description="Aurora global switchover/failover events: sync the topology row",
        event_pattern=events.EventPattern(
            source=["aws.rds"], detail_type=["RDS DB Cluster Event"],
            detail={"EventCategories": ["global-failover"]},
        ),
        targets=[events_targets.LambdaFunction(fn, retry_attempts=2), events_targets.SnsTopic(topic)],
    )
    five = cdk.Duration.minutes(5)
    made = [
        fn.metric_errors(period=five, statistic="Sum").create_alarm(
            scope, "FailoverErrors", alarm_name=f"{cfg.name}-{region}-failover-errors", threshold=1,
            evaluation_periods=1, treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description="the failover Lambda failed (a watcher tick or a failover run): see its logs",
        ),
        dlq.metric_approximate_number_of_messages_visible(period=five, statistic="Maximum").create_alarm(
            scope, "FailoverDlqAlarm", alarm_name=f"{cfg.name}-{region}-failover-dlq", threshold=1,
            evaluation_periods=1, treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description="an event the failover Lambda could not handle, after retries: read the DLQ",
        ),
        fn.metric_invocations(period=five, statistic="Sum").create_alarm(
            scope, "WatcherSilent", alarm_name=f"{cfg.name}-{region}-watcher-silent", threshold=1,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD, evaluation_periods=2,
            treat_missing_data=cw.TreatMissingData.BREACHING,
            alarm_description="this region's failover watcher has not run for 10 minutes: it cannot vote",
        ),
    ]
    notify(made, topic)
    return fn


def canary_urls(cfg: DeployConfig, region: str) -> dict[str, str]:
    """What a region's canary fetches: the region's own /readyz, and the web app's index through CloudFront."""
    return {"readyz": f"https://{cfg.regional_fqdn(region)}/readyz", "web": f"https://{cfg.domain}/"}


def canary_script(urls: dict[str, str]) -> str:
    """The canary's handler (Node): each URL must answer 200."""
    return CANARY_SCRIPT.replace("__URLS__", json.dumps(urls))


def canary(scope: Construct, cfg: DeployConfig, region: str, bucket: s3.IBucket, topic: sns.ITopic) -> cw.Alarm:
    """A Synthetics canary in the region: its /readyz and the web app through CloudFront; an alarm when it fails."""
    minutes = CANARY_MINUTES[cfg.demo]
    probe = synthetics.Canary(
        scope, "Canary", canary_name=f"{cfg.name}-{region}"[:21], runtime=CANARY_RUNTIME,
        test=synthetics.Test.custom(code=synthetics.Code.from_inline(canary_script(canary_urls(cfg, region))),
                                    handler="index.handler"),
        schedule=synthetics.Schedule.rate(cdk.Duration.minutes(minutes)),
        artifacts_bucket_location=synthetics.ArtifactsBucketLocation(bucket=bucket, prefix="canary"),
        success_retention_period=cdk.Duration.days(7), failure_retention_period=cdk.Duration.days(31),
        provisioned_resource_cleanup=True,
    )
    nag.suppress(probe, "AwsSolutions-IAM5", "the canary's role, as CDK writes it: its own log groups (cwsyn-*), its "
                 "artifacts under canary/ in the region's log bucket, CloudWatch metrics (no resource)", applies_to=[
                     "Resource::*", f"Resource::arn:aws:logs:{region}:{cfg.account}:log-group:/aws/lambda/cwsyn-*",
                     "/^Resource::<AccessLogs[0-9A-F]+\\.Arn>\\/canary\\/\\*$/"], children=True)
    alarm = probe.metric_success_percent(period=cdk.Duration.minutes(minutes), statistic="Average").create_alarm(
        scope, "CanaryFailing", alarm_name=f"{cfg.name}-{region}-canary", threshold=100,
        comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD, evaluation_periods=2,
        treat_missing_data=cw.TreatMissingData.BREACHING,
        alarm_description=f"the canary cannot get {region}'s /readyz or the web app through CloudFront",
    )
    notify([alarm], topic)
    return alarm


def search(metric: str, dimensions: str, statistic: str, label: str) -> cw.MathExpression:
    """Every series of one of the app's metrics (namespace Orbitask, by ServiceName and DIMENSIONS)."""
    return cw.MathExpression(
        expression=f"SEARCH('{{{METRICS_NAMESPACE},{dimensions}}} MetricName=\"{metric}\"', '{statistic}', 60)",
        using_metrics={}, label=label, period=cdk.Duration.minutes(1),
    )


def watcher_metric(metric: str, region: str | None = None) -> cw.Metric:
    """One of the failover watcher's metrics (WATCHER_METRICS) per minute; REGION: another region's."""
    return cw.Metric(namespace=FAILOVER_NAMESPACE, metric_name=metric, statistic="Sum",
                     period=cdk.Duration.minutes(1), region=region, label=f"{metric} {region or ''}".strip())


def dashboard(scope: Construct, cfg: DeployConfig, region: str, compute: Compute, db_cluster_id: str) -> cw.Dashboard:
    """The region at a glance: latency and 5xx by service, replica and relay lag, forwarding, failover, alarms."""
    minute = cdk.Duration.minutes(1)
    groups = compute.target_groups
    db = {"DBClusterIdentifier": db_cluster_id}
    lag = [cw.Metric(namespace="AWS/RDS", metric_name=m, dimensions_map=db, period=minute, statistic="Maximum")
           for m in ("AuroraGlobalDBReplicationLag", "AuroraReplicaLagMaximum")]
    tasks = [cw.Metric(namespace="ECS/ContainerInsights", metric_name="RunningTaskCount", period=minute,
                       dimensions_map={"ClusterName": compute.cluster.cluster_name, "ServiceName": f"{cfg.name}-{s}"},
                       statistic="Average", label=s) for s in compute.services]
    alarms = [c for c in scope.node.find_all() if isinstance(c, cw.Alarm)]
    board = cw.Dashboard(scope, "Dashboard", dashboard_name=f"{cfg.name}-{region}",
                         default_interval=cdk.Duration.hours(3))
    board.add_widgets(
        cw.GraphWidget(title="Latency p50 by service (s)", width=12, left=[
            g.metrics.target_response_time(period=minute, statistic="p50", label=s) for s, g in groups.items()]),
        cw.GraphWidget(title="Latency p99 by service (s)", width=12, left=[
            g.metrics.target_response_time(period=minute, statistic="p99", label=s) for s, g in groups.items()]),
    )
    board.add_widgets(
        cw.GraphWidget(title="5xx by service, and the load balancer's own", width=12, left=[
            *(g.metrics.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=minute, label=s)
              for s, g in groups.items()),
            compute.alb.metrics.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=minute, label="load balancer")]),
        cw.GraphWidget(title="Replica lag (Aurora, ms; the app, events)", width=12, left=lag, right=[
            search("orbitask_replica_lag_events", "ServiceName", "Maximum", "app: events behind")]),
    )
    board.add_widgets(
        cw.GraphWidget(title="Relay lag (s) and events published", width=12, left=[
            search("orbitask_relay_lag_seconds", "ServiceName", "Maximum", "relay lag")], right=[
            search("orbitask_relay_published_total", "ServiceName", "Sum", "published")]),
        cw.GraphWidget(title="Writes forwarded to the writer region, by outcome", width=12, left=[
            search("orbitask_forwarded_requests_total", "ServiceName,target,outcome", "Sum", "forwarded")], right=[
            search("orbitask_forward_received_total", "ServiceName,origin", "Sum", "received")]),
    )
    board.add_widgets(
        cw.GraphWidget(title="Failover watcher: ticks, votes that the writer is down, runs", width=12,
                       left=[watcher_metric(m) for m in WATCHER_METRICS], right=[
                           search("orbitask_topology_epoch", "ServiceName", "Maximum", "topology epoch")]),
        cw.GraphWidget(title="Running tasks by service", width=12, left=tasks),
    )
    board.add_widgets(cw.AlarmStatusWidget(title="Alarms", alarms=alarms, width=24))
    return board

