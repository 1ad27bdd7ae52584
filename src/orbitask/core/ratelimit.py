"""Rate limits: fixed-window counters, in-process (embedded default) or in Redis (shared by a region).

A window is aligned to the wall clock (`floor(now / window)`), so every process of a region
counts into the same Redis key. Past a limit the request answers 429 `rate-limited` with
`Retry-After`: the seconds until that window ends. When Redis fails the request is allowed
(fail open) and a warning is logged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from orbitask.core.errors import RateLimited, render_problem
from orbitask.core.failopen import RedisGuard
from orbitask.core.observability import RATE_LIMITED

WINDOW_S = 60
PRUNE_EVERY = 1024

# what each limit counts, for the problem's detail
DESCRIPTIONS = {
    "login_ip": "sign-in attempts from your address",
    "login_email": "sign-in attempts for this e-mail address",
    "signup_ip": "sign-ups from your address",
    "api_token": "requests with these credentials",
    "api_ip": "requests from your address",
}


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `per_window` requests by `who` per window of `window_s` seconds (0: no limit)."""

    name: str
    who: str
    per_window: int
    window_s: int = WINDOW_S


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a request may go on; when not, which limit said no and for how long."""

    allowed: bool = True
    limit: str | None = None
    retry_after: int = 0


ALLOWED = Verdict()


class RateLimiter(Protocol):
    """Counts requests against limits."""

    clock: Callable[[], float]

    async def hit(self, limits: Sequence[Limit]) -> Verdict:
        """Count one request against every limit; refused if any is exceeded."""
        ...


def _verdict(limits: Sequence[Limit], counts: Sequence[int], now: float) -> Verdict:
    """The most restrictive exceeded limit (the longest wait), or ALLOWED."""
    worst = ALLOWED
    for limit, count in zip(limits, counts, strict=True):
        if count > limit.per_window:
            reset = (math.floor(now / limit.window_s) + 1) * limit.window_s
            wait = max(1, math.ceil(reset - now))
            if wait > worst.retry_after:
                worst = Verdict(False, limit.name, wait)
    if not worst.allowed:
        RATE_LIMITED.labels(worst.limit).inc()
    return worst


def _active(limits: Sequence[Limit]) -> list[Limit]:
    return [limit for limit in limits if limit.per_window > 0]


class MemoryRateLimiter:
    """Counters in this process; `clock` can be replaced (tests move time forward)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._counts: dict[tuple[str, str, int], tuple[int, int]] = {}  # (name, who, window) -> (bucket, n)
        self._hits = 0

    async def hit(self, limits: Sequence[Limit]) -> Verdict:
        """Count and judge, all in memory."""
        limits = _active(limits)
        if not limits:
            return ALLOWED
        now = self.clock()
        counts = []
        for limit in limits:
            key = (limit.name, limit.who, limit.window_s)
            bucket = math.floor(now / limit.window_s)
            seen_bucket, n = self._counts.get(key, (bucket, 0))
            n = n + 1 if seen_bucket == bucket else 1
            self._counts[key] = (bucket, n)
            counts.append(n)
        self._hits += 1
        if self._hits % PRUNE_EVERY == 0:
            self._prune(now)
        return _verdict(limits, counts, now)

    def _prune(self, now: float) -> None:
        for key, (bucket, _) in list(self._counts.items()):
            if bucket < math.floor(now / key[2]):
                del self._counts[key]


class RedisRateLimiter:
    """Counters in Redis (INCR + EXPIRE per window), shared by every process of the region."""

    def __init__(self, guard: RedisGuard, prefix: str, clock: Callable[[], float] = time.time) -> None:
        self.guard = guard
        self.prefix = prefix
        self.clock = clock

    async def hit(self, limits: Sequence[Limit]) -> Verdict:
        """Count in one round trip; allowed when Redis is unavailable."""
        limits = _active(limits)
        if not limits:
            return ALLOWED
        now = self.clock()

        async def count(redis: object) -> list[int]:
            pipe = redis.pipeline(transaction=False)  # type: ignore[attr-defined]
            for limit in limits:
                key = f"{self.prefix}{limit.name}:{limit.who}:{math.floor(now / limit.window_s)}"
                pipe.incr(key)
                pipe.expire(key, limit.window_s + 1)
            results = await pipe.execute()
            return [int(n) for n in results[::2]]

        counts = await self.guard.run("ratelimit", count, None)
        if counts is None:
            return ALLOWED
        return _verdict(limits, counts, now)


async def enforce(limiter: RateLimiter, limits: Sequence[Limit]) -> None:
    """Count a request; raise RateLimited (429) past a limit."""
    verdict = await limiter.hit(limits)
    if not verdict.allowed:
        raise refusal(verdict)


def refusal(verdict: Verdict) -> RateLimited:
    """The 429 problem for a refused request."""
    what = DESCRIPTIONS.get(verdict.limit or "", "requests")
    return RateLimited(
        f"Too many {what}; retry in {verdict.retry_after} s.", retry_after=verdict.retry_after, limit=verdict.limit,
    )


def client_ip(scope: Scope) -> str:
    """The peer address (behind a proxy, uvicorn's --proxy-headers puts the client's address here)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


Identify = Callable[[dict[str, str], str], str]


class ApiRateLimitMiddleware:
    """Per-credentials and per-address limits on every HTTP request except health checks and metrics.

    Runs before the idempotency lookup and the app, so a refused request costs no database work.
    """

    def __init__(
        self, app: ASGIApp, *, limiter: RateLimiter, identify: Identify, per_credentials: int, per_ip: int,
        exempt: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.identify = identify  # headers, client ip -> "u:<user>", "t:<api token digest>" or "ip:<address>"
        self.per_credentials = per_credentials
        self.per_ip = per_ip
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        ip = client_ip(scope)
        limits = [Limit("api_ip", ip, self.per_ip)]
        if self.per_credentials > 0:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                       if k in (b"authorization", b"cookie")}
            who = self.identify(headers, ip)
            if not who.startswith("ip:"):
                limits.append(Limit("api_token", who, self.per_credentials))
        verdict = await self.limiter.hit(limits)
        if not verdict.allowed:
            await render_problem(refusal(verdict))(scope, receive, send)
            return
        await self.app(scope, receive, send)
