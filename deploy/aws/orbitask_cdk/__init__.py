"""The AWS CDK app for Orbitask's multi-region production architecture (docs/deploy-aws.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from . import nag
from .config import DeployConfig, load
from .delivery import DeliveryStack

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def cdk_context() -> dict[str, Any]:
    """The context of deploy/aws/cdk.json."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text()).get("context", {})
    return context


def build(cfg: DeployConfig, outdir: str | Path | None = None, *,
          context: dict[str, Any] | None = None) -> tuple[cdk.App, DeliveryStack]:
    """The CDK app: the delivery stack, whose pipeline deploys the production stage (every region, then global).

    CONTEXT: more context, over cdk.json's (`{nag.CONTEXT: True}` runs the cdk-nag checks).
    """
    # cdk.json's context (the recommended feature flags) however the app is run: `cdk synth` passes it too,
    # but the pipeline and the tests run it as Python; what the CLI passes wins
    app = cdk.App(outdir=str(outdir) if outdir else None, context={**cdk_context(), **(context or {})})
    nag.check(app)  # the delivery stack; each pipeline stage adds its own (delivery.AppStage)
    delivery = DeliveryStack(app, f"{cfg.name}-delivery", cfg=cfg)
    cdk.Tags.of(app).add("project", cfg.name)
    return app, delivery


__all__ = ["DeployConfig", "build", "load"]
