"""The in-process rate limiter, revocation list and Redis guard: windows, expiry, fail-open pauses."""

from __future__ import annotations

from typing import Any

from orbitask.core.failopen import RedisGuard
from orbitask.core.ratelimit import Limit, MemoryRateLimiter
from orbitask.core.revocation import MemoryRevocations


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_fixed_windows_count_per_key_and_tell_when_the_window_ends() -> None:
    clock = Clock(600.0 + 45.5)  # 14.5 s before the window [600, 660) ends
    limiter = MemoryRateLimiter(clock)
    ann = [Limit("login_email", "ann", 2)]
    assert (await limiter.hit(ann)).allowed
    assert (await limiter.hit(ann)).allowed
    refused = await limiter.hit(ann)
    assert (refused.allowed, refused.limit, refused.retry_after) == (False, "login_email", 15)
    assert (await limiter.hit([Limit("login_email", "bob", 2)])).allowed
    clock.now = 660.0
    assert (await limiter.hit(ann)).allowed


async def test_the_longest_wait_wins_and_zero_means_no_limit() -> None:
    clock = Clock(3600.0 + 30)
    limiter = MemoryRateLimiter(clock)
    both = [Limit("short", "x", 1, window_s=60), Limit("long", "x", 1, window_s=3600), Limit("off", "x", 0)]
    assert (await limiter.hit(both)).allowed
    refused = await limiter.hit(both)
    assert (refused.limit, refused.retry_after) == ("long", 3570)


async def test_revocations_last_as_long_as_asked() -> None:
    clock = Clock(100.0)
    revoked = MemoryRevocations(clock)
    await revoked.revoke("jti:a", 30)
    await revoked.revoke("jti:expired", 0)  # an expired token needs no entry
    assert await revoked.any_revoked(["jti:b", "jti:a"])
    assert not await revoked.any_revoked(["jti:expired"])
    clock.now = 130.0
    assert not await revoked.any_revoked(["jti:a"])


class FlakyRedis:
    def __init__(self) -> None:
        self.up = True
        self.calls = 0

    async def get(self, key: str) -> bytes:
        self.calls += 1
        if not self.up:
            raise ConnectionError("Connection refused")
        return b"value"


async def test_the_guard_answers_the_default_and_leaves_redis_alone_for_a_pause() -> None:
    clock, redis = Clock(0.0), FlakyRedis()
    guard = RedisGuard(redis, pause_s=1.0, clock=clock)

    async def get(r: Any) -> bytes:
        return await r.get("k")

    assert await guard.run("get", get, None) == b"value"
    redis.up = False
    assert await guard.run("get", get, None) is None
    calls = redis.calls
    for _ in range(5):  # during the pause nobody waits on a dead server
        assert await guard.run("get", get, None) is None
    assert redis.calls == calls and not guard.available
    redis.up = True
    clock.now = 1.0
    assert await guard.run("get", get, None) == b"value"
