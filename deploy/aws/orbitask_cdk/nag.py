"""cdk-nag's AwsSolutions checks on the app: always in tests/deploy/test_aws_nag.py, and in `cdk synth` or app.py when
asked (`-c orbitask:nag=true`, `app.py --nag`, ORBITASK_CDK_NAG=1). A finding that does not apply is acknowledged
next to its resource, with the reason, through NagSuppressions (docs/deploy-aws.md, "cdk-nag and cfn-lint")."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct

CONTEXT = "orbitask:nag"


def enabled(scope: IConstruct) -> bool:
    """Whether the app runs with the checks (the context key CONTEXT: true)."""
    return str(scope.node.try_get_context(CONTEXT)).lower() in ("true", "1")


def check(scope: IConstruct) -> None:
    """The AwsSolutions checks on SCOPE (the app, or a pipeline stage) when the app runs with them.

    Each stage needs its own: the pipeline synthesises a stage when it is added, on its own, and a stage's
    synthesis runs only the aspects of the stage and its children, never the app's.
    """
    if enabled(scope):
        cdk.Aspects.of(scope).add(AwsSolutionsChecks(verbose=True))


def suppress(construct: IConstruct, rule: str, reason: str, *, applies_to: Sequence[str] = (),
             children: bool = False) -> None:
    """Acknowledge RULE's findings on CONSTRUCT (CHILDREN: and on everything under it) for REASON.

    APPLIES_TO: only these findings of a granular rule (IAM4 `Policy::<arn>`, IAM5 `Resource::<arn>` or
    `Action::<action>`, each exactly as nag names it; `/.../` a regular expression, for a name holding a logical id).
    """
    matches = [RegexAppliesTo(regex=a) if a.startswith("/") else a for a in applies_to]
    NagSuppressions.add_resource_suppressions(
        construct, [NagPackSuppression(id=rule, reason=reason, applies_to=matches or None)], apply_to_children=children)
