"""The retry schedule of background loops, and the lines an outage logs (core/backoff.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from orbitask.core.backoff import Backoff, Outage


class Rand:
    """Random numbers in [0, 1) chosen by the test."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def __call__(self) -> float:
        return self.values.pop(0)


def waits(backoff: Backoff, n: int) -> list[float]:
    return [round(backoff.next(), 6) for _ in range(n)]


def test_waits_double_from_min_to_max_with_the_random_part_spanning_the_upper_half() -> None:
    low = Backoff(min_s=0.1, max_s=5.0, rand=Rand(*[0.0] * 9))
    high = Backoff(min_s=0.1, max_s=5.0, rand=Rand(*[0.999999] * 9))
    # the n-th failure: between half of and the whole of min * 2^n, never below min nor above max
    assert waits(low, 9) == [0.1, 0.2, 0.4, 0.8, 1.6, 2.5, 2.5, 2.5, 2.5]
    assert waits(high, 9) == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0], abs=1e-5)


def test_full_jitter_draws_from_min_to_the_ceiling_and_no_jitter_waits_the_ceiling() -> None:
    full = Backoff(min_s=1.0, max_s=8.0, jitter=1.0, rand=Rand(0.0, 0.5, 0.0, 0.5))
    assert waits(full, 4) == [1.0, 2.5, 1.0, 8.0 - 0.5 * 7.0]
    fixed = Backoff(min_s=1.0, max_s=8.0, jitter=0.0, rand=Rand(0.3, 0.9, 0.1, 0.5))
    assert waits(fixed, 4) == [2.0, 4.0, 8.0, 8.0]


def test_every_wait_stays_within_its_range_for_any_random_draw() -> None:
    import random

    draws = random.Random(7)
    backoff = Backoff(min_s=0.2, max_s=30.0, rand=draws.random)
    for n in range(1, 200):
        low, high = backoff.bounds(n)
        wait = backoff.next()
        assert 0.2 <= low <= wait <= high <= 30.0


def test_a_long_outage_keeps_waiting_the_maximum() -> None:
    """Thousands of failures (hours at the maximum) must not overflow the exponential."""
    backoff = Backoff(min_s=0.1, max_s=5.0, rand=lambda: 0.5)
    for _ in range(5000):
        wait = backoff.next()
    assert wait == 3.75 and backoff.failures == 5000


def test_reset_starts_the_schedule_again() -> None:
    backoff = Backoff(min_s=0.5, max_s=10.0, jitter=0.0)
    assert waits(backoff, 3) == [1.0, 2.0, 4.0]
    backoff.reset()
    assert waits(backoff, 2) == [1.0, 2.0]


@pytest.mark.parametrize("kw", [{"min_s": 0, "max_s": 1}, {"min_s": 2, "max_s": 1}, {"min_s": 1, "max_s": 2, "jitter": 1.5},
                                {"min_s": 1, "max_s": 2, "factor": 0.5}])
def test_nonsense_schedules_are_refused(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kw)


class Log:
    """A logger that keeps what it is given."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Any:
        return lambda event, **kw: self.lines.append((level, event, kw))


def test_an_outage_logs_a_warning_when_lost_debug_per_retry_and_info_with_its_length_when_back() -> None:
    log, now = Log(), [100.0]
    outage = Outage(log, loop="relay", backoff=Backoff(min_s=0.1, max_s=5.0, jitter=0.0), clock=lambda: now[0])
    outage.ok()  # healthy: nothing to say
    assert log.lines == [] and not outage.down
    dsn = "mysql+asyncmy://orbitask:s3cret-pw@db:3306/orbitask"
    error = OperationalError("SELECT 1", {}, Exception(f"(2003) can't connect to {dsn}"))
    assert outage.failed(error) == 0.2
    assert outage.down
    for _ in range(3):
        now[0] += 1.0
        outage.failed(error)
    now[0] += 2.5
    outage.ok()
    outage.ok()
    levels = [(level, event) for level, event, _ in log.lines]
    assert levels == [("warning", "dependency_lost")] + [("debug", "dependency_retry")] * 3 + [
        ("info", "dependency_restored")]
    lost = log.lines[0][2]
    assert (lost["loop"], lost["what"], lost["error"], lost["retry_in"]) == ("relay", "database", "OperationalError", 0.2)
    assert "s3cret-pw" not in lost["detail"] and "can't connect" in lost["detail"]
    assert "\n" not in lost["detail"] and len(lost["detail"]) <= 200
    assert [kw["attempt"] for _, _, kw in log.lines[1:4]] == [2, 3, 4]
    assert log.lines[-1][2] == {"loop": "relay", "what": "database", "down_seconds": 5.5, "attempts": 4}
    # the next outage starts the schedule (and the count) again
    assert outage.failed("publish refused", what="bus") == 0.2
    assert log.lines[-1][:2] == ("warning", "dependency_lost") and log.lines[-1][2]["what"] == "bus"


def test_a_dsn_cut_by_the_length_limit_is_still_masked() -> None:
    log = Log()
    outage = Outage(log, loop="job:x", backoff=Backoff(min_s=1, max_s=2))
    outage.failed(RuntimeError("x" * 150 + " postgresql://orbitask:" + "p" * 80 + "@db/orbitask"))
    detail = log.lines[0][2]["detail"]
    assert "ppp" not in detail and log.lines[0][2]["what"] == "dependency"
