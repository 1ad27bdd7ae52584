"""Who is viewing a board: in-process (embedded default) or a Redis sorted set per board (servers).

A member is one socket (`<user id>/<connection id>`), so a user with two tabs stays present
until both leave; readers see user ids. Every entry expires after the TTL unless its socket
refreshes it, so a crashed process's sockets disappear on their own. When Redis fails the
board looks empty and nothing is raised.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from orbitask.core.failopen import RedisGuard

DEFAULT_TTL_S = 60


def member_of(user_id: uuid.UUID, connection_id: str) -> str:
    """The presence member for one socket of a user."""
    return f"{user_id}/{connection_id}"


def users_of(members: Iterable[str | bytes]) -> list[str]:
    """Distinct user ids of the members, sorted."""
    out = set()
    for m in members:
        text = m.decode() if isinstance(m, bytes) else m
        out.add(text.split("/", 1)[0])
    return sorted(out)


class Presence(Protocol):
    """Board -> members with an expiry."""

    async def join(self, board_id: uuid.UUID, member: str) -> list[str]:
        """Add or refresh `member`; the board's users afterwards."""
        ...

    async def leave(self, board_id: uuid.UUID, member: str) -> None:
        """Remove `member`."""
        ...

    async def touch(self, board_ids: Sequence[uuid.UUID], member: str) -> list[uuid.UUID]:
        """Refresh `member` on these boards; the boards whose users changed (expired members dropped)."""
        ...

    async def users(self, board_id: uuid.UUID) -> list[str]:
        """User ids present on the board."""
        ...


class MemoryPresence:
    """Dicts in this process; `clock` can be replaced in tests."""

    def __init__(self, ttl_seconds: int = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self.clock = clock
        self._boards: dict[uuid.UUID, dict[str, float]] = {}

    def _live(self, board_id: uuid.UUID) -> tuple[dict[str, float], bool]:
        """The board's members after dropping expired ones, and whether any were dropped."""
        members = self._boards.setdefault(board_id, {})
        now = self.clock()
        expired = [m for m, until in members.items() if until <= now]
        for m in expired:
            del members[m]
        return members, bool(expired)

    async def join(self, board_id: uuid.UUID, member: str) -> list[str]:
        """Add or refresh."""
        members, _ = self._live(board_id)
        members[member] = self.clock() + self.ttl
        return users_of(members)

    async def leave(self, board_id: uuid.UUID, member: str) -> None:
        """Remove; forget the board when nobody is left."""
        members = self._boards.get(board_id)
        if members is not None:
            members.pop(member, None)
            if not members:
                del self._boards[board_id]

    async def touch(self, board_ids: Sequence[uuid.UUID], member: str) -> list[uuid.UUID]:
        """Refresh and report boards that lost expired members."""
        changed = []
        for board_id in board_ids:
            members, dropped = self._live(board_id)
            if dropped or member not in members:
                changed.append(board_id)
            members[member] = self.clock() + self.ttl
        return changed

    async def users(self, board_id: uuid.UUID) -> list[str]:
        """Users with a live member."""
        if board_id not in self._boards:
            return []
        members, _ = self._live(board_id)
        return users_of(members)


class RedisPresence:
    """A sorted set per board (member -> expiry time) that itself expires when nobody refreshes it."""

    def __init__(self, guard: RedisGuard, prefix: str, ttl_seconds: int = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.guard = guard
        self.prefix = prefix
        self.ttl = ttl_seconds
        self.clock = clock

    def _key(self, board_id: uuid.UUID) -> str:
        return f"{self.prefix}{board_id}"

    async def join(self, board_id: uuid.UUID, member: str) -> list[str]:
        """Prune, add, extend the key, read: one round trip."""
        now, key = self.clock(), self._key(board_id)

        async def call(redis: object) -> list[str]:
            pipe = redis.pipeline(transaction=True)  # type: ignore[attr-defined]
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {member: now + self.ttl})
            pipe.expire(key, self.ttl)
            pipe.zrange(key, 0, -1)
            return users_of((await pipe.execute())[-1])

        return await self.guard.run("presence.join", call, [])

    async def leave(self, board_id: uuid.UUID, member: str) -> None:
        """ZREM."""
        await self.guard.run("presence.leave", lambda r: r.zrem(self._key(board_id), member), None)

    async def touch(self, board_ids: Sequence[uuid.UUID], member: str) -> list[uuid.UUID]:
        """Refresh on every board in one round trip; report boards that lost or regained members."""
        if not board_ids:
            return []
        now = self.clock()

        async def call(redis: object) -> list[uuid.UUID]:
            pipe = redis.pipeline(transaction=True)  # type: ignore[attr-defined]
            for board_id in board_ids:
                key = self._key(board_id)
                pipe.zremrangebyscore(key, "-inf", now)
                pipe.zadd(key, {member: now + self.ttl})
                pipe.expire(key, self.ttl)
            results = await pipe.execute()
            return [b for i, b in enumerate(board_ids) if results[3 * i] or results[3 * i + 1]]

        return await self.guard.run("presence.touch", call, [])

    async def users(self, board_id: uuid.UUID) -> list[str]:
        """Members whose expiry is still ahead; nobody when Redis is unavailable."""
        key, now = self._key(board_id), self.clock()
        return users_of(await self.guard.run("presence.users", lambda r: r.zrangebyscore(key, now, "+inf"), []))
