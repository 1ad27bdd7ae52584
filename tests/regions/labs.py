"""Running `orbitask lab` from tests: the CLI as a child process, a lab for a test module, its logs on failure.

A directory watched with `kept_on_failure` (every lab, every failover test's servers) is shown in
the report of a test that fails while it is watched: the tails of every log in it (each mariadbd's
error log, the supervisor's, HAProxy's, Redis's, the API nodes' and workers', and last the lab's
journal of drill steps and administrative statements). It is then kept instead of removed, and the
report gives its path. tests/regions/conftest.py calls `failure_sections` for a failing test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orbitask.lab import journal

WAN_SCALE = "0.05"  # CI runs the lab at a twentieth of the real round trips
TAIL_CHARS = 2500
JOURNAL_TAIL_CHARS = 15000
LOG_SUFFIXES = (".log", ".out")


@dataclass
class _Watch:
    shown: tuple[int, ...] | None = None  # its logs' sizes when a failing test last showed them
    failed: bool = False  # its own block raised (a fixture's set-up): shown once more, with that failure


_watched: dict[Path, _Watch] = {}


def orbitask(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    """`orbitask ARGS...`, which must succeed; returns its output."""
    done = subprocess.run([sys.executable, "-m", "orbitask.cli", *args], capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"orbitask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@contextmanager
def kept_on_failure(base: Path) -> Iterator[Path]:
    """Watch `base` while the block runs; remove it afterwards unless a test (or the block) failed meanwhile."""
    watch = _watched[base] = _Watch()
    try:
        yield base
    except Exception:
        watch.failed = True  # still watched: the report of the set-up that failed shows it
        raise
    if _watched.pop(base).shown is None:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"kept for review: {base}")


@contextmanager
def running_lab(prefix: str) -> Iterator[Path]:
    """`lab up` in a fresh directory; `lab down` afterwards whatever happened, the directory kept if a test failed."""
    with kept_on_failure(Path(tempfile.mkdtemp(prefix=prefix))) as lab_dir:
        try:
            orbitask("lab", "up", "--dir", str(lab_dir), "--wan-scale", WAN_SCALE)
            yield lab_dir
        finally:
            subprocess.run([sys.executable, "-m", "orbitask.cli", "lab", "down", "--dir", str(lab_dir)],
                           capture_output=True, timeout=120)


def failure_sections() -> list[tuple[str, str]]:
    """For a failing test: each watched directory's log tails (marking it kept), as report sections.

    Logs shown to an earlier failing test and unchanged since are referred to, not repeated.
    """
    sections = []
    for base, watch in list(_watched.items()):
        logs = _logs(base)
        sizes = tuple(_size(path) for path in logs)
        title = f"logs in {base} (kept)"
        sections.append((title, "unchanged since an earlier failure's report" if sizes == watch.shown
                         else _tails(base, logs)))
        watch.shown = sizes
        if watch.failed:
            del _watched[base]
    return sections


def _logs(base: Path) -> list[Path]:
    """Every non-empty log under `base` (not the data directories), the lab's journal last."""
    found = [path for path in base.rglob("*")
             if path.suffix in LOG_SUFFIXES and "data" not in path.relative_to(base).parts[:-1] and _size(path)]
    return sorted(found, key=lambda path: (path.name == journal.FILE, str(path)))


def _size(path: Path) -> int:
    """A file's size; 0 for a directory or a file that went away (the lab may still be running)."""
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0


def _tails(base: Path, logs: list[Path]) -> str:
    parts = []
    state = base / "state.json"
    if state.exists():
        info = json.loads(state.read_text())
        parts.append("==> state.json <==\n" + json.dumps(
            {k: info.get(k) for k in ("status", "error", "writer", "epoch", "pending_rejoin")}
            | {"last_history": info.get("history", [])[-2:]}, indent=1, default=str))
    for path in logs:
        limit = JOURNAL_TAIL_CHARS if path.name == journal.FILE else TAIL_CHARS
        with open(path, "rb") as log:
            log.seek(max(0, _size(path) - limit))
            text = log.read().decode(errors="replace")
        parts.append(f"==> {path.relative_to(base)} <==\n{text}")
    return "\n".join(parts)
