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
the library's Lua script on the runtime's connection pool: every limit of a request, and the revocation
check of its credential, in one pipelined round trip (ApiRateLimitMiddleware). When Redis fails the
request is allowed (fail open) and a warning is logged (`RedisGuard`).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage.redis.bridge import RedisBridge
from redis.exceptions import NoScriptError
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


class Rider(Protocol):
    """Reads of a request that ride in the rate limiter's round trip to Redis (its revocation check)."""

    def queue(self, pipe: Any) -> None:
        """Add its commands to the pipeline."""
        ...

    def take(self, replies: list[Any]) -> None:
        """Its commands' replies, in order (never called when Redis failed)."""
        ...


class RateLimiter(Protocol):
    """Counts requests against limits."""

    clock: Callable[[], float]

    async def hit(self, limits: Sequence[Limit], *, along: Rider | None = None) -> Verdict:
        """Count one request against every limit (and run `along`'s reads with it); refused if any is exceeded."""
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


def _wait(oldest: float, window_s: int, now: float) -> int:
    """Seconds until a request is let in: once `oldest` is strictly older than the window, in whole seconds past it."""
    return max(1, math.floor(oldest + window_s - now) + 1)


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

    async def hit(self, limits: Sequence[Limit], *, along: Rider | None = None) -> Verdict:
        """Count and judge, all in memory (`along` reads Redis: in-process state has no such rider)."""
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
            else:
                waits.append((_wait(log[0], limit.window_s, now), limit.name))
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
    library's moving window (MemoryRateLimiter says why not its memory storage), in one round trip.

    Each limit is the library's own Lua script (called by its SHA, loaded again after a Redis restart) on the
    library's key, followed by an LINDEX of the entry the script compared: when the script refuses, that is
    the request to outlive, so the wait needs no second round trip (the library's `get_window_stats` would
    be one). `hit(..., along=...)` adds other reads of the request to the same pipeline (its revocation check).
    Times come from `clock` alone, in memory and in Redis alike: tests that move time replace it.
    """

    def __init__(self, guard: RedisGuard, prefix: str, clock: Callable[[], float] = time.time) -> None:
        self.guard = guard
        self.prefix = prefix
        self.clock = clock
        self.script = guard.redis.register_script(RedisBridge.SCRIPT_ACQUIRE_MOVING_WINDOW)  # its SHA, its text

    async def hit(self, limits: Sequence[Limit], *, along: Rider | None = None) -> Verdict:
        """Count and judge in Redis, `along`'s reads in the same round trip; allowed when Redis is unavailable."""
        limits = _active(limits)
        if not limits and along is None:
            return ALLOWED

        async def judge(redis: Any) -> Verdict:
            return await self._judge(redis, limits, along)

        return await self.guard.run("ratelimit", judge, ALLOWED)

    async def _judge(self, redis: Any, limits: Sequence[Limit], along: Rider | None) -> Verdict:
        """Log the request in every window with room; the longest wait of those without, or ALLOWED."""
        now = self.clock()
        replies = await self._send(redis, limits, along, now)
        if replies and any(isinstance(r, NoScriptError) for r in replies[:2 * len(limits)]):
            # Redis restarted or was flushed since the script was loaded: nothing was logged, send again
            await redis.script_load(self.script.script)
            replies = await self._send(redis, limits, along, now)
        failed = next((r for r in replies if isinstance(r, Exception)), None)
        if failed is not None:
            raise failed
        windows = replies[:2 * len(limits)]
        if along is not None:
            along.take(replies[len(windows):])
        # a request counts against every limit, also those with room when another refuses it; it waits for
        # the entry the script compared (gone already if the window's key expired in between: the least wait)
        return _refused([(_wait(float(oldest or now - limit.window_s), limit.window_s, now), limit.name)
                         for limit, granted, oldest in zip(limits, windows[0::2], windows[1::2], strict=True)
                         if not granted])

    async def _send(self, redis: Any, limits: Sequence[Limit], along: Rider | None, now: float) -> list[Any]:
        """One pipeline (no MULTI): per limit the script and its LINDEX, then `along`'s commands; the replies."""
        pipe = redis.pipeline(transaction=False)
        for limit in limits:
            # the key the library names: `<prefix><name>/<who>/<per_window>/<window_s>/second`
            key = self.prefix + _item(limit).key_for(limit.who)
            pipe.evalsha(self.script.sha, 1, key, now, limit.per_window, limit.window_s, 1)
            pipe.lindex(key, limit.per_window - 1)
        if along is not None:
            along.queue(pipe)
        return await pipe.execute(raise_on_error=False)  # type: ignore[no-any-return]


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


class Identify(Protocol):
    """Who a request is, from its credential headers and peer address (a verified signature, no database)."""

    def __call__(self, headers: dict[str, str], client_ip: str) -> str:
        """`u:<user>`, `t:<api token digest>` or `ip:<address>`."""
        ...

    def credential(self, headers: dict[str, str], client_ip: str) -> tuple[str, Rider | None]:
        """Who, and the revocation check of the request's access token, to ride with its limits (or None)."""
        ...


class ApiRateLimitMiddleware:
    """Per-credentials and per-address limits on every HTTP request except health checks and metrics.

    Runs before the idempotency lookup and the app, so a refused request costs no database work. The
    revocation check of the request's access token rides in the same round trip to Redis, and the route's
    authentication reads its answer instead of asking Redis again (core/revocation.py).
    """

    def __init__(
        self, app: ASGIApp, *, limiter: RateLimiter, identify: Identify, per_credentials: int, per_ip: int,
        exempt: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.identify = identify
        self.per_credentials = per_credentials
        self.per_ip = per_ip
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        ip = client_ip(scope)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                   if k in (b"authorization", b"cookie")}
        who, revocation_check = self.identify.credential(headers, ip)
        limits = [Limit("api_ip", ip, self.per_ip)]
        if self.per_credentials > 0 and not who.startswith("ip:"):
            limits.append(Limit("api_token", who, self.per_credentials))
        verdict = await self.limiter.hit(limits, along=revocation_check)
        if not verdict.allowed:
            await render_problem(refusal(verdict))(scope, receive, send)
            return
        await self.app(scope, receive, send)
