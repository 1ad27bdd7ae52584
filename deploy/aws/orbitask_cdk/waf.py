"""The WAF web ACL: AWS managed rule groups and a per-address rate limit, for CloudFront and for each ALB."""

from __future__ import annotations

from aws_cdk import aws_wafv2 as waf
from constructs import Construct

MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesBotControlRuleSet",
)
# attachments are uploaded as request bodies far larger than the common rule set's 8 KB limit
COUNT_ONLY = {"AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY",)}
RATE_LIMIT_PER_5_MIN = 3000  # per client address; the app's own limits are finer (docs/configuration.md)


def _visibility(name: str) -> waf.CfnWebACL.VisibilityConfigProperty:
    return waf.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True,
    )


def web_acl(scope: Construct, construct_id: str, name: str, *, cloudfront: bool) -> waf.CfnWebACL:
    """A web ACL (scope CLOUDFRONT in us-east-1, or REGIONAL for a load balancer)."""
    rules = []
    for priority, group in enumerate(MANAGED_RULE_GROUPS):
        configs = None
        if group == "AWSManagedRulesBotControlRuleSet":
            configs = [waf.CfnWebACL.ManagedRuleGroupConfigProperty(
                aws_managed_rules_bot_control_rule_set=waf.CfnWebACL.AWSManagedRulesBotControlRuleSetProperty(
                    inspection_level="COMMON",
                ),
            )]
        overrides = [
            waf.CfnWebACL.RuleActionOverrideProperty(
                name=rule, action_to_use=waf.CfnWebACL.RuleActionProperty(count={}),
            ) for rule in COUNT_ONLY.get(group, ())
        ] or None
        rules.append(waf.CfnWebACL.RuleProperty(
            name=group, priority=priority, override_action=waf.CfnWebACL.OverrideActionProperty(none={}),
            statement=waf.CfnWebACL.StatementProperty(managed_rule_group_statement=(
                waf.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS", name=group, managed_rule_group_configs=configs, rule_action_overrides=overrides,
                ))),
            visibility_config=_visibility(group),
        ))
    rules.append(waf.CfnWebACL.RuleProperty(
        name="RatePerAddress", priority=len(rules), action=waf.CfnWebACL.RuleActionProperty(block={}),
        statement=waf.CfnWebACL.StatementProperty(rate_based_statement=waf.CfnWebACL.RateBasedStatementProperty(
            limit=RATE_LIMIT_PER_5_MIN, aggregate_key_type="IP",
        )),
        visibility_config=_visibility("RatePerAddress"),
    ))
    return waf.CfnWebACL(
        scope, construct_id, name=name, scope="CLOUDFRONT" if cloudfront else "REGIONAL",
        default_action=waf.CfnWebACL.DefaultActionProperty(allow={}), rules=rules, visibility_config=_visibility(name),
    )
