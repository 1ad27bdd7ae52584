"""Start real `orbitask serve` processes on 127.0.0.1 for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from orbitask.lab.procs import free_port

STARTUP_TIMEOUT_S = 60.0
LOG_TAIL_BYTES = 20_000  # of a server's log, printed when a test fails while it runs


@contextlib.contextmanager
def orbitask_server(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[str]:
    """Run `orbitask serve` until the block ends; yields its base URL once /readyz answers."""
    port = port or free_port()
    environ = {
        **os.environ,
        "ORBITASK_DATA_DIR": str(data_dir),
        "ORBITASK_ARGON2_TIME_COST": "1",
        "ORBITASK_ARGON2_MEMORY_COST": "64",
        "ORBITASK_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "orbitask.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=environ, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"orbitask serve exited with {proc.returncode}: {(data_dir / 'server.log').read_text()}")
            try:
                if httpx.get(url + "/api/v1/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("orbitask serve did not become ready in time")
            time.sleep(0.1)  # polling a starting process, bounded by the deadline
        yield url
    except BaseException:  # the test failed while the server ran: its log goes into the report
        tail = (data_dir / "server.log").read_bytes()[-LOG_TAIL_BYTES:].decode(errors="replace")
        print(f"--- last lines of {data_dir / 'server.log'} ---\n{tail}", file=sys.stderr)
        raise
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within a bound."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
