"""One region's operations: alarms to SNS, and the failover Lambda with its watcher schedule, DLQ and alarms."""

from __future__ import annotations

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
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .config import DeployConfig

GLOBAL_REGION = "us-east-1"  # Route 53 health-check metrics, CloudFront and its WAF live here
LAMBDA_HANDLER = "orbitask.regions.aws_lambda.handler"
REPLICATION_LAG_MS = 5000
LATENCY_P99_S = 1.0
FIVE_XX_PER_MINUTE = 10
# the Lambda's limit; the code bounds its own waits below it (orbitask.regions.aws_watch.RUN_BOUND_S)
LAMBDA_TIMEOUT_S = 900
WATCH_RATE = cdk.Duration.minutes(1)
WATCH_EVENT = {"action": "watch"}


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
            scope, "ServerErrors", alarm_name=f"{cfg.name}-{region}-5xx", threshold=FIVE_XX_PER_MINUTE,
            evaluation_periods=5, datapoints_to_alarm=3, treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description="the region answers 5xx (load balancer or app)",
        ),
        alb.metrics.target_response_time(period=minute, statistic="p99").create_alarm(
            scope, "Latency", alarm_name=f"{cfg.name}-{region}-latency-p99", threshold=LATENCY_P99_S,
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
    for alarm in made:
        alarm.add_alarm_action(cw_actions.SnsAction(topic))
        alarm.add_ok_action(cw_actions.SnsAction(topic))
    return made


def failover_lambda(scope: Construct, cfg: DeployConfig, region: str, vpc: ec2.IVpc, sg: ec2.ISecurityGroup,
                    environment: dict[str, str], secrets: dict[str, tuple[sm.ISecret, str | None]],
                    topic: sns.ITopic) -> lambda_.DockerImageFunction:
    """The app image run as a Lambda: this region's failover watcher (every minute), the same `aws_failover` as
    `orbitask failover --aws`, and topology sync; failed runs land in a DLQ, and errors, the DLQ and a silent
    watcher alarm."""
    repo = ecr.Repository.from_repository_name(scope, "LambdaRepo", cfg.name)
    secret_refs = {env: f"{secret.secret_arn}{f':{field}' if field else ''}" for env, (secret, field) in secrets.items()}
    dlq = sqs.Queue(scope, "FailoverDlq", queue_name=f"{cfg.name}-failover-dlq-{region}", enforce_ssl=True,
                    encryption=sqs.QueueEncryption.SQS_MANAGED, retention_period=cdk.Duration.days(14))
    fn = lambda_.DockerImageFunction(
        scope, "Failover", function_name=f"{cfg.name}-failover-{region}",
        description="Failover watcher, Aurora global database failover and topology sync (orbitask.regions.aws_lambda)",
        code=lambda_.DockerImageCode.from_ecr(
            repo, tag_or_digest=cfg.image_tag, entrypoint=["python", "-m", "awslambdaric"], cmd=[LAMBDA_HANDLER],
        ),
        vpc=vpc, vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        security_groups=[sg], timeout=cdk.Duration.seconds(LAMBDA_TIMEOUT_S), memory_size=512,
        # a failover run takes minutes: the watcher's next ticks still run beside it (the table's lock keeps it one)
        reserved_concurrent_executions=3,
        dead_letter_queue=dlq, retry_attempts=1, max_event_age=cdk.Duration.hours(1),
        tracing=lambda_.Tracing.ACTIVE, architecture=lambda_.Architecture.X86_64,
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
    for alarm in made:
        alarm.add_alarm_action(cw_actions.SnsAction(topic))
        alarm.add_ok_action(cw_actions.SnsAction(topic))
    return fn
