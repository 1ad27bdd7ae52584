"""Detached child processes the lab starts, tracked by PID so other invocations can stop them."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PORT_RESERVATIONS = Path(tempfile.gettempdir()) / "orbitask-ports"
PORT_RESERVATION_S = 3 * 3600.0  # outlives a lab's failover drills, whose servers restart on their port


def free_port() -> int:
    """A TCP port nobody listens on right now and no other caller was given recently.

    Ports come from below the kernel's ephemeral range: port 0 would give one from that range,
    which the kernel also hands out as the local port of outgoing connections. Each port handed
    out is reserved for a few hours by a file in PORT_RESERVATIONS, created exclusively, so that
    processes picking ports at the same time (test workers, a lab planning all its ports before
    it starts its servers) never pick the same one between the check and the server's bind.
    """
    low = _ephemeral_low()
    for _ in range(500):
        port = random.randint(max(1024, low - 12_000), low - 1)
        if _bindable(port) and _reserve(port):
            return port
    with socket.socket() as s:  # the whole range busy: any free port will do
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _reserve(port: int) -> bool:
    """Claim `port` for this caller; False when someone else holds an unexpired claim."""
    PORT_RESERVATIONS.mkdir(parents=True, exist_ok=True)
    claim = PORT_RESERVATIONS / str(port)
    for _ in range(2):
        try:
            os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return True
        except FileExistsError:
            try:
                if time.time() - claim.stat().st_mtime < PORT_RESERVATION_S:
                    return False
                claim.unlink()  # expired: whoever creates it next owns it
            except FileNotFoundError:
                pass
    return False


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (32768 when it cannot be read)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Start `args` in its own session (it outlives the starter), output to `log`; returns the PID."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    return proc.pid


def alive(pid: int | None) -> bool:
    """Whether `pid` runs (a zombie is dead); reaps it when it is our child."""
    if not pid:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_until(check: Callable[[], bool], what: str, timeout: float, pid: int | None = None,
               log: Path | None = None) -> None:
    """Poll `check` (bounded by `timeout`); fail early when `pid` died, quoting the end of `log`."""
    deadline = time.monotonic() + timeout
    while not check():
        if pid is not None and not alive(pid):
            tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
            raise RuntimeError(f"{what} exited during start-up: {tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout:.0f} s")
        time.sleep(0.1)  # polling a starting process, bounded by the deadline


def kill(pid: int | None) -> None:
    """SIGKILL `pid` (a crash) and wait, bounded, until it is gone."""
    _signal_and_wait(pid, signal.SIGKILL, 10.0)


def stop(pid: int | None, grace: float = 20.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds."""
    if not _signal_and_wait(pid, signal.SIGTERM, grace):
        kill(pid)


def _signal_and_wait(pid: int | None, sig: int, timeout: float) -> bool:
    if not alive(pid):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # signals are asynchronous; bounded by the deadline
    return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on `port`."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False
