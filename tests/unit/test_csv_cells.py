"""CSV export cells: spreadsheet formula injection is defused, everything else passes through."""

from __future__ import annotations

import datetime as dt

import pytest

from orbitask.transfer.export import csv_cell


@pytest.mark.parametrize("value,expected", [
    ("=1+1", "'=1+1"), ("+44 20", "'+44 20"), ("-5", "'-5"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=cmd", "'\t=cmd"), ("\r=cmd", "'\r=cmd"), ("a=b", "a=b"), ("", ""), ("plain", "plain"),
    (3, 3), (True, True), (dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2030-01-02T03:04:05Z"),
])
def test_csv_cell(value: object, expected: object) -> None:
    assert csv_cell(value) == expected
