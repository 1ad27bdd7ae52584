"""Streaming a JSON export one top-level value or array element at a time, and its errors."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from orbitask.transfer.routes import sweep_stale
from orbitask.transfer.spool import Spool
from orbitask.transfer.stream import ImportRejected, top_level
from orbitask.transfer.trello import created_at, label_color, shorten


def values(data: bytes) -> list[tuple[str, bool, object]]:
    return list(top_level(io.BytesIO(data), "an export"))


def test_arrays_yield_one_element_at_a_time_and_scalars_whole() -> None:
    data = b'{"id": "b1", "cards": [{"a": [1, [2]], "b": {}}, 3, [4]], "prefs": {"x": null}, "empty": []}'
    assert values(data) == [("id", False, "b1"), ("cards", True, {"a": [1, [2]], "b": {}}), ("cards", True, 3),
                            ("cards", True, [4]), ("prefs", False, {"x": None})]


@pytest.mark.parametrize("data,reason", [
    (b"", "empty"), (b"  \n", "empty"), (b"nope", "not-json"), (b"[1, 2]", "wrong-shape"), (b'"x"', "wrong-shape"),
    (b'{"a": [1, 2', "truncated"), (b'{"a": 1} {"b": 2}', "not-json"), (b'{"a": "\xff"}', "not-json"),
])
def test_bad_documents_are_named(data: bytes, reason: str) -> None:
    with pytest.raises(ImportRejected) as caught:
        values(data)
    assert caught.value.reason == reason
    assert "\n" not in caught.value.detail  # the parser's excerpt of the file is not echoed


def test_spool_orders_by_parent_then_sort_key_then_file_order() -> None:
    with Spool() as spool:
        spool.put("card", "b", "c3", {"n": 3}, parent="l1", sort=2.0)
        spool.put("card", "b", "c1", {"n": 1}, parent="l1", sort=1.0)
        spool.put("card", "b", "c2", {"n": 2}, parent="l1", sort=1.0)
        spool.put("card", "b", "c1", {"n": "duplicate"}, parent="l1", sort=0.0)
        spool.put("list", "b", "l1", {})
        assert [(e, d["n"]) for e, _, d in spool.rows("card")] == [("c1", 1), ("c2", 2), ("c3", 3)]
        spool.assign_ids("card", "b")
        spool.assign_ids("list", "b")
        resolved = list(spool.resolved("card", "list", "b"))
        assert len({r[1] for r in resolved}) == 3 and {r[3] for r in resolved} == set(spool.ids("list", "b").values())
        assert not any(r[2] for r in resolved)  # none existed before


def test_trello_helpers() -> None:
    assert [label_color(c) for c in ("green", "red_dark", "sky_light", None, "teal")] == [
        "green", "red", "sky", "gray", "gray"]
    assert shorten("  abc  ", 10) == "abc" and shorten("abcdef", 4) == "abc…"
    assert created_at("5f1a00000000000000000c01") == "2020-07-23T21:24:16+00:00"
    assert created_at("zzzz") is None


def test_stale_uploads_and_staging_dirs_are_swept(tmp_path: Path) -> None:
    old_file, old_dir, fresh = tmp_path / "upload-old.json", tmp_path / "orbitask-import-old", tmp_path / "upload-new.json"
    old_file.write_text("{}")
    old_dir.mkdir()
    (old_dir / "spool.db").write_text("")
    fresh.write_text("{}")
    three_days_ago = time.time() - 3 * 86400
    for path in (old_file, old_dir):
        os.utime(path, (three_days_ago, three_days_ago))
    sweep_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upload-new.json"]
