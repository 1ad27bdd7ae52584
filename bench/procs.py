"""The server's processes as the benchmarks see them: found by data directory, CPU time from /proc."""

from __future__ import annotations

import contextlib
from pathlib import Path

import psutil


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
