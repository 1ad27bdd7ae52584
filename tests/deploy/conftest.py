"""One synthesis of the CDK app per profile for every test module under tests/deploy that reads its templates."""

from __future__ import annotations

import pytest

from tests.deploy.cdk import DEMO_CONFIG, Synthesised, synthesise


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    return synthesise(tmp_path_factory.mktemp("cdk"))


@pytest.fixture(scope="session")
def demo_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    return synthesise(tmp_path_factory.mktemp("cdk-demo"), DEMO_CONFIG)
