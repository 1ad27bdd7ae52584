"""Calls to Redis for features that must never fail a request: cache, rate limits, revocations, presence.

Every Redis error is logged as a warning and answered with a default (a cache miss, "allowed",
"not revoked", "nobody here"). After a failure Redis is left alone for a short pause, so an
outage costs one failed call per pause instead of a timeout on every request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog

from orbitask.core.observability import REDIS_FAILURES

log = structlog.get_logger("orbitask.redis")

T = TypeVar("T")
PAUSE_S = 1.0


class RedisGuard:
    """Runs Redis calls fail-open; shared by every Redis-backed helper of a process."""

    def __init__(self, redis: Any, *, pause_s: float = PAUSE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.redis = redis  # redis.asyncio.Redis
        self.pause_s = pause_s
        self.clock = clock
        self._down_until = 0.0
        self._failing = False

    @property
    def available(self) -> bool:
        """False during the pause after a failure."""
        return self.clock() >= self._down_until

    async def run(self, what: str, call: Callable[[Any], Awaitable[T]], default: T) -> T:
        """`await call(redis)`, or `default` when Redis fails or is paused after a failure."""
        if not self.available:
            return default
        try:
            result = await call(self.redis)
        except Exception as exc:  # any Redis or network error: degrade, never raise
            REDIS_FAILURES.labels(what).inc()
            self._down_until = self.clock() + self.pause_s
            self._failing = True
            log.warning("redis_unavailable", op=what, error=type(exc).__name__, detail=str(exc)[:160],
                        retry_in_s=self.pause_s)
            return default
        if self._failing:
            self._failing = False
            log.warning("redis_recovered", op=what)
        return result
