"""The AWS CDK app for Orbitask's multi-region production architecture (docs/deploy-aws.md)."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk

from .config import DeployConfig, load
from .delivery import DeliveryStack


def build(cfg: DeployConfig, outdir: str | Path | None = None) -> tuple[cdk.App, DeliveryStack]:
    """The CDK app: the delivery stack, whose pipeline deploys the production stage (every region, then global)."""
    app = cdk.App(outdir=str(outdir) if outdir else None)
    delivery = DeliveryStack(app, f"{cfg.name}-delivery", cfg=cfg)
    cdk.Tags.of(app).add("project", cfg.name)
    return app, delivery


__all__ = ["DeployConfig", "build", "load"]
