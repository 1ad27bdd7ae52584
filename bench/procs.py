"""What the CLI benchmarks share: the server's processes (found by data directory, CPU time from /proc),
a scratch directory, the environment of a fresh `orbitask` and the JSON result they write."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil


@contextlib.contextmanager
def workdir(keep: Path | None, prefix: str) -> Iterator[Path]:
    """`keep` (left in place) when given, else a temporary directory removed afterwards; holds `data/`."""
    work = keep or Path(tempfile.mkdtemp(prefix=prefix))
    (work / "data").mkdir(parents=True, exist_ok=True)
    try:
        yield work
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def orbitask_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This environment without any ORBITASK_ setting, plus a data directory, cheap password hashing and quiet logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBITASK_")}
    env.update(ORBITASK_DATA_DIR=str(data_dir), ORBITASK_ARGON2_MEMORY_COST="64", ORBITASK_ARGON2_TIME_COST="1",
               ORBITASK_LOG_LEVEL="WARNING", **extra)
    return env


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Write a benchmark's figures as JSON, with the Python version and CPU count they were measured on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**result, "python": platform.python_version(), "cpus": os.cpu_count()}, indent=2))
    print(f"wrote {path}")


def server_processes(data_dir: Path) -> list[psutil.Process]:
    """The `orbitask serve` process started with ORBITASK_DATA_DIR=data_dir, and its children."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "orbitask.cli" in " ".join(proc.info["cmdline"] or []) and \
                    proc.environ().get("ORBITASK_DATA_DIR") == str(data_dir):
                found += [proc, *proc.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def cpu_seconds(procs: list[psutil.Process]) -> float:
    """User + system CPU time of these processes so far (from /proc)."""
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total
