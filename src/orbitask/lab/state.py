"""The lab's plan and live state, kept as JSON in the lab directory so any invocation can act on it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field

from orbitask.lab.procs import free_port
from orbitask.lab.wan import rtt_ms

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")
INITIAL_WRITER = "us-east-1"
SERVICES = ("db", "api")
STATE_FILE = "state.json"


class RegionState(BaseModel):
    """One region's processes and ports."""

    name: str
    server_id: int
    db_port: int
    redis_port: int
    api_port: int
    entry_port: int  # HAProxy entry point for clients in this location
    db_pid: int | None = None
    redis_pid: int | None = None
    api_pid: int | None = None
    worker_pid: int | None = None  # `orbitask worker run`: copies other regions' attachments into this one's


class LabState(BaseModel):
    """Everything `orbitask lab ...` needs to find and drive the lab."""

    dir: Path
    wan_scale: float = 1.0
    semi_sync: bool = True
    secret_key: str = Field(default_factory=lambda: secrets.token_urlsafe(48))
    forward_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(48))
    regions: dict[str, RegionState] = Field(default_factory=dict)
    links: dict[str, int] = Field(default_factory=dict)  # "src>dst:service" -> listening port
    writer: str = INITIAL_WRITER
    epoch: int = 0
    status: str = "starting"  # starting | ready | failed | stopped
    error: str = ""
    supervisor_pid: int | None = None
    haproxy_pid: int | None = None
    pending_rejoin: list[str] = Field(default_factory=list)
    history: list[dict] = Field(default_factory=list)

    @classmethod
    def plan(cls, lab_dir: Path, wan_scale: float, semi_sync: bool) -> LabState:
        """Fresh ports for every region and every WAN link."""
        state = cls(dir=lab_dir.resolve(), wan_scale=wan_scale, semi_sync=semi_sync)
        for i, name in enumerate(REGIONS, start=1):
            state.regions[name] = RegionState(name=name, server_id=i, db_port=free_port(), redis_port=free_port(),
                                              api_port=free_port(), entry_port=free_port())
        for src in REGIONS:
            for dst in REGIONS:
                if src != dst:
                    for service in SERVICES:
                        state.links[link_key(src, dst, service)] = free_port()
        return state

    def link_port(self, src: str, dst: str, service: str) -> int:
        """The port a process in `src` uses to reach `service` in `dst` (direct within a region)."""
        if src == dst:
            region = self.regions[dst]
            return region.db_port if service == "db" else region.api_port
        return self.links[link_key(src, dst, service)]

    def target_port(self, service: str, dst: str) -> int:
        region = self.regions[dst]
        return region.db_port if service == "db" else region.api_port

    def one_way_s(self, src: str, dst: str) -> float:
        """Emulated one-way delay between two regions, seconds."""
        return rtt_ms(src, dst, self.wan_scale) / 2000.0

    def nearest(self, location: str) -> list[str]:
        """Regions ordered by RTT from `location` (itself first)."""
        return sorted(REGIONS, key=lambda r: rtt_ms(location, r))

    def entry_url(self, location: str) -> str:
        return f"http://127.0.0.1:{self.regions[location].entry_port}"

    def api_url(self, region: str) -> str:
        return f"http://127.0.0.1:{self.regions[region].api_port}"

    def save(self) -> None:
        """Write atomically (readers never see half a file)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{STATE_FILE}.{os.getpid()}"
        tmp.write_text(self.model_dump_json(indent=2))
        tmp.replace(self.dir / STATE_FILE)

    @classmethod
    def load(cls, lab_dir: Path) -> LabState:
        path = lab_dir / STATE_FILE
        if not path.exists():
            raise FileNotFoundError(f"no lab in {lab_dir} (start one with `orbitask lab up`)")
        return cls.model_validate_json(path.read_text())


def link_key(src: str, dst: str, service: str) -> str:
    return f"{src}>{dst}:{service}"


def parse_link_key(key: str) -> tuple[str, str, str]:
    pair, service = key.split(":")
    src, dst = pair.split(">")
    return src, dst, service


@contextlib.contextmanager
def locked(lab_dir: Path) -> Iterator[None]:
    """Serialise state changes (failover, restarts) across the supervisor and CLI invocations."""
    lab_dir.mkdir(parents=True, exist_ok=True)
    with open(lab_dir / "lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
