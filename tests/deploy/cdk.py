"""Synthesise the CDK app under deploy/aws once per profile: production (the shipped three-region example) and demo
(regions.demo.yaml), with the cdk-nag checks on."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_AWS = ROOT / "deploy" / "aws"
EXAMPLE_CONFIG = DEPLOY_AWS / "regions.example.yaml"
DEMO_CONFIG = DEPLOY_AWS / "regions.demo.yaml"
# every synthesis here runs the cdk-nag checks (orbitask_cdk/nag.py); their findings stay in the stacks' annotations
# for test_aws_nag.py to list, instead of failing the synthesis as they do under `cdk synth -c orbitask:nag=true`
NAG_CONTEXT = {"orbitask:nag": True, "@aws-cdk/core:annotationsInValidationReport": False}
NAG_RULE = re.compile(r"^(AwsSolutions-|CdkNagValidationFailure)")  # a finding, or a rule nag could not evaluate
# jsii prints a banner when the machine's Node is older than it likes; synthesis works the same
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")


def require_toolchain() -> None:
    """Fail with how to install what CDK synthesis needs, when it is missing."""
    if shutil.which("node") is None:
        raise RuntimeError("CDK synthesis runs on Node.js: `apt-get install nodejs` (make test does this)")
    try:
        import aws_cdk  # noqa: F401
        import cfnlint  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(f"{exc}: install the [aws] extra, `.venv/bin/pip install -e '.[dev,aws]'` "
                           "(make test does this)") from exc


def import_app() -> Any:
    """The orbitask_cdk package from deploy/aws."""
    if str(DEPLOY_AWS) not in sys.path:
        sys.path.insert(0, str(DEPLOY_AWS))
    import orbitask_cdk

    return orbitask_cdk


def write_config(tmp: Path) -> Path:
    """The example config with a CloudFront public key for signed attachment URLs (made with openssl)."""
    private, public = tmp / "files.key", tmp / "files.pub.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", str(private), "-pubout", "-out", str(public)], check=True,
                   capture_output=True)
    config = tmp / "regions.yaml"
    config.write_text(EXAMPLE_CONFIG.read_text() + "attachments_public_key_file: files.pub.pem\n")
    return config


@dataclass
class Synthesised:
    """The synthesised app: config, output directory, each stack's template as a dict, the cloud assembly."""

    cfg: Any
    outdir: Path
    templates: dict[str, dict[str, Any]]  # "delivery", "global", and each region
    assembly: Any = None  # every stack's artifact, the pipeline stages' too (assembly.stacks_recursively)

    def template_files(self) -> list[Path]:
        """Every CloudFormation template written (nested stage assemblies included)."""
        return sorted(self.outdir.rglob("*.template.json"))


def synthesise(tmp: Path, config: Path | None = None) -> Synthesised:
    """Build the app from CONFIG (default: the example, with a CloudFront key) and synthesise it through the Python
    API (no cdk CLI), with the cdk-nag checks."""
    require_toolchain()
    app_pkg = import_app()
    cfg = app_pkg.load(config or write_config(tmp), image_tag="test-tag")
    app, delivery = app_pkg.build(cfg, tmp / "cdk.out", context=NAG_CONTEXT)
    assembly = app.synth()
    stage = delivery.stage.synth()
    templates = {"delivery": assembly.get_stack_artifact(delivery.artifact_id).template,
                 "global": stage.get_stack_artifact(delivery.stage.global_stack.artifact_id).template}
    for region, stack in delivery.stage.regionals.items():
        templates[region] = stage.get_stack_artifact(stack.artifact_id).template
    return Synthesised(cfg=cfg, outdir=tmp / "cdk.out", templates=templates, assembly=assembly)


def template(synth: Synthesised, name: str) -> Any:
    """The stack NAME as an aws_cdk.assertions Template."""
    from aws_cdk.assertions import Template

    return Template.from_json(synth.templates[name])


def resources(synth: Synthesised, name: str, kind: str) -> dict[str, dict[str, Any]]:
    """Resources of KIND in the stack NAME, by logical id."""
    return {k: v for k, v in synth.templates[name]["Resources"].items() if v["Type"] == kind}


def text(value: Any) -> str:
    """A property value (maybe an intrinsic function) as text, to look for names in it."""
    return json.dumps(value)


def nag_findings(synth: Synthesised) -> list[str]:
    """The cdk-nag errors and warnings no suppression covers, on every stack: `RULE at PATH`."""
    from aws_cdk.cx_api import SynthesisMessageLevel

    levels = (SynthesisMessageLevel.ERROR, SynthesisMessageLevel.WARNING)
    found = []
    for stack in synth.assembly.stacks_recursively:
        for message in stack.messages:
            data = str(message.entry.data)
            if message.level in levels and NAG_RULE.match(data):
                found.append(f"{data.split(': ', 1)[0]} at {message.id}")
    return found


def cfn_lint_errors(files: list[Path]) -> list[str]:
    """cfn-lint's errors and warnings (rules E* and W*) on these templates: both fail. Informational findings (8)
    pass."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", "--", *map(str, files)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode in (0, 2, 4, 6, 8, 10, 12, 14), result.stderr  # a bit mask of E, W, I; never a crash
    # parseable lines: file:line:column:end line:end column:RULE:message
    findings = [line.split(":", 6) for line in result.stdout.splitlines() if line.count(":") >= 6]
    errors = [":".join(f) for f in findings if f[5][:1] in ("E", "W")]
    assert errors or not result.returncode & 6, result.stdout  # findings reported in a form this did not read
    return errors
