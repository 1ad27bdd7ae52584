"""`orbitask serve` workers tune garbage collection: long-lived objects frozen, fewer young collections."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def worker_gc(tmp_path: Path, **env: str) -> dict[str, object]:
    """Build the app the way a uvicorn worker does (in a fresh interpreter) and report its GC settings."""
    script = (
        "import gc, json\n"
        "from orbitask.app import app_from_env\n"
        "before = gc.get_threshold()\n"
        "app_from_env()\n"
        "print(json.dumps({'before': before, 'after': gc.get_threshold(), 'frozen': gc.get_freeze_count()}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True,
        env={"PATH": "/usr/bin:/bin", "ORBITASK_DATA_DIR": str(tmp_path), "ORBITASK_ENV": "development", **env},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_a_worker_freezes_what_it_loaded_and_collects_young_objects_less_often(tmp_path: Path) -> None:
    report = worker_gc(tmp_path)
    before, after = report["before"], report["after"]
    assert before == [700, 10, 10]  # Python's defaults
    assert after == [20_000, 10, 10]
    assert report["frozen"] > 50_000  # modules, models, schemas, routes: skipped by later collections


def test_the_young_threshold_is_a_setting_and_zero_keeps_pythons(tmp_path: Path) -> None:
    assert worker_gc(tmp_path, ORBITASK_GC_YOUNG_THRESHOLD="5000")["after"] == [5000, 10, 10]
    assert worker_gc(tmp_path, ORBITASK_GC_YOUNG_THRESHOLD="0")["after"] == [700, 10, 10]
