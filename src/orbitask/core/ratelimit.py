"""Rate limits: moving windows, in-process (embedded default) or in Redis through the `limits` library (a region's).

A limit allows at most `per_window` requests in ANY span of `window_s` seconds: each allowed request's
time is logged, and a request is refused while the `per_window`-th latest of them is younger than the
window (the library's moving window). Fixed windows aligned to the clock let a client spend its allowance
at 0:59 and again at 1:00; a moving window does not. The library's sliding-window counter mostly would
not either, but it guesses the last window's requests were spread evenly (a burst at 0:59 is half
forgotten by 1:30), and in Redis it measures time by key TTLs on the server, so no test can move its clock;
the moving window is exact and takes every time from the process, in memory and in Redis alike. It
costs a log of up to `per_window` timestamps per key (3000 for the default per-address API limit), dropped
once the window passes. Refused requests are not logged: a client that keeps knocking is let in as soon
as its oldest request leaves the window.

Past a limit the request answers 429 `rate-limited` with `Retry-After`: the whole seconds until that
oldest request has left the window. In Redis each log is a list under the region's prefix, updated by
the library's Lua script on the runtime's connection pool; when Redis fails the request is allowed (fail
open) and a warning is logged (`RedisGuard`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
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
    """At most `per_window` requests by `who` in any `window_s` seconds (0: no limit)."""

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


def _item(limit: Limit) -> RateLimitItem:
    # the limit's name leads its key: `<name>/<who>/<per_window>/<window_s>/second`
    return RateLimitItemPerSecond(limit.per_window, limit.window_s, namespace=limit.name)


def _refused(waits: list[tuple[int, str]]) -> Verdict:
    """The verdict for a request some limits refused: the longest of their (wait, name), counted in the metric."""
    if not waits:
        return ALLOWED
    wait, name = max(waits, key=lambda w: w[0])
    RATE_LIMITED.labels(name).inc()
    return Verdict(False, name, wait)


def _active(limits: Sequence[Limit]) -> list[Limit]:
    return [limit for limit in limits if limit.per_window > 0]


class MemoryRateLimiter:
    """Moving windows in this process: per limit and `who`, the times of the requests let in, oldest first.

    The same rule as the library's moving window (tests run both against one set of expectations), but not
    its memory storage: its asyncio flavour re-sweeps every key, a thread hop per key, after each request,
    and its threaded flavour never forgets a key; with 4,000 clients either made a hit 10 times dearer.
    Keys whose window has passed are dropped every `PRUNE_EVERY` hits.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._logs: dict[tuple[str, str, int], deque[float]] = {}
        self._hits = 0

    async def hit(self, limits: Sequence[Limit]) -> Verdict:
        """Count and judge, all in memory."""
        limits = _active(limits)
        if not limits:
            return ALLOWED
        now = self.clock()
        waits = []
        for limit in limits:
            log = self._logs.setdefault((limit.name, limit.who, limit.window_s), deque())
            while log and log[0] < now - limit.window_s:
                log.popleft()
            if len(log) < limit.per_window:
                log.append(now)  # counts against every limit with room, also when another refuses it
            else:  # let in once the oldest is strictly older than the window: whole seconds past it
                waits.append((max(1, math.floor(log[0] + limit.window_s - now) + 1), limit.name))
        self._hits += 1
        if self._hits % PRUNE_EVERY == 0:
            self._prune(now)
        return _refused(waits)

    def _prune(self, now: float) -> None:
        for key, log in list(self._logs.items()):
            if not log or log[-1] < now - key[2]:
                del self._logs[key]


class RedisRateLimiter:
    """Windows in Redis, shared by every process of the region, on the runtime's connection pool: the `limits`
    library's moving window (MemoryRateLimiter says why not its memory storage).

    `clock` must tell the time the library reads (`time.time`): the waits are counted from it. Tests that
    move time replace both (tests/unit/test_ratelimit_window.py).
    """

    def __init__(self, guard: RedisGuard, prefix: str, clock: Callable[[], float] = time.time) -> None:
        storage = RedisStorage(
            "async+redis://", implementation="redispy",
            key_prefix=prefix.removesuffix(":"),  # the library puts the ':' between prefix and key
            connection_pool=guard.redis.connection_pool,
        )
        self.windows = MovingWindowRateLimiter(storage)
        self.guard = guard
        self.clock = clock

    async def hit(self, limits: Sequence[Limit]) -> Verdict:
        """Count and judge in Redis (a round trip per limit, side by side); allowed when Redis is unavailable."""
        limits = _active(limits)
        if not limits:
            return ALLOWED

        async def judge(_redis: object) -> Verdict:
            return await self._judge(limits)

        return await self.guard.run("ratelimit", judge, ALLOWED)

    async def _judge(self, limits: Sequence[Limit]) -> Verdict:
        """Log the request in every window with room; the longest wait of those without, or ALLOWED."""
        keyed = [(_item(limit), limit.who, limit.name) for limit in limits]
        # a request counts against every limit, also those with room when another refuses it
        granted = await asyncio.gather(*(self.windows.hit(item, who) for item, who, _ in keyed))  # round trips
        refused = [key for key, ok in zip(keyed, granted, strict=True) if not ok]
        if not refused:
            return ALLOWED
        stats = await asyncio.gather(*(self.windows.get_window_stats(item, who) for item, who, _ in refused))
        now = self.clock()
        # let in only once the oldest logged request is strictly older than the window: whole seconds past it
        return _refused([(max(1, math.floor(s.reset_time - now) + 1), name)
                         for s, (_, _, name) in zip(stats, refused, strict=True)])


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
