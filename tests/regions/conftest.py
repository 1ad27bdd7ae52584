"""A failing test in tests/regions shows the logs of the labs and servers it ran against (tests/regions/labs.py)."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.regions import labs

Wrapper = Generator[None, pytest.TestReport, pytest.TestReport]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Wrapper:
    """Add the watched directories' log tails to the report of a failed setup or call (and keep them)."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        report.sections.extend(labs.failure_sections())
    return report
