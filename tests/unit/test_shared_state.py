"""The in-process revocation list and the Redis guard: expiry, fail-open pauses (rate limits: test_ratelimit_window)."""

from __future__ import annotations

from typing import Any

from orbitask.core.failopen import RedisGuard
from orbitask.core.revocation import MemoryRevocations


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


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
