"""Streaming a JSON export: only known fields are built, within bounds; its errors; the staging spool."""

from __future__ import annotations

import io
import json
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from orbitask.transfer import limits
from orbitask.transfer.routes import sweep_stale
from orbitask.transfer.spool import Spool
from orbitask.transfer.stream import MAX_DEPTH, MAX_RUN_BYTES, ImportRejected, JsonStream, Many, Shape
from orbitask.transfer.trello import created_at, label_color, read_trello, shorten

CARD: Shape = {"id": None, "name": None, "ids": Many(None, 3), "cover": {"url": None}}


class Trickle:
    """A file that returns at most `step` bytes a read, so escapes and strings straddle the reads."""

    def __init__(self, data: bytes, step: int) -> None:
        self.raw, self.step = io.BytesIO(data), step

    def read(self, size: int = -1) -> bytes:
        return self.raw.read(min(size, self.step) if size > 0 else self.step)


def values(data: bytes, step: int = 1 << 16) -> list[tuple[str, bool, Any]]:
    stream = JsonStream(Trickle(data, step), "an export", "board", fields={"id": None, "prefs": {"x": None}},
                        arrays={"cards": CARD})
    return [(k, a, json.loads(json.dumps(v, default=repr))) for k, a, v in stream]  # read past: "an array"


def rejected(data: bytes, step: int = 1 << 16) -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        values(data, step)
    assert "\n" not in caught.value.detail  # the parser's excerpt of the file is not echoed
    return caught.value


def test_only_the_fields_a_shape_names_are_built_and_arrays_yield_one_element_at_a_time() -> None:
    data = (b'{"id": "b1", "junk": {"a": [1, {}]}, "cards": [{"id": "c1", "ids": ["x", {"deep": [1]}], "skip": [1], '
            b'"cover": {"url": "u", "other": [2]}}, 3, {"name": ["not", "a", "value"], "cover": []}], '
            b'"prefs": {"x": null, "y": 1}, "more": []}')
    assert values(data) == [
        ("id", False, "b1"),
        ("cards", True, {"id": "c1", "ids": ["x", "an object"], "cover": {"url": "u"}}),
        ("cards", True, 3),
        ("cards", True, {"name": "an array", "cover": "an array"}),  # read past, never built
        ("prefs", False, {"x": None}),
    ]


@pytest.mark.parametrize("step", [1, 5, 1 << 16])
def test_the_same_values_however_the_file_is_cut_into_reads(step: int) -> None:
    data = rb'{"cards": [{"id": "a\\\"\ud83d\ude00", "name": "\u00e9\"q"}], "id": "x\\"}'
    assert values(data, step) == [("cards", True, {"id": 'a\\"\U0001f600', "name": 'é"q'}), ("id", False, "x\\")]


@pytest.mark.parametrize("data,reason", [
    (b"", "empty"), (b"  \n", "empty"), (b"nope", "not-json"), (b"[1, 2]", "wrong-shape"), (b'"x"', "wrong-shape"),
    (b'{"a": [1, 2', "truncated"), (b'{"a": 1} {"b": 2}', "not-json"), (b'{"a": "\xff"}', "not-json"),
    (b'{"cards": {"id": "c1"}}', "wrong-shape"),
])
def test_bad_documents_are_named(data: bytes, reason: str) -> None:
    assert rejected(data).reason == reason


@pytest.mark.parametrize("step", [1, 7, 1 << 16])
def test_nul_and_unpaired_surrogates_in_kept_text_are_refused_naming_the_field(step: int) -> None:
    for text, words in ((b"a\\u0000b", "NUL"), (b"\\ud800", "unpaired surrogate"),
                        (b"x\\udc00y", "unpaired surrogate"), (b"\\ud83d\\u0041", "unpaired surrogate")):
        problem = rejected(b'{"cards": [{"id": "c1", "cover": {"url": "' + text + b'"}}]}', step)
        assert (problem.reason, problem.extra["field"]) == ("invalid-value", "cover.url")
        assert problem.detail.startswith("card 'c1': field 'cover.url' must ") and words in problem.detail
    # pairs, escaped backslashes before "ud800", and bad text in fields that are not kept all pass
    ok = b'{"cards": [{"id": "\\ud83d\\ude00 \\\\ud800", "junk": "\\u0000\\udc00"}]}'
    assert values(ok, step) == [("cards", True, {"id": "\U0001f600 \\ud800"})]


@pytest.mark.parametrize("where", ["name", "junk"])
def test_nesting_deeper_than_the_bound_is_refused_kept_or_not(where: str) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    problem = rejected(b'{"cards": [{"id": "c1", "' + where.encode() + b'": ' + deep + b"}]}")
    assert problem.reason == "too-deep" and f"field '{where}' nests" in problem.detail
    at_bound = b"[" * (MAX_DEPTH - 3) + b"]" * (MAX_DEPTH - 3)  # the file, the array and the card are 3 levels
    assert values(b'{"cards": [{"id": "c1", "junk": ' + at_bound + b"}]}") == [("cards", True, {"id": "c1"})]
    assert rejected(b'{"cards": [{"id": "c1", "junk": [' + at_bound + b"]}]}").reason == "too-deep"


def test_a_run_longer_than_the_bound_is_refused_before_it_is_built() -> None:
    long = b"x" * (MAX_RUN_BYTES + 1)
    problem = rejected(b'{"cards": [{"id": "c1", "junk": "' + long + b'"}]}')
    assert problem.reason == "value-too-large" and "card 'c1': field 'junk' holds a value longer" in problem.detail
    assert rejected(b'{"id": ' + b"1" * (MAX_RUN_BYTES + 1) + b"}").extra["field"] == "id"
    fits = b"y" * (MAX_RUN_BYTES - 100)
    assert values(b'{"cards": [{"id": "' + fits + b'"}]}') == [("cards", True, {"id": fits.decode()})]


def test_kept_arrays_are_bounded() -> None:
    problem = rejected(b'{"cards": [{"id": "c1", "ids": ["a", "b", "c", "d"]}]}')
    assert (problem.reason, problem.extra["field"]) == ("too-many", "ids")


def _peak_memory_importing_junk(n: int) -> tuple[int, int]:
    """(file size, peak traced memory) importing a one-card board with n-fold junk in ignored fields."""
    junk = ",".join(["{}"] * (5 * n)) + "," + ",".join(['{"a":[[],{"b":{}}]}'] * n)
    card = {"id": "c1", "idList": "l1", "name": "Card", "badges": "BADGES", "pluginData": "JUNK"}
    doc = {"id": "b1", "name": "Board", "lists": [{"id": "l1", "name": "L"}], "cards": [card], "actions": "JUNK"}
    badges = "{" + ",".join(f'"k{i}":[{{}}]' for i in range(n)) + "}"
    data = json.dumps(doc).replace('"JUNK"', f"[{junk}]").replace('"BADGES"', badges).encode()
    with Spool() as spool:
        tracemalloc.start()
        try:
            read_trello(io.BytesIO(data), spool)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert spool.counts() == {"board": 1, "list": 1, "card": 1}
    return len(data), peak


def test_junk_in_ignored_fields_is_read_past_without_being_built() -> None:
    """Memory follows what is kept: four times the junk costs no more memory (a read's worth of events)."""
    small_size, small_peak = _peak_memory_importing_junk(5_000)
    size, peak = _peak_memory_importing_junk(20_000)
    assert size > 1_500_000 and peak < 1_000_000, f"{peak:,} bytes for a {size:,}-byte file"
    assert peak < small_peak + 100_000, f"{small_peak:,} bytes for {small_size:,} bytes of file, {peak:,} for {size:,}"


def test_the_spool_refuses_a_board_beyond_its_caps() -> None:
    with Spool() as spool:
        for n in range(limits.MAX_LABELS_PER_BOARD):
            spool.put("label", "b1", f"l{n}", {})
            spool.put("label", "b2", f"l{n}", {})  # another board of the same file has its own count
        with pytest.raises(ImportRejected) as caught:
            spool.put("label", "b1", "one-more", {})
        assert caught.value.reason == "too-many" and "1,000 labels on one board" in caught.value.detail
    with Spool() as spool:
        for n in range(limits.MAX_BOARDS_PER_IMPORT):
            spool.put("board", f"b{n}", f"b{n}", {})
        with pytest.raises(ImportRejected, match="more than 1,000 boards"):
            spool.put("board", "last", "last", {})


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
