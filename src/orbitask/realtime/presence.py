"""Presence on boards: sockets join and leave; every process of the region tells its own subscribers.

A change is announced on the bus as the board id alone; each process that has subscribers
to that board reads the current users and sends them. Reading after the announcement (instead
of sending a list in the message) means the last announcement always carries the newest state.
Redis pub/sub delivers at most once (a listener that is reconnecting misses messages), so with
a shared bus each process also re-reads its boards every SWEEP_S seconds; sockets are only
told when their list actually changed.

Announcements are coalesced per board: the first one schedules a read COALESCE_S later and
those arriving meanwhile ride along. Without that, N sockets joining a board cost N reads of
N members and N x N messages; with it, at most one read and one message per socket per
COALESCE_S.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import structlog

from orbitask.core.backoff import Backoff, Outage
from orbitask.core.bus import Bus
from orbitask.core.observability import PRESENCE_CHANGES
from orbitask.core.presence import Presence
from orbitask.realtime.hub import Hub

log = structlog.get_logger("orbitask.presence")

SWEEP_S = 10.0
COALESCE_S = 0.1


class BoardPresence:
    """The presence store, the bus channel announcing changes, and this process's hub."""

    def __init__(self, store: Presence, bus: Bus, channel: str, hub: Hub) -> None:
        self.store = store
        self.bus = bus
        self.channel = channel
        self.hub = hub
        self.sweep_s = SWEEP_S
        self.coalesce_s = COALESCE_S
        self._due: set[uuid.UUID] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def join(self, board_id: uuid.UUID, member: str) -> list[str]:
        """Add a socket to the board; the users now present (empty when the store is unavailable)."""
        users = await self.store.join(board_id, member)
        await self._announce(board_id)
        return users

    async def leave(self, board_id: uuid.UUID, member: str) -> None:
        """Remove a socket from the board."""
        await self.store.leave(board_id, member)
        await self._announce(board_id)

    async def touch(self, board_ids: Sequence[uuid.UUID], member: str) -> None:
        """Keep a live socket present; announce boards whose expired members were dropped."""
        for board_id in await self.store.touch(board_ids, member):
            await self._announce(board_id)

    async def _announce(self, board_id: uuid.UUID) -> None:
        PRESENCE_CHANGES.inc()
        await self.bus.publish(self.channel, str(board_id).encode())

    async def dispatch(self, message: bytes) -> None:
        """A change announced on the bus: send the board's users to its subscribers in this process."""
        try:
            board_id = uuid.UUID(message.decode())
        except (ValueError, UnicodeDecodeError):
            log.warning("presence_message_invalid", size=len(message))
            return
        if board_id in self.hub.boards and board_id not in self._due:
            self._due.add(board_id)
            task = asyncio.create_task(self._present(board_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> list[asyncio.Task[None]]:
        """Scheduled reads not yet done (cancelled at shutdown)."""
        return list(self._tasks)

    async def _present(self, board_id: uuid.UUID) -> None:
        try:
            await asyncio.sleep(self.coalesce_s)
        finally:
            self._due.discard(board_id)  # announcements from here on schedule the next read
        try:
            if board_id in self.hub.boards:
                self.hub.present(board_id, await self.store.users(board_id))
        except Exception:
            log.exception("presence_read_failed")

    async def sweep(self) -> None:
        """Until cancelled: every `sweep_s`, send every board watched here its current users."""
        outage = Outage(log, loop="presence-sweep", backoff=Backoff(min_s=self.sweep_s, max_s=self.sweep_s))
        while True:
            await asyncio.sleep(self.sweep_s)
            try:
                for board_id in list(self.hub.boards):
                    self.hub.present(board_id, await self.store.users(board_id))
            except Exception as exc:  # must not end the loop; logged once per outage, not every sweep
                outage.failed(exc)
            else:
                outage.ok()
