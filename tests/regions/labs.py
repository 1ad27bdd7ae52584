"""Running `orbitask lab` from tests: the CLI as a child process, and a lab for a test module."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WAN_SCALE = "0.05"  # CI runs the lab at a twentieth of the real round trips


def orbitask(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    """`orbitask ARGS...`, which must succeed; returns its output."""
    done = subprocess.run([sys.executable, "-m", "orbitask.cli", *args], capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"orbitask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@contextmanager
def running_lab(prefix: str) -> Iterator[Path]:
    """`lab up` in a fresh directory; `lab down` and the directory removed afterwards, whatever happened."""
    lab_dir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        orbitask("lab", "up", "--dir", str(lab_dir), "--wan-scale", WAN_SCALE)
        yield lab_dir
    finally:
        subprocess.run([sys.executable, "-m", "orbitask.cli", "lab", "down", "--dir", str(lab_dir)],
                       capture_output=True, timeout=120)
        shutil.rmtree(lab_dir, ignore_errors=True)
