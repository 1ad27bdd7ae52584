"""A redis-server for one lab region: no persistence, like a cache node that may be replaced."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from orbitask.lab.procs import alive, free_port, kill, spawn, stop, wait_until

START_TIMEOUT_S = 30.0
INSTALL_HINT = "install it with `apt-get install -y redis-server` (`make test` does this for you)"


class MissingRedis(RuntimeError):
    """redis-server is not installed."""


def redis_binary() -> str:
    """Path of redis-server, or a clear error saying how to install it."""
    path = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(path).exists():
        raise MissingRedis(f"redis-server is not installed: {INSTALL_HINT}")
    return path


def redis_args(base: Path, port: int) -> list[str]:
    """The redis-server command line for a server living in `base`."""
    return [
        redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
        "--dir", str(base), "--daemonize", "no", "--logfile", str(base / "redis.log"), "--maxclients", "10000",
    ]


def ping(port: int) -> bool:
    """Whether the server on `port` answers PING."""
    done = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, timeout=5)
    return done.stdout.strip() == "PONG"


@dataclass
class LabRedis:
    """One lab redis-server, tracked by PID."""

    base: Path
    port: int = field(default_factory=free_port)
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> LabRedis:
        """Start and wait (bounded) until it answers."""
        self.base.mkdir(parents=True, exist_ok=True)
        self.pid = spawn(redis_args(self.base, self.port), self.base / "redis.out")
        wait_until(lambda: ping(self.port), f"redis-server on port {self.port}", START_TIMEOUT_S, self.pid,
                   self.base / "redis.log")
        return self

    def running(self) -> bool:
        return alive(self.pid)

    def kill(self) -> None:
        kill(self.pid)
        self.pid = None

    def stop(self) -> None:
        stop(self.pid, grace=10)
        self.pid = None
