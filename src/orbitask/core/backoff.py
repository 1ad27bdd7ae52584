"""Retrying a failing dependency from a background loop: a bounded, jittered backoff, and one log line per outage.

Background loops poll the database or Redis every few milliseconds to every few seconds. While
the dependency is away (a stopped server, a wrong password) they must not retry at that pace,
nor log every attempt: the relay's 20 ms poll once logged ~45 warnings a second per process.
After a failure a loop waits `Backoff.next()`: exponential between `min_s` and `max_s`, with
jitter so that the processes that lost the same server do not retry in step, and back to the
loop's healthy pacing at the first success. `Outage` logs the change of state, not the attempts:
`dependency_lost` (warning: which loop, what it lost, the error's type and first line, redacted)
once, `dependency_restored` (info, with `down_seconds` and `attempts`) when an attempt succeeds
again, and each failed retry in between at debug (`dependency_retry`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from orbitask.core.observability import redact

DETAIL_CHARS = 200
_MAX_EXPONENT = 64  # the ceiling reached max_s long before; keeps factor ** n finite over a long outage


class Backoff:
    """Exponential backoff with jitter, reset on success.

    The n-th consecutive failure waits a random time in [max(min_s, c * (1 - jitter)), c], where
    c = min(max_s, min_s * factor ** n): every wait lies in [min_s, max_s]; jitter=1 is full jitter.
    """

    def __init__(self, *, min_s: float, max_s: float, factor: float = 2.0, jitter: float = 0.5,
                 rand: Callable[[], float] = random.random) -> None:
        if not 0 < min_s <= max_s or factor < 1 or not 0 <= jitter <= 1:
            raise ValueError(f"bad backoff: min_s={min_s} max_s={max_s} factor={factor} jitter={jitter}")
        self.min_s = min_s
        self.max_s = max_s
        self.factor = factor
        self.jitter = jitter
        self.rand = rand
        self.failures = 0

    def bounds(self, n: int) -> tuple[float, float]:
        """The range the wait after the n-th consecutive failure is drawn from."""
        ceiling = min(self.max_s, self.min_s * self.factor ** min(n, _MAX_EXPONENT))
        return max(self.min_s, ceiling * (1 - self.jitter)), ceiling

    def next(self) -> float:
        """Count a failure; the seconds to wait before the next attempt."""
        self.failures += 1
        low, high = self.bounds(self.failures)
        return low + (high - low) * self.rand()

    def reset(self) -> None:
        """The dependency answered: the next failure starts the schedule again."""
        self.failures = 0


def dependency_of(error: BaseException | str) -> str:
    """What a failure says was lost: the database, Redis, or (not recognised) a dependency."""
    if isinstance(error, DBAPIError | PoolTimeout):
        return "database"
    if type(error).__module__.startswith("redis."):  # by name: the embedded default never imports redis
        return "redis"
    return "dependency"


def _detail(error: BaseException | str) -> str:
    # redact the whole text before cutting it: a cut DSN may no longer look like one
    lines = redact(str(error)).strip().splitlines()  # SQLAlchemy appends the statement and a link
    return lines[0][:DETAIL_CHARS] if lines else ""


class Outage:
    """One background loop's view of its dependency, as the logs tell it: lost once, restored once.

    `failed()` after each failed attempt returns how long to wait (from `backoff`); `ok()` after an
    attempt that reached the dependency. Both are cheap while nothing changes (a healthy loop calls
    `ok()` on every pass).
    """

    def __init__(self, logger: Any, *, loop: str, backoff: Backoff, what: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log = logger
        self.loop = loop
        self.what = what  # None: named after each outage's first error (see dependency_of)
        self.backoff = backoff
        self.clock = clock
        self.since: float | None = None  # when the current outage began (None: up)
        self.lost: str | None = None  # what the current outage lost
        self.attempts = 0  # failed attempts in the current outage

    @property
    def down(self) -> bool:
        """Whether the last attempt failed."""
        return self.since is not None

    def failed(self, error: BaseException | str, *, what: str | None = None) -> float:
        """Record a failed attempt (a warning if it is the first of an outage); the seconds to wait."""
        wait = self.backoff.next()
        self.attempts += 1
        if self.since is None:
            self.since = self.clock()
            self.lost = what or self.what or dependency_of(error)
            self.log.warning("dependency_lost", loop=self.loop, what=self.lost, error=_type(error),
                             detail=_detail(error), retry_in=round(wait, 3))
        else:
            self.log.debug("dependency_retry", loop=self.loop, what=self.lost, attempt=self.attempts,
                           error=_type(error), retry_in=round(wait, 3))
        return wait

    def ok(self) -> None:
        """Record an attempt that reached the dependency: an info line if it had been lost."""
        if self.since is None:
            return
        self.log.info("dependency_restored", loop=self.loop, what=self.lost,
                      down_seconds=round(self.clock() - self.since, 3), attempts=self.attempts)
        self.since = self.lost = None
        self.attempts = 0
        self.backoff.reset()


def _type(error: BaseException | str) -> str:
    return type(error).__name__ if isinstance(error, BaseException) else str(error)
