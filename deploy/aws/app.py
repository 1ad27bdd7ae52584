"""Synthesise the Orbitask CDK app: `python app.py [--config regions.yaml] [--image-tag TAG]` (or `cdk synth`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from orbitask_cdk import build, load, nag  # noqa: E402
from orbitask_cdk.config import ConfigError  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=os.environ.get("ORBITASK_DEPLOY_CONFIG", str(HERE / "regions.yaml")))
    parser.add_argument("--image-tag", default=os.environ.get("ORBITASK_IMAGE_TAG"))
    parser.add_argument("--outdir", default=os.environ.get("CDK_OUTDIR", str(HERE / "cdk.out")))
    parser.add_argument("--nag", action="store_true", default=os.environ.get("ORBITASK_CDK_NAG") == "1",
                        help="run cdk-nag's AwsSolutions checks: a finding fails the synthesis (ORBITASK_CDK_NAG=1)")
    args = parser.parse_args()
    try:
        cfg = load(args.config, image_tag=args.image_tag or None)
    except ConfigError as exc:
        print(f"orbitask deploy config: {exc}", file=sys.stderr)
        return 2
    app, _ = build(cfg, args.outdir, context={nag.CONTEXT: True} if args.nag else None)
    assembly = app.synth()
    print(f"synthesised {len(assembly.stacks_recursively)} stacks into {assembly.directory}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
