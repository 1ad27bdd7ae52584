"""Cache Protocol and the in-process implementation (Redis comes with the server setup)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol


class Cache(Protocol):
    """Bytes by key. Keys are versioned by their writers, so entries are never stale."""

    async def get(self, key: str) -> bytes | None:
        """The value, or None."""
        ...

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        """Store a value."""
        ...


class MemoryCache:
    """An LRU in this process, bounded by entry count and by total bytes."""

    def __init__(self, max_entries: int = 1024, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size = 0
        self._data: OrderedDict[str, bytes] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        """The value, or None."""
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        """Store a value, evicting the least recently used past the bound."""
        if self.max_entries <= 0 or len(value) > self.max_bytes:
            return
        old = self._data.pop(key, None)
        if old is not None:
            self.size -= len(old)
        self._data[key] = value
        self.size += len(value)
        while len(self._data) > self.max_entries or self.size > self.max_bytes:
            _, evicted = self._data.popitem(last=False)
            self.size -= len(evicted)
