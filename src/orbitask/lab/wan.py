"""A user-space WAN emulator: a TCP proxy per (source region, destination, service) adding one-way delay.

Each direction of each proxied connection is a FIFO of chunks stamped with the time they may
be delivered (arrival + delay), so bytes keep their order and every byte is late by the same
one-way delay, in both directions: a request/response round trip costs the RTT. A direction
buffers at most MAX_BUFFERED_BYTES; past that it stops reading from its source, and TCP
backpressure slows the sender, as a full link would. End of stream travels with the same delay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger("orbitask.wan")

CHUNK = 64 * 1024
MAX_BUFFERED_BYTES = 4 * 1024 * 1024
CONNECT_TIMEOUT_S = 5.0

# Round-trip times between AWS regions (published inter-region latency figures), in milliseconds.
DEFAULT_RTT_MS: dict[frozenset[str], float] = {
    frozenset({"us-east-1", "eu-west-1"}): 80.0,
    frozenset({"us-east-1", "ap-southeast-1"}): 217.0,
    frozenset({"eu-west-1", "ap-southeast-1"}): 238.0,
}


def rtt_ms(a: str, b: str, scale: float = 1.0) -> float:
    """Emulated round-trip time between two regions (0 within a region)."""
    return 0.0 if a == b else DEFAULT_RTT_MS[frozenset({a, b})] * scale


@dataclass
class LinkStats:
    """What went through a link (for tests and `lab status`)."""

    connections: int = 0
    bytes: int = 0
    peak_buffered: int = 0


@dataclass
class Link:
    """One listening port forwarding to `target_port` with `delay_s` each way."""

    name: str
    listen_port: int
    target_port: int
    delay_s: float
    stats: LinkStats = field(default_factory=LinkStats)
    _server: asyncio.AbstractServer | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        """Listen on 127.0.0.1:listen_port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.listen_port, reuse_address=True)

    async def close(self) -> None:
        """Stop listening and cut every proxied connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.stats.connections += 1
        try:
            await asyncio.sleep(self.delay_s)  # the SYN crosses the link before the far side sees a connection
            try:
                target_r, target_w = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.target_port), CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError):
                return  # the far side is down: the client sees its connection closed
            try:
                await asyncio.gather(self._pipe(client_r, target_w), self._pipe(target_r, client_w))
            finally:
                target_w.close()
        except asyncio.CancelledError:
            pass
        finally:
            client_w.close()
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction, each chunk delivered `delay_s` after it arrived, in order, bounded."""
        loop = asyncio.get_running_loop()
        queue: deque[tuple[float, bytes]] = deque()
        changed = asyncio.Condition()
        buffered = 0

        async def receive() -> None:
            nonlocal buffered
            while True:
                try:
                    data = await reader.read(CHUNK)
                except (ConnectionError, OSError):
                    data = b""
                async with changed:
                    queue.append((loop.time() + self.delay_s, data))
                    buffered += len(data)
                    self.stats.peak_buffered = max(self.stats.peak_buffered, buffered)
                    changed.notify_all()
                    if not data:
                        return
                    await changed.wait_for(lambda: buffered < MAX_BUFFERED_BYTES)

        async def deliver() -> None:
            nonlocal buffered
            while True:
                async with changed:
                    await changed.wait_for(lambda: bool(queue))
                    due, data = queue[0]
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    with contextlib.suppress(OSError, RuntimeError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
                self.stats.bytes += len(data)
                async with changed:
                    queue.popleft()
                    buffered -= len(data)
                    changed.notify_all()

        receiver = asyncio.create_task(receive())
        try:
            await deliver()
        except (ConnectionError, OSError):
            writer.close()  # the far side went away: drop what is still in flight, like a reset
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver


class Wan:
    """All links of the lab, served from one event loop (the supervisor's)."""

    def __init__(self, links: list[Link]) -> None:
        self.links = links

    async def start(self) -> None:
        for link in self.links:
            await link.start()
        log.info("wan_started", links=len(self.links))

    async def close(self) -> None:
        for link in self.links:
            await link.close()
