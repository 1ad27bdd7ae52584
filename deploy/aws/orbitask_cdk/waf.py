"""The WAF web ACL: AWS managed rule groups and a per-address rate limit, for CloudFront and for each ALB; its log."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as waf
from constructs import Construct

BOT_CONTROL = "AWSManagedRulesBotControlRuleSet"
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    BOT_CONTROL,
)
# attachments are uploaded as request bodies far larger than the common rule set's 8 KB limit
COUNT_ONLY = {"AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY",)}
RATE_LIMIT_PER_5_MIN = 3000  # per client address; the app's own limits are finer (docs/configuration.md)
API_PREFIX = "/api/"
# the signed region-to-region hop (src/orbitask/regions/forwarding.py): a region's forwarded writes all come from
# its NAT gateway's address, so the per-address limit would throttle a whole region; the app verifies the header
FORWARD_HEADER = "x-orbitask-forwarded"
# WAF delivers only to log groups named so; the ACL's name follows
LOG_GROUP_PREFIX = "aws-waf-logs-"
# credentials never reach the log: they are secrets (docs/security.md); query strings carry tokens (unsubscribe)
REDACTED_HEADERS = ("authorization", "cookie", "x-csrf-token")
# only requests a rule acted on: allowed ones are in the ALB's and CloudFront's logs, and a logged path may carry a
# token (invitation, verification and calendar-feed links)
LOGGED_ACTIONS = ("BLOCK", "COUNT", "CAPTCHA", "CHALLENGE", "EXCLUDED_AS_COUNT")


def _visibility(name: str) -> waf.CfnWebACL.VisibilityConfigProperty:
    return waf.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True,
    )


def _not(statement: waf.CfnWebACL.StatementProperty) -> waf.CfnWebACL.StatementProperty:
    return waf.CfnWebACL.StatementProperty(not_statement=waf.CfnWebACL.NotStatementProperty(statement=statement))


def _no_transformation() -> list[waf.CfnWebACL.TextTransformationProperty]:
    return [waf.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")]


def not_api() -> waf.CfnWebACL.StatementProperty:
    """Requests for the web app, not /api/*: API clients are programs, which bot control would block."""
    return _not(waf.CfnWebACL.StatementProperty(byte_match_statement=waf.CfnWebACL.ByteMatchStatementProperty(
        field_to_match=waf.CfnWebACL.FieldToMatchProperty(uri_path={}), positional_constraint="STARTS_WITH",
        search_string=API_PREFIX, text_transformations=_no_transformation(),
    )))


def not_forwarded() -> waf.CfnWebACL.StatementProperty:
    """Requests without the region-to-region hop's header (present: its value is never empty)."""
    return _not(waf.CfnWebACL.StatementProperty(size_constraint_statement=waf.CfnWebACL.SizeConstraintStatementProperty(
        field_to_match=waf.CfnWebACL.FieldToMatchProperty(single_header={"Name": FORWARD_HEADER}),
        comparison_operator="GT", size=0, text_transformations=_no_transformation(),
    )))


def web_acl(scope: Construct, construct_id: str, name: str, *, cloudfront: bool) -> waf.CfnWebACL:
    """A web ACL: scope CLOUDFRONT in us-east-1, or REGIONAL for a load balancer (the API only: no bot control)."""
    rules = []
    for group in MANAGED_RULE_GROUPS:
        configs = scope_down = None
        if group == BOT_CONTROL:
            if not cloudfront:
                continue
            configs = [waf.CfnWebACL.ManagedRuleGroupConfigProperty(
                aws_managed_rules_bot_control_rule_set=waf.CfnWebACL.AWSManagedRulesBotControlRuleSetProperty(
                    inspection_level="COMMON",
                ),
            )]
            scope_down = not_api()
        overrides = [
            waf.CfnWebACL.RuleActionOverrideProperty(
                name=rule, action_to_use=waf.CfnWebACL.RuleActionProperty(count={}),
            ) for rule in COUNT_ONLY.get(group, ())
        ] or None
        rules.append(waf.CfnWebACL.RuleProperty(
            name=group, priority=len(rules), override_action=waf.CfnWebACL.OverrideActionProperty(none={}),
            statement=waf.CfnWebACL.StatementProperty(managed_rule_group_statement=(
                waf.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS", name=group, managed_rule_group_configs=configs, rule_action_overrides=overrides,
                    scope_down_statement=scope_down,
                ))),
            visibility_config=_visibility(group),
        ))
    rules.append(waf.CfnWebACL.RuleProperty(
        name="RatePerAddress", priority=len(rules), action=waf.CfnWebACL.RuleActionProperty(block={}),
        statement=waf.CfnWebACL.StatementProperty(rate_based_statement=waf.CfnWebACL.RateBasedStatementProperty(
            limit=RATE_LIMIT_PER_5_MIN, aggregate_key_type="IP",
            # forwarded writes reach the load balancers, never CloudFront
            scope_down_statement=None if cloudfront else not_forwarded(),
        )),
        visibility_config=_visibility("RatePerAddress"),
    ))
    return waf.CfnWebACL(
        scope, construct_id, name=name, scope="CLOUDFRONT" if cloudfront else "REGIONAL",
        default_action=waf.CfnWebACL.DefaultActionProperty(allow={}), rules=rules, visibility_config=_visibility(name),
    )


def log_requests(scope: Construct, construct_id: str, acl: waf.CfnWebACL, name: str) -> logs.LogGroup:
    """The requests the web ACL's rules act on, to a CloudWatch Logs group (credentials and query strings redacted)."""
    group = logs.LogGroup(scope, f"{construct_id}Logs", log_group_name=f"{LOG_GROUP_PREFIX}{name}",
                          retention=logs.RetentionDays.THREE_MONTHS, removal_policy=cdk.RemovalPolicy.DESTROY)
    # WAF wants the group's ARN without the `:*` that log_group_arn carries
    arn = cdk.Stack.of(scope).format_arn(service="logs", resource="log-group", resource_name=group.log_group_name,
                                         arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
    waf.CfnLoggingConfiguration(
        scope, f"{construct_id}Logging", resource_arn=acl.attr_arn, log_destination_configs=[arn],
        redacted_fields=[*(waf.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                           for header in REDACTED_HEADERS),
                         waf.CfnLoggingConfiguration.FieldToMatchProperty(query_string={})],
        logging_filter={"DefaultBehavior": "DROP", "Filters": [{
            "Behavior": "KEEP", "Requirement": "MEETS_ANY",
            "Conditions": [{"ActionCondition": {"Action": action}} for action in LOGGED_ACTIONS],
        }]},
    )
    return group
