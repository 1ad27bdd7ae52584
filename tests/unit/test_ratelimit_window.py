"""The in-process rate limiter: a moving window per limit and key, the wait it tells, limits that are off,
and windows that have passed forgotten.

`Clock` is the limiter's clock (both limiters take every time from it). The `limits` library reads
`time.time()` itself: `move_library_time` makes its storages read a `Clock` too, for the tests that hold our
Redis windows to the library's own answers (tests/realtime/test_redis_round_trips.py), and nothing else's time.
"""

from __future__ import annotations

import pytest
from limits.aio.storage import memory
from limits.aio.storage.redis import redispy

from orbitask.core.ratelimit import PRUNE_EVERY, Limit, MemoryRateLimiter


class Clock:
    """Time as the limiter and the `limits` library see it, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def time(self) -> float:
        """What the library's storages call as `time.time()`."""
        return self.now


def move_library_time(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    """Make the in-process and the Redis storages of `limits` read `clock` for the rest of the test."""
    for module in (memory, redispy):
        monkeypatch.setattr(module, "time", clock)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(600.0)
    move_library_time(monkeypatch, clock)
    return clock


async def test_the_window_moves_with_each_request_and_tells_when_one_is_allowed_again(clock: Clock) -> None:
    limiter = MemoryRateLimiter(clock)
    ann = [Limit("login_email", "ann", 2)]
    assert (await limiter.hit(ann)).allowed
    clock.now = 630.0
    assert (await limiter.hit(ann)).allowed
    clock.now = 645.5
    refused = await limiter.hit(ann)  # the request at 600 leaves the window after 660
    assert (refused.allowed, refused.limit, refused.retry_after) == (False, "login_email", 15)
    assert (await limiter.hit([Limit("login_email", "bob", 2)])).allowed
    clock.now = 660.5
    assert (await limiter.hit(ann)).allowed
    clock.now = 661.0
    assert (await limiter.hit(ann)).retry_after == 30  # now the one at 630 is the oldest
    clock.now = 690.5  # the refused requests were not logged: only 660.5 is in the window
    assert (await limiter.hit(ann)).allowed


async def test_the_longest_wait_wins_and_zero_means_no_limit(clock: Clock) -> None:
    clock.now = 3630.0
    limiter = MemoryRateLimiter(clock)
    both = [Limit("short", "x", 1, window_s=60), Limit("long", "x", 1, window_s=3600), Limit("off", "x", 0)]
    assert (await limiter.hit(both)).allowed
    clock.now = 3640.0
    refused = await limiter.hit(both)
    assert (refused.limit, refused.retry_after) == ("long", 3591)
    assert (await limiter.hit([Limit("off", "x", 0)])).allowed


async def test_windows_that_have_passed_are_forgotten(clock: Clock) -> None:
    """Memory stays bounded by the clients of the last window, not by every client ever seen."""
    limiter = MemoryRateLimiter(clock)
    for n in range(PRUNE_EVERY):
        await limiter.hit([Limit("api_ip", f"10.0.{n // 256}.{n % 256}", 5)])
    assert len(limiter._logs) == PRUNE_EVERY
    clock.now += 61
    for _ in range(PRUNE_EVERY):
        await limiter.hit([Limit("api_ip", "10.9.9.9", 10**6)])
    assert list(limiter._logs) == [("api_ip", "10.9.9.9", 60)]
