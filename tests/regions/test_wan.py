"""The WAN emulator's proxy: delay applied each way, byte order kept, buffering bounded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from orbitask.lab import wan
from orbitask.lab.procs import free_port
from orbitask.lab.wan import Link

DELAY_S = 0.05


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
async def echo_link() -> AsyncIterator[Link]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    link = Link("test", free_port(), server.sockets[0].getsockname()[1], DELAY_S)
    await link.start()
    try:
        yield link
    finally:
        await link.close()
        server.close()


async def test_a_round_trip_costs_twice_the_one_way_delay(echo_link: Link) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", echo_link.listen_port)
    writer.write(b"ping")
    await writer.drain()
    started = time.monotonic()
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
    # the request crossed the link once each way (and the connection set-up once before that)
    assert time.monotonic() - started >= 2 * DELAY_S * 0.95
    writer.close()


async def test_bytes_arrive_in_order_and_complete(echo_link: Link) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", echo_link.listen_port)
    messages = [f"{i:06d}".encode() * 100 for i in range(500)]
    for message in messages:
        writer.write(message)
    await writer.drain()
    writer.write_eof()
    received = await asyncio.wait_for(reader.read(), 10)
    assert received == b"".join(messages)
    assert echo_link.stats.bytes == 2 * len(received)


async def test_a_closed_far_side_closes_the_client_connection() -> None:
    link = Link("nowhere", free_port(), free_port(), 0.0)  # nothing listens on the target
    await link.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", link.listen_port)
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
    finally:
        await link.close()


async def test_a_reader_that_stops_reading_holds_back_the_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wan, "MAX_BUFFERED_BYTES", 256 * 1024)
    stalled: list[asyncio.StreamWriter] = []

    async def never_reads(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stalled.append(writer)

    server = await asyncio.start_server(never_reads, "127.0.0.1", 0)
    link = Link("stall", free_port(), server.sockets[0].getsockname()[1], 0.0)
    await link.start()
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", link.listen_port)
        chunk = b"x" * 65536
        sent = 0
        with pytest.raises(TimeoutError):
            for _ in range(64 * 16):  # up to 64 MiB; the link must stop taking bytes long before
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 2)
                sent += len(chunk)
        assert sent < 64 * 1024 * 1024
        assert link.stats.peak_buffered <= wan.MAX_BUFFERED_BYTES + wan.CHUNK
        writer.transport.abort()
    finally:
        await link.close()
        server.close()
