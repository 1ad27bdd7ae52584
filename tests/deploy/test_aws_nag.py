"""cdk-nag (AwsSolutions) on both profiles: no finding unless acknowledged next to its resource with a reason.

The session's syntheses (tests/deploy/conftest.py) run the checks: the app's, and each pipeline stage's
(orbitask_cdk/nag.py). cdk-nag writes a report per stack it checked, which shows the checks reached every stack.
"""

from __future__ import annotations

import csv

import pytest

from tests.deploy.cdk import Synthesised, nag_findings


@pytest.fixture(params=["production", "demo"])
def profile(request: pytest.FixtureRequest) -> Synthesised:
    synth: Synthesised = request.getfixturevalue("synth" if request.param == "production" else "demo_synth")
    return synth


def test_no_stack_has_an_unsuppressed_cdk_nag_error_or_warning(profile: Synthesised) -> None:
    findings = nag_findings(profile)
    assert findings == [], f"{len(findings)} cdk-nag findings:\n" + "\n".join(findings)


def test_cdk_nag_checked_every_stack_of_every_stage(profile: Synthesised) -> None:
    stacks = {stack.stack_name for stack in profile.assembly.stacks_recursively}
    reports = {path.name: path for path in profile.outdir.glob("AwsSolutions-*-NagReport.csv")}
    # the delivery stack, its cross-region support stacks, and the staging and production stages' stacks
    assert len(stacks) >= 2 + 2 * len(profile.cfg.regions)
    unchecked = {name for name in stacks if not any(r.endswith(f"-{name}-NagReport.csv") for r in reports)}
    assert unchecked == set()
    rows = [row for path in reports.values() for row in csv.DictReader(path.open())]
    compliance = {row["Compliance"] for row in rows}
    assert "Non-Compliant" not in compliance and "UNKNOWN" not in compliance
    # every acknowledged finding says why
    assert all(row["Exception Reason"].strip() not in ("", "N/A") for row in rows if row["Compliance"] == "Suppressed")
