"""What a running process holds: settings, database, cache, crypto helpers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from orbitask.auth.security import AccessTokens, Passwords
from orbitask.config import Settings
from orbitask.core.bus import Bus, InProcessBus, RedisBus
from orbitask.core.cache import Cache, MemoryCache
from orbitask.core.db import Database
from orbitask.core.uow import UnitOfWork


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

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """Build everything a process needs from its settings."""
        redis = None
        if settings.redis_url:
            import redis.asyncio as aioredis

            redis = aioredis.Redis.from_url(
                settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=10,
            )
        return cls(
            settings=settings,
            bus=RedisBus(redis) if redis is not None else InProcessBus(),
            redis=redis,
            db=Database(settings.writer_url, settings.reader_url),
            cache=MemoryCache(settings.snapshot_cache_entries, settings.snapshot_cache_mb * 1024 * 1024),
            passwords=Passwords(settings.argon2_time_cost, settings.argon2_memory_cost),
            tokens=AccessTokens(settings.signing_key, settings.access_token_ttl_seconds),
        )

    @property
    def events_channel(self) -> str:
        """The bus channel the region's relay publishes events on."""
        return f"orbitask:{self.settings.region}:events"

    async def close(self) -> None:
        """Release connections."""
        await self.db.dispose()
        if self.redis is not None:
            await self.redis.aclose()

    def uow(self, actor_id: uuid.UUID | None = None) -> UnitOfWork:
        """A new unit of work acting for `actor_id`."""
        return UnitOfWork(self.db, region=self.settings.region, actor_id=actor_id)
