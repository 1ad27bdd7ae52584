"""What a running process holds: settings, database, cache, bus, limits, crypto helpers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orbitask.auth.security import AccessTokens, Passwords
from orbitask.config import Settings
from orbitask.core.bus import Bus, InProcessBus, RedisBus
from orbitask.core.cache import Cache, Lru, MemoryCache, RedisCache, TieredCache
from orbitask.core.db import Database
from orbitask.core.failopen import RedisGuard
from orbitask.core.presence import MemoryPresence, Presence, RedisPresence
from orbitask.core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from orbitask.core.revocation import MemoryRevocations, RedisRevocations, Revocations
from orbitask.core.storage import Storages
from orbitask.core.uow import UnitOfWork

# Redis calls are retried once (a pooled connection may be stale after a Redis restart), quickly:
# callers fail open, so waiting out redis-py's default ten retries would only slow requests down.
REDIS_RETRIES = 1


@dataclass
class Runtime:
    """Shared, long-lived objects of one API process."""

    settings: Settings
    db: Database
    cache: Cache
    passwords: Passwords
    tokens: AccessTokens
    bus: Bus
    redis: Any = None
    limiter: RateLimiter = field(default_factory=MemoryRateLimiter)
    revocations: Revocations = field(default_factory=MemoryRevocations)
    presence: Presence = field(default_factory=MemoryPresence)
    storages: Storages | None = None
    # this process's own objects, never shared: each board's latest snapshot in pieces, which its next
    # version is patched from (bounded as the local cache is)
    objects: Lru = field(default_factory=Lru)
    # whether this node is in the writer region: jobs with side effects run only there
    is_writer: Callable[[], bool] = lambda: True

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """Build everything a process needs from its settings: in-process, or Redis-backed when configured."""
        bounds = settings.snapshot_cache_entries, settings.snapshot_cache_mb * 1024 * 1024
        local = MemoryCache(*bounds)
        common: dict[str, Any] = dict(
            settings=settings,
            objects=Lru(*bounds),
            db=Database.from_settings(settings, replica=settings.multi_region or None),
            passwords=Passwords(settings.argon2_time_cost, settings.argon2_memory_cost),
            tokens=AccessTokens(settings.signing_key, settings.access_token_ttl_seconds, settings.previous_signing_keys),
            storages=Storages.from_settings(settings),
        )
        if not settings.redis_url:
            return cls(**common, cache=local, bus=InProcessBus(),
                       presence=MemoryPresence(settings.presence_ttl_seconds))

        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        redis = aioredis.Redis.from_url(
            settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=10,
            retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), REDIS_RETRIES),
        )
        guard = RedisGuard(redis)
        prefix = f"orbitask:{settings.region}:"
        shared = RedisCache(guard, prefix + "cache:", settings.snapshot_cache_ttl_seconds)
        return cls(
            **common,
            cache=TieredCache(local, shared) if settings.snapshot_cache_entries > 0 else shared,
            bus=RedisBus(redis),
            redis=redis,
            limiter=RedisRateLimiter(guard, prefix + "rl:"),
            revocations=RedisRevocations(guard, prefix + "revoked:"),
            presence=RedisPresence(guard, prefix + "presence:", settings.presence_ttl_seconds),
        )

    @property
    def events_channel(self) -> str:
        """The bus channel the region's relay publishes events on."""
        return f"orbitask:{self.settings.region}:events"

    @property
    def presence_channel(self) -> str:
        """The bus channel that announces presence changes (a board id per message)."""
        return f"orbitask:{self.settings.region}:presence"

    async def close(self) -> None:
        """Release connections."""
        await self.db.dispose()
        if self.redis is not None:
            await self.redis.aclose()

    @property
    def files(self) -> Storages:
        """Attachment storages (always built by `from_settings`)."""
        assert self.storages is not None
        return self.storages

    def uow(self, actor_id: uuid.UUID | None = None) -> UnitOfWork:
        """A new unit of work acting for `actor_id`."""
        return UnitOfWork(self.db, region=self.settings.region, actor_id=actor_id)
