"""free_port: ports handed out are reserved across processes until they expire."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orbitask.lab import procs


@pytest.fixture
def picks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[int]]:
    """The ports free_port's random draw will propose, in order; reservations in a temp dir."""
    proposals: list[int] = []
    monkeypatch.setattr(procs, "PORT_RESERVATIONS", tmp_path / "ports")
    monkeypatch.setattr(procs.random, "randint", lambda low, high: proposals.pop(0))
    yield proposals


def unused() -> int:
    """A port nobody listens on (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_port_handed_out_is_not_handed_out_again_before_anyone_binds_it(picks: list[int]) -> None:
    port, other = unused(), unused()
    picks[:] = [port, port, other]
    assert procs.free_port() == port
    # Nothing listens on `port` yet (a lab plans every port before it starts its servers), so only
    # the reservation keeps a second caller - another test worker, or the lab itself - off it.
    assert procs.free_port() == other != port


def test_a_reservation_is_made_by_a_file_another_process_sees(picks: list[int]) -> None:
    picks[:] = [unused()]
    port = procs.free_port()
    assert (procs.PORT_RESERVATIONS / str(port)).exists()


def test_an_expired_reservation_is_taken_again(picks: list[int]) -> None:
    picks[:] = [unused()]
    port = procs.free_port()
    old = time.time() - procs.PORT_RESERVATION_S - 60
    os.utime(procs.PORT_RESERVATIONS / str(port), (old, old))
    picks[:] = [port]
    assert procs.free_port() == port


def test_a_port_somebody_listens_on_is_skipped(picks: list[int]) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = held.getsockname()[1]
        picks[:] = [busy, unused()]  # not busy + 1: under load an outgoing connection may hold that one
        assert procs.free_port() != busy
