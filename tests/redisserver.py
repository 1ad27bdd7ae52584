"""A real redis-server from Debian's package on 127.0.0.1, in a temp dir, for tests and benchmarks.

No persistence (`--save '' --appendonly no`): a restart comes back empty, like a cache node that
was replaced. `kill()` is a crash (SIGKILL); `restart()` brings it back on the same port.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from orbitask.lab.redis import MissingRedis as LabMissingRedis
from orbitask.lab.redis import redis_args
from tests.servers import free_port

START_TIMEOUT_S = 30.0


class MissingRedis(RuntimeError):
    """redis-server is not installed."""


@dataclass
class RedisServer:
    """One redis-server process on 127.0.0.1 with its working directory under `base`."""

    base: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """A redis:// URL for this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.base / "redis.log"

    def start(self) -> RedisServer:
        """Start the server and wait (bounded) until it answers PING."""
        try:
            args = redis_args(self.base, self.port)
        except LabMissingRedis as exc:
            raise MissingRedis(str(exc)) from None
        if self.proc is not None:
            raise RuntimeError("redis-server is already running")
        self.base.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            while True:
                if self.proc.poll() is not None:
                    tail = self.log.read_text()[-3000:] if self.log.exists() else ""
                    code = self.proc.returncode
                    self.proc = None
                    raise RuntimeError(f"redis-server exited with {code}: {tail}")
                try:
                    if client.ping():
                        break
                except redis.RedisError:
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"redis-server on port {self.port} did not answer within {START_TIMEOUT_S:.0f} s")
                time.sleep(0.05)  # polling a starting server, bounded by the deadline
        finally:
            client.close()
        return self

    def pids(self) -> list[int]:
        """The server process, while running."""
        return [self.proc.pid] if self.proc is not None else []

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a bound."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL, like a crash; connected clients see their connections reset."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self) -> RedisServer:
        """Stop (if running) and start again on the same port, empty."""
        self.stop()
        return self.start()
