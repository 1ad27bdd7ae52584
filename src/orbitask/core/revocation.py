"""Revoked access tokens: names (a token's `jti`, a sign-in's refresh family) that expire with the tokens;
and single-use tokens (WebSocket tickets), claimed here on first use.

In-process for the embedded default (one process: every request sees it); in Redis when
configured, so every process of the region refuses a revoked or used token. A Redis outage fails
open: tokens are then only bounded by their short lifetime, and a warning is logged.

In Redis a request's access token is checked in the round trip that counts its rate limits (`riding`):
the answers are kept with the request, and `any_revoked` reads them instead of asking Redis again. A
revocation made by the request itself is added to them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from orbitask.core import context
from orbitask.core.failopen import RedisGuard

PRUNE_EVERY = 256
ANSWERS = "revocations"  # the request state's entry for the answers read with its rate limits


class Revocations(Protocol):
    """A set of revoked names, each kept until the tokens it covers have expired anyway."""

    async def revoke(self, name: str, ttl_seconds: int) -> None:
        """Revoke `name` for `ttl_seconds`."""
        ...

    async def any_revoked(self, names: Sequence[str]) -> bool:
        """Whether any of `names` is revoked."""
        ...

    async def claim(self, name: str, ttl_seconds: int) -> bool:
        """Revoke `name` for `ttl_seconds` if it is not yet: True for the first caller only."""
        ...

    def riding(self, names: Sequence[str]) -> RevocationCheck | None:
        """The check of `names` to send along with the request's rate limits, or None when there is nothing to ask."""
        ...


class MemoryRevocations:
    """A dict of name -> expiry in this process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._until: dict[str, float] = {}
        self._added = 0

    async def revoke(self, name: str, ttl_seconds: int) -> None:
        """Remember `name` until the TTL has passed."""
        if ttl_seconds <= 0:
            return
        now = self.clock()
        self._until[name] = max(self._until.get(name, 0.0), now + ttl_seconds)
        self._added += 1
        if self._added % PRUNE_EVERY == 0:
            self._until = {n: t for n, t in self._until.items() if t > now}

    async def any_revoked(self, names: Sequence[str]) -> bool:
        """Whether one of `names` is revoked and not expired."""
        now = self.clock()
        return any(self._until.get(name, 0.0) > now for name in names)

    async def claim(self, name: str, ttl_seconds: int) -> bool:
        """Check and set without suspending (revoke never does): no other request of the process interleaves."""
        if self._until.get(name, 0.0) > self.clock():
            return False
        await self.revoke(name, max(ttl_seconds, 1))
        return True

    def riding(self, names: Sequence[str]) -> None:
        """Nothing to ask: the answers are in this process."""
        return None


class RedisRevocations:
    """Keys with a TTL under the region's prefix."""

    def __init__(self, guard: RedisGuard, prefix: str) -> None:
        self.guard = guard
        self.prefix = prefix

    async def revoke(self, name: str, ttl_seconds: int) -> None:
        """SET with expiry; lost (and logged) when Redis is unavailable."""
        if ttl_seconds <= 0:
            return
        answers = self._answers()
        if answers is not None:
            answers[name] = True
        await self.guard.run("revocation.set", lambda r: r.set(self.prefix + name, b"1", ex=ttl_seconds), None)

    async def any_revoked(self, names: Sequence[str]) -> bool:
        """From the answers read with the request's rate limits, else one EXISTS for all names; False when Redis
        is unavailable."""
        if not names:
            return False
        answers = self._answers()
        if answers is not None and all(name in answers for name in names):
            return any(answers[name] for name in names)
        keys = [self.prefix + name for name in names]
        return bool(await self.guard.run("revocation.get", lambda r: r.exists(*keys), 0))

    async def claim(self, name: str, ttl_seconds: int) -> bool:
        """SET NX with expiry: one process of the region wins; True (fail open) when Redis is unavailable."""
        key = self.prefix + name
        won = await self.guard.run("revocation.claim", lambda r: r.set(key, b"1", ex=max(ttl_seconds, 1), nx=True),
                                   True)
        return bool(won)

    def riding(self, names: Sequence[str]) -> RevocationCheck | None:
        """An EXISTS per name, for the rate limiter's pipeline."""
        return RevocationCheck(self, list(names)) if names else None

    def _answers(self) -> dict[str, bool] | None:
        """The answers the request's rate limits brought, if they were about these revocations (not another app's)."""
        state = context.current()
        held = state.extra.get(ANSWERS) if state is not None else None
        return held[1] if isinstance(held, tuple) and held[0] is self else None


class RevocationCheck:
    """Whether names are revoked, asked in another round trip (the rate limiter's, core/ratelimit.Rider)."""

    def __init__(self, revocations: RedisRevocations, names: list[str]) -> None:
        self.revocations = revocations
        self.names = names

    def queue(self, pipe: Any) -> None:
        """An EXISTS per name."""
        for name in self.names:
            pipe.exists(self.revocations.prefix + name)

    def take(self, replies: list[Any]) -> None:
        """Keep the answers with the request, for `any_revoked`."""
        state = context.current()
        if state is not None:
            state.extra[ANSWERS] = (self.revocations, {name: bool(n) for name, n in zip(self.names, replies, strict=True)})
