"""The pure logic of bench/capacity.py: mix selection, a user's board model, percentiles and the stop rule."""

import random
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from capacity_mix import MIX, BoardModel, Mix, Window, best_step, percentile, stop_reason, summarize  # noqa: E402


def test_the_mix_is_the_issues_and_picks_in_proportion() -> None:
    assert sum(MIX.values()) == 100
    rng = random.Random(3)
    mix = Mix(MIX)
    counts = Counter(mix.pick(rng) for _ in range(100_000))
    assert set(counts) == set(MIX)
    for name, weight in MIX.items():
        assert abs(counts[name] / 1000 - weight) < 0.6, (name, counts[name])


def test_zero_weights_are_never_picked_and_all_zero_is_refused() -> None:
    rng = random.Random(1)
    assert {Mix({"a": 0, "b": 1}).pick(rng) for _ in range(200)} == {"b"}
    with pytest.raises(ValueError):
        Mix({"a": 0})


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50, 99, 100)
    assert percentile([7.0], 99) == 7.0
    assert percentile([float(v) for v in range(1, 1001)], 99) == 990


def test_errors_are_counted_by_status_or_exception_and_stop_the_step_up() -> None:
    window = Window()
    for i in range(98):
        window.add("open_board", 200, float(i % 10))
    window.add("move_card", 409, 5.0)
    window.add("create_card", "ServerTimeoutError", 8.0)
    step = summarize(window, seconds=10)
    assert (step["requests"], step["rps"], step["errors"]) == (100, 10.0, 2)
    assert step["errors_by_type"] == {"409": 1, "ServerTimeoutError": 1}
    assert step["errors_by_op"] == {"move_card 409": 1, "create_card ServerTimeoutError": 1}
    assert stop_reason(step, p99_limit_ms=50, max_error_rate=0.01).startswith("error rate")


def test_the_step_up_stops_past_the_p99_limit_and_reports_the_best_clean_step() -> None:
    steps = [{"users": u, "requests": 100, "rps": rps, "p99_ms": p99, "errors": e, "error_rate": e / 100}
             for u, rps, p99, e in ((10, 13, 20, 0), (20, 26, 30, 1), (40, 50, 45, 0), (80, 90, 70, 0))]
    assert [stop_reason(s, 50, 0.05) for s in steps[:3]] == [None, None, None]
    assert stop_reason(steps[3], 50, 0.05) == "p99 70 ms > 50 ms"
    assert best_step(steps, 50)["users"] == 40
    assert best_step(steps[3:], 50) is None


def test_moves_go_to_real_places_and_the_model_follows_creates_moves_and_deletes() -> None:
    rng = random.Random(5)
    model = BoardModel({"L1": ["a", "b", "c"], "L2": []}, {"a": {"i1": False}, "b": {}})
    for _ in range(200):
        card = model.random_card(rng)
        list_id, index, after, before = model.move_target(rng, card)
        others = [c for c in model.lists[list_id] if c != card]
        assert after == (others[index - 1] if index else None)
        assert before == (others[index] if index < len(others) else None)
        model.moved(card, list_id, index)
        assert model.lists[list_id][index] == card
        assert sorted(c for cards in model.lists.values() for c in cards) == ["a", "b", "c"]
    list_id, last = model.create_target(rng)
    assert last == (model.lists[list_id][-1] if model.lists[list_id] else None)
    model.created(list_id, "d")
    model.deleted("a")
    assert model.card_count == 3 and "a" not in model.items and model.random_item(rng) is None


def test_a_snapshot_rebuilds_the_model_in_position_order() -> None:
    snapshot = {
        "lists": [{"id": "L2", "position": "a1", "archived": False}, {"id": "L1", "position": "a0", "archived": False},
                  {"id": "old", "position": "a2", "archived": True}],
        "cards": [{"id": "y", "list_id": "L1", "position": "a1"}, {"id": "x", "list_id": "L1", "position": "a0"},
                  {"id": "z", "list_id": "old", "position": "a0"}, {"id": "w", "list_id": "L2", "position": "a0",
                                                                      "archived": True}],
    }
    model = BoardModel.from_snapshot(snapshot, {"x": {"i": True}, "gone": {"j": False}})
    assert model.lists == {"L1": ["x", "y"], "L2": []}
    assert model.items == {"x": {"i": True}}
    assert model.random_item(random.Random(0)) == ("x", "i", True)
