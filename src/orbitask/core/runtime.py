"""What a running process holds: settings, database, cache, crypto helpers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from orbitask.auth.security import AccessTokens, Passwords
from orbitask.config import Settings
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

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """Build everything a process needs from its settings."""
        return cls(
            settings=settings,
            db=Database(settings.writer_url, settings.reader_url),
            cache=MemoryCache(settings.snapshot_cache_entries, settings.snapshot_cache_mb * 1024 * 1024),
            passwords=Passwords(settings.argon2_time_cost, settings.argon2_memory_cost),
            tokens=AccessTokens(settings.signing_key, settings.access_token_ttl_seconds),
        )

    def uow(self, actor_id: uuid.UUID | None = None) -> UnitOfWork:
        """A new unit of work acting for `actor_id`."""
        return UnitOfWork(self.db, region=self.settings.region, actor_id=actor_id)
