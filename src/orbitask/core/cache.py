"""Cache Protocol: an in-process LRU (embedded default) and Redis behind it (servers)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Protocol

from orbitask.core.failopen import RedisGuard

DEFAULT_TTL_S = 3600


class Cache(Protocol):
    """Bytes by key. Keys are versioned by their writers, so entries are never stale."""

    async def get(self, key: str) -> bytes | None:
        """The value, or None."""
        ...

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        """Store a value."""
        ...


class Lru:
    """Values in this process, the least recently used evicted past an entry count or a total size."""

    def __init__(self, max_entries: int = 1024, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size = 0
        self._data: OrderedDict[str, tuple[Any, int]] = OrderedDict()

    def get(self, key: str) -> Any | None:
        """The value, or None."""
        entry = self._data.get(key)
        if entry is None:
            return None
        self._data.move_to_end(key)
        return entry[0]

    def put(self, key: str, value: Any, size: int) -> None:
        """Store a value that takes about `size` bytes, evicting the least recently used past the bounds."""
        if self.max_entries <= 0 or size > self.max_bytes:
            return
        old = self._data.pop(key, None)
        if old is not None:
            self.size -= old[1]
        self._data[key] = (value, size)
        self.size += size
        while len(self._data) > self.max_entries or self.size > self.max_bytes:
            _, (_, evicted) = self._data.popitem(last=False)
            self.size -= evicted


class MemoryCache:
    """Bytes in an LRU of this process, bounded by entry count and by total bytes."""

    def __init__(self, max_entries: int = 1024, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.lru = Lru(max_entries, max_bytes)

    @property
    def size(self) -> int:
        """Bytes held."""
        return self.lru.size

    async def get(self, key: str) -> bytes | None:
        """The value, or None."""
        return self.lru.get(key)  # type: ignore[no-any-return]

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        """Store a value, evicting the least recently used past the bound."""
        self.lru.put(key, value, len(value))


class RedisCache:
    """Bytes in Redis under a region's prefix, with a TTL; a Redis error is a miss or a no-op."""

    def __init__(self, guard: RedisGuard, prefix: str, ttl_seconds: int = DEFAULT_TTL_S) -> None:
        self.guard = guard
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds

    async def get(self, key: str) -> bytes | None:
        """The value, or None (also when Redis is unavailable)."""
        return await self.guard.run("cache.get", lambda r: r.get(self.prefix + key), None)

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        """Store with a TTL (the default when none is given); lost silently when Redis is unavailable."""
        ttl = ttl_seconds or self.ttl_seconds
        await self.guard.run("cache.set", lambda r: r.set(self.prefix + key, value, ex=ttl), None)


class TieredCache:
    """This process's LRU in front of a shared cache: hits stay local, misses fill from the shared one.

    Safe without invalidation because keys are versioned by their writers.
    """

    def __init__(self, local: Cache, shared: Cache) -> None:
        self.local = local
        self.shared = shared

    async def get(self, key: str) -> bytes | None:
        """Local first, then shared (remembered locally)."""
        value = await self.local.get(key)
        if value is None:
            value = await self.shared.get(key)
            if value is not None:
                await self.local.set(key, value)
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        """Store in both."""
        await self.local.set(key, value, ttl_seconds)
        await self.shared.set(key, value, ttl_seconds)
