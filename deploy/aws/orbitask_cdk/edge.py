"""The global stack (us-east-1): CloudFront with WAF and their logs, Route 53 latency routing with health checks,
the failover table (a DynamoDB global table with a replica in every region), alarms and the global dashboard, the
budget."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from . import nag, waf
from .accelerator import Accelerator
from .config import DeployConfig
from .ops import (
    GLOBAL_REGION,
    WAF_BLOCKED_PER_5_MIN,
    WATCHER_METRICS,
    failover_table_name,
    notify,
    waf_blocked,
    watcher_metric,
)

# /files/<key> on the app's domain serves the attachments bucket's object <key>
STRIP_FILES_PREFIX = (
    "function handler(event) { var r = event.request; r.uri = r.uri.replace(/^\\/files/, ''); return r; }"
)
# the web app routes in the browser: a path whose last segment has no extension (/b/123) is one of its pages and
# gets index.html; files (/assets/x.js) are looked up as they are, and a missing one stays a 403 from S3
SPA_PAGES = (
    "function handler(event) { var r = event.request; "
    "if (!/\\.[^/]*$/.test(r.uri)) { r.uri = '/index.html'; } return r; }"
)
CDN_5XX_PERCENT = 5
LOG_DAYS = 90


class GlobalStack(cdk.Stack):
    """What exists once: the CDN and its WAF, DNS routing across regions, region health alarms, the budget.

    It deploys before the regions: the primary's attachments bucket and key name its distribution, and every
    region's failover watcher uses its replica of the failover table. Nothing here decides a failover: the
    region-health alarms only mail on-call (the watchers in every region decide, regions/aws_watch.py).
    """

    def __init__(self, scope: Construct, construct_id: str, *, cfg: DeployConfig,
                 synthesizer: cdk.IStackSynthesizer | None = None) -> None:
        super().__init__(scope, construct_id, env=cdk.Environment(account=cfg.account, region=GLOBAL_REGION),
                         description="Orbitask: CloudFront, WAF, Route 53, budget", synthesizer=synthesizer,
                         cross_region_references=True)
        zone = route53.HostedZone.from_hosted_zone_attributes(
            self, "Zone", hosted_zone_id=cfg.hosted_zone_id, zone_name=cfg.hosted_zone_name,
        )
        self.health_topic = sns.Topic(self, "RegionHealth", topic_name=f"{cfg.name}-region-health", enforce_ssl=True)
        self.health_topic.add_subscription(subs.EmailSubscription(cfg.alarm_email))
        self.health_checks = {}
        for region in cfg.regions:
            self.health_checks[region] = self.region_routing(cfg, zone, region)
        # the API name: an alias of the accelerator (each region adds its endpoint group), else latency records
        self.accelerator: Accelerator | None = None
        if cfg.global_accelerator:
            self.accelerator = Accelerator(self, "Api", cfg=cfg)
            route53.ARecord(self, "ApiName", zone=zone, record_name=cfg.api_domain, target=route53.RecordTarget.from_alias(
                targets.GlobalAcceleratorTarget(self.accelerator.accelerator)))
            cdk.CfnOutput(self, "AcceleratorDns", value=self.accelerator.accelerator.dns_name)
        self.files_key_id: str | None = None  # set by cdn() with signed attachment URLs
        self.distribution = self.cdn(cfg, zone)
        # votes, the failover lock and DNS moves; each region's watcher reads and writes its own replica, so
        # losing any one region (this one included) leaves the others their table
        self.failover_table = dynamodb.TableV2(
            self, "FailoverTable", table_name=failover_table_name(cfg),
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(), removal_policy=cdk.RemovalPolicy.DESTROY,
            replicas=[dynamodb.ReplicaTableProps(region=r) for r in cfg.regions if r != GLOBAL_REGION],
        )
        budgets.CfnBudget(self, "Budget", budget=budgets.CfnBudget.BudgetDataProperty(
            budget_name=f"{cfg.name}-monthly", budget_type="COST", time_unit="MONTHLY",
            budget_limit=budgets.CfnBudget.SpendProperty(amount=cfg.monthly_budget_usd, unit="USD"),
        ), notifications_with_subscribers=[
            budgets.CfnBudget.NotificationWithSubscribersProperty(
                notification=budgets.CfnBudget.NotificationProperty(
                    notification_type=kind, comparison_operator="GREATER_THAN", threshold=threshold,
                    threshold_type="PERCENTAGE",
                ),
                subscribers=[budgets.CfnBudget.SubscriberProperty(subscription_type="EMAIL", address=cfg.alarm_email)],
            ) for kind, threshold in (("ACTUAL", 80), ("FORECASTED", 100))
        ])
        self.cdn_alarms(cfg)
        self.dashboard(cfg)

    def cdn_alarms(self, cfg: DeployConfig) -> None:
        """CloudFront's 5xx rate and its WAF's blocked-request spikes, to the health topic."""
        five = cdk.Duration.minutes(5)
        notify([
            self.distribution.metric5xx_error_rate(period=five, statistic="Average").create_alarm(
                self, "Cdn5xx", alarm_name=f"{cfg.name}-cdn-5xx", threshold=CDN_5XX_PERCENT, evaluation_periods=3,
                datapoints_to_alarm=2, treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"more than {CDN_5XX_PERCENT}% of CloudFront's answers are 5xx (origins or regions down)",
            ),
            waf_blocked(self.web_acl_name, None).create_alarm(
                self, "CdnWafBlocked", alarm_name=f"{cfg.name}-cdn-waf-blocked", threshold=WAF_BLOCKED_PER_5_MIN,
                evaluation_periods=1, treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description="CloudFront's WAF blocks a spike of requests: an attack, or a rule hurting users",
            ),
        ], self.health_topic)

    def dashboard(self, cfg: DeployConfig) -> cw.Dashboard:
        """Every region's health check and watcher, CloudFront's errors and WAF, and every global alarm."""
        minute = cdk.Duration.minutes(1)
        health = [cw.Metric(namespace="AWS/Route53", metric_name="HealthCheckStatus", statistic="Minimum",
                            dimensions_map={"HealthCheckId": check.attr_health_check_id}, period=minute, label=region)
                  for region, check in self.health_checks.items()]
        board = cw.Dashboard(self, "Dashboard", dashboard_name=f"{cfg.name}-global",
                             default_interval=cdk.Duration.hours(3))
        board.add_widgets(
            cw.GraphWidget(title="Route 53 health checks on /readyz (1 healthy, 0 down)", width=12, left=health,
                           left_y_axis=cw.YAxisProps(min=0, max=1)),
            cw.GraphWidget(title="CloudFront: requests; 4xx and 5xx (%)", width=12, left=[
                self.distribution.metric4xx_error_rate(period=minute),
                self.distribution.metric5xx_error_rate(period=minute)],
                right=[self.distribution.metric_requests(period=minute)]),
        )
        board.add_widgets(*(
            cw.GraphWidget(title=f"Failover watchers: {metric} by region", width=8,
                           left=[watcher_metric(metric, region) for region in cfg.regions])
            for metric in WATCHER_METRICS))
        board.add_widgets(
            cw.GraphWidget(title="CloudFront WAF: blocked requests", width=12,
                           left=[waf_blocked(self.web_acl_name, None)]),
            cw.AlarmStatusWidget(title="Global alarms", width=12,
                                 alarms=[c for c in self.node.find_all() if isinstance(c, cw.Alarm)]),
        )
        return board

    def region_routing(self, cfg: DeployConfig, zone: route53.IHostedZone, region: str) -> route53.CfnHealthCheck:
        """A health check on the region's /readyz, its latency record (without Global Accelerator), and an alarm
        when it fails. The demo checks every 30 s without latency measurement: each is an optional feature billed
        a month a check."""
        check = route53.CfnHealthCheck(self, f"Health-{region}", health_check_config=(
            route53.CfnHealthCheck.HealthCheckConfigProperty(
                type="HTTPS", fully_qualified_domain_name=cfg.regional_fqdn(region), port=443,
                resource_path="/readyz", request_interval=cfg.health_check_interval, failure_threshold=3,
                measure_latency=cfg.health_check_latency, enable_sni=True,
            )), health_check_tags=[route53.CfnHealthCheck.HealthCheckTagProperty(key="Name", value=f"{cfg.name}-{region}")],
        )
        # the nearest healthy region answers; an unhealthy one drops out until its check passes again
        if not cfg.global_accelerator:
            route53.CfnRecordSet(
                self, f"Latency-{region}", hosted_zone_id=zone.hosted_zone_id, name=f"{cfg.api_domain}.",
                type="CNAME", ttl="60", resource_records=[cfg.regional_fqdn(region)], set_identifier=region,
                region=region, health_check_id=check.attr_health_check_id,
            )
        alarm = cw.Metric(
            namespace="AWS/Route53", metric_name="HealthCheckStatus",
            dimensions_map={"HealthCheckId": check.attr_health_check_id}, statistic="Minimum",
            period=cdk.Duration.minutes(1),
        ).create_alarm(
            self, f"RegionDown-{region}", alarm_name=f"{cfg.name}-region-down-{region}", threshold=1,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD, evaluation_periods=3,
            treat_missing_data=cw.TreatMissingData.BREACHING,
            alarm_description=f"{region} fails its Route 53 health check (/readyz)",
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.health_topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.health_topic))
        return check

    def cdn(self, cfg: DeployConfig, zone: route53.IHostedZone) -> cloudfront.Distribution:
        """CloudFront: the web bundle from S3, /api/* to the latency-routed API, /files/* from the writer's bucket."""
        web = s3.Bucket(
            self, "Web", bucket_name=cfg.web_bucket_name, encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True, versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, removal_policy=cdk.RemovalPolicy.RETAIN,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        )
        api = cloudfront.BehaviorOptions(
            origin=origins.HttpOrigin(cfg.api_domain, protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
                                      read_timeout=cdk.Duration.seconds(60)),
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,  # also carries WebSocket upgrades through
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        )
        extra = {"/api/*": api}
        if cfg.attachments_public_key_pem:
            files = s3.Bucket.from_bucket_attributes(
                self, "Files", bucket_name=cfg.bucket_name(cfg.primary), region=cfg.primary,
            )
            key = cloudfront.PublicKey(self, "FilesKey", encoded_key=cfg.attachments_public_key_pem,
                                       comment="verifies signed attachment URLs")
            self.files_key_id = key.public_key_id  # the primary's tasks sign with it (ORBITASK_CLOUDFRONT_KEY_ID)
            extra["/files/*"] = cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(files),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                trusted_key_groups=[cloudfront.KeyGroup(self, "FilesKeys", items=[key])],
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                function_associations=[cloudfront.FunctionAssociation(
                    event_type=cloudfront.FunctionEventType.VIEWER_REQUEST,
                    function=cloudfront.Function(self, "StripFiles", code=cloudfront.FunctionCode.from_inline(
                        STRIP_FILES_PREFIX), runtime=cloudfront.FunctionRuntime.JS_2_0),
                )],
            )
        cert = acm.Certificate(self, "Cert", domain_name=cfg.domain, validation=acm.CertificateValidation.from_dns(zone))
        self.web_acl_name = f"{cfg.name}-cdn"
        acl = waf.web_acl(self, "Waf", self.web_acl_name, cloudfront=True)
        if not cfg.bot_control:  # the demo: the managed rule groups and the rate rule without Bot Control's fees
            acl.rules = [r for r in acl.rules if r.name != waf.BOT_CONTROL]  # type: ignore[union-attr]
        waf.log_requests(self, "Waf", acl, self.web_acl_name)
        # CloudFront's standard logs: the legacy delivery writes with object ACLs, so this bucket keeps them on
        logs_bucket = s3.Bucket(
            self, "CdnLogs", bucket_name=f"{cfg.name}-cdn-logs-{cfg.account}", encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED, removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(LOG_DAYS))],
        )
        dist = cloudfront.Distribution(
            self, "Cdn", domain_names=[cfg.domain], certificate=cert, web_acl_id=acl.attr_arn,
            default_root_object="index.html", http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=True, log_bucket=logs_bucket, log_file_prefix="cloudfront/",
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(web),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                # on this behaviour only: an error page for the whole distribution would turn API 404s into 200s
                function_associations=[cloudfront.FunctionAssociation(
                    event_type=cloudfront.FunctionEventType.VIEWER_REQUEST,
                    function=cloudfront.Function(self, "SpaPages", code=cloudfront.FunctionCode.from_inline(SPA_PAGES),
                                                 runtime=cloudfront.FunctionRuntime.JS_2_0),
                )],
            ),
            additional_behaviors=extra,
        )
        nag.suppress(dist, "AwsSolutions-CFR1", "a task board for teams anywhere: no country is refused; the WAF's "
                     "rules and rate limit guard it")
        nag.suppress(web, "AwsSolutions-S1", "only CloudFront reads it (origin access control), and CloudFront's "
                     "standard logs record every request; the pipeline's uploads are in CloudTrail")
        nag.suppress(logs_bucket, "AwsSolutions-S1", "CloudFront's log bucket: logging its own writes would only log "
                     "the logs")
        route53.ARecord(self, "AppName", zone=zone, record_name=cfg.domain,
                        target=route53.RecordTarget.from_alias(targets.CloudFrontTarget(dist)))
        route53.AaaaRecord(self, "AppName6", zone=zone, record_name=cfg.domain,
                           target=route53.RecordTarget.from_alias(targets.CloudFrontTarget(dist)))
        self.web_bucket = web
        cdk.CfnOutput(self, "WebBucket", value=web.bucket_name)
        cdk.CfnOutput(self, "DistributionId", value=dist.distribution_id)
        return dist
