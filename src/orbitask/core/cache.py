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
    """A bounded LRU in this process."""

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, bytes] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        """The value, or None."""
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        """Store a value, evicting the least recently used past the bound."""
        if self.max_entries <= 0:
            return
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)
