"""Hostile imports: the server's peak memory while it takes a 100 MB Trello export built to hurt it.

    .venv/bin/python bench/import_hostile.py [--mb 100] [--case junk --case deep ...] [--keep DIR]
                                             [--json bench/results/import_hostile.json]

Each case writes a hostile Trello export of about --mb MiB, starts a fresh `orbitask serve` on
127.0.0.1 (so the kernel's high-water mark VmHWM covers this upload alone), signs in as the demo
owner and uploads the file to `POST /api/v1/imports/trello` from disk. A thread samples the
server's resident memory with psutil every 10 ms. Cases:
  junk    a small valid board whose cards and top level carry junk arrays and objects in
          fields the importer ignores ([{}, {}, ...], {"k0": [], "k1": {}, ...})
  deep    a card field nesting arrays millions deep
  labels  100,000 labels with 1,000-character names
  string  one 100 MB string in an ignored field
It prints, per case: the answer (status and problem reason), the server's RSS just before the
upload and its peak before (VmHWM), the peak during the import (the larger of the sampled
maximum and VmHWM afterwards), and the ratio of the growth (peak during - RSS before) to the
upload's size. Target (issue 23, item 1): growth below 4x the upload for every case.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.procs import orbitask_env, server_processes, workdir, write_result  # noqa: E402
from tests.servers import orbitask_server  # noqa: E402

TARGET_RATIO = 4.0
MiB = 1024 * 1024
DEMO = {"email": "ada@demo.orbitask.dev", "password": "orbitask-demo"}
BOARD = {"id": "5f1a00000000000000000001", "name": "Hostile board", "desc": "", "closed": False}
LIST = {"id": "5f1a00000000000000000101", "name": "To do", "closed": False, "pos": 1}


def _card(n: int) -> dict[str, Any]:
    return {"id": f"5f1a0000000000000000{n:04x}", "idList": LIST["id"], "name": f"Card {n}", "pos": n}


def _fill(out: IO[str], unit: str, size: int) -> None:
    """Write `unit` repeated, comma-separated, until about `size` bytes."""
    block = ",".join([unit] * max(1, (1 << 20) // (len(unit) + 1)))
    written = 0
    while written < size:
        out.write(("," if written else "") + block)
        written += len(block) + 1


def junk(out: IO[str], size: int) -> None:
    """Junk arrays and objects in ignored fields of cards and of the board."""
    out.write(json.dumps(BOARD)[:-1] + ',"lists":[' + json.dumps(LIST) + '],"pluginData":[')
    _fill(out, "{}", size // 4)
    out.write('],"cards":[' + json.dumps(_card(1))[:-1] + ',"junk":[')
    _fill(out, "{}", size // 4)
    out.write("]}," + json.dumps(_card(2))[:-1] + ',"customFieldItems":[')
    _fill(out, '[[],{"a":[{}]}]', size // 4)
    out.write("]}," + json.dumps(_card(3))[:-1] + ',"badges":{')
    keys = (f'"k{i}":{{}}' for i in range(size // 4 // 13 + 1))
    block: list[str] = []
    written = 0
    for key in keys:
        block.append(key)
        if len(block) == 50_000:
            out.write(("," if written else "") + ",".join(block))
            written += 1
            block = []
    if block:
        out.write(("," if written else "") + ",".join(block))
    out.write("}}]}\n")


def deep(out: IO[str], size: int) -> None:
    """A card whose ignored field nests arrays about size/2 levels deep."""
    out.write(json.dumps(BOARD)[:-1] + ',"lists":[' + json.dumps(LIST) + '],"cards":[')
    out.write(json.dumps(_card(1))[:-1] + ',"junk":')
    half = size // 2
    for char in "[]":
        for _ in range(half // MiB):
            out.write(char * MiB)
        out.write(char * (half % MiB))
    out.write("}]}\n")


def labels(out: IO[str], size: int) -> None:
    """100,000 labels with long names (about size bytes in all)."""
    count = 100_000
    name = "x" * max(1, size // count - 70)
    out.write(json.dumps(BOARD)[:-1] + ',"lists":[' + json.dumps(LIST) + '],"cards":[' + json.dumps(_card(1))
              + '],"labels":[')
    for i in range(count):
        out.write(("," if i else "") + json.dumps({"id": f"5f1a0000000000000{i:07x}", "name": name, "color": "red"}))
    out.write("]}\n")


def string(out: IO[str], size: int) -> None:
    """One huge string in an ignored card field."""
    out.write(json.dumps(BOARD)[:-1] + ',"lists":[' + json.dumps(LIST) + '],"cards":[')
    out.write(json.dumps(_card(1))[:-1] + ',"junk":"')
    for _ in range(size // MiB):
        out.write("y" * MiB)
    out.write('"}]}\n')


CASES: dict[str, Callable[[IO[str], int], None]] = {"junk": junk, "deep": deep, "labels": labels, "string": string}


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


class Sampler:
    """The largest resident set of some processes, sampled every 10 ms on a thread."""

    def __init__(self, procs: list[psutil.Process]) -> None:
        self.procs = procs
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        total = 0
        for proc in self.procs:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk


def run_case(name: str, data_dir: Path, export: Path) -> dict[str, Any]:
    """Upload one hostile export to a fresh server; the answer and the server's memory."""
    upload = export.stat().st_size
    env = {"ORBITASK_RATE_LIMIT_API_PER_MINUTE": "0", "ORBITASK_RATE_LIMIT_LOGIN_PER_MINUTE": "0"}
    with orbitask_server(data_dir, env=env) as url:
        procs = server_processes(data_dir)
        main = min(procs, key=lambda p: p.create_time())
        with httpx.Client(base_url=url, timeout=httpx.Timeout(1200, connect=10)) as client:
            r = client.post("/api/v1/auth/login", json=DEMO)
            r.raise_for_status()
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            ws = client.post("/api/v1/workspaces", json={"name": f"Hostile {name} {time.time_ns()}"},
                             headers=headers)
            ws.raise_for_status()
            sampler = Sampler(procs)
            before = sampler.rss()
            hwm_before = _kib(main.pid, "VmHWM") * 1024
            started = time.perf_counter()
            with sampler:
                r = client.post(f"/api/v1/imports/trello?workspace_id={ws.json()['id']}", content=_chunks(export),
                                headers={**headers, "Content-Type": "application/json"})
            seconds = time.perf_counter() - started
            hwm_after = _kib(main.pid, "VmHWM") * 1024
    body = r.json() if r.headers.get("content-type", "").endswith("json") else {}
    peak = max(sampler.peak, hwm_after)
    return {
        "case": name, "upload_mib": round(upload / MiB, 1), "status": r.status_code,
        "reason": body.get("reason") or ("imported" if r.status_code == 201 else body.get("type", "")),
        "detail": str(body.get("detail", ""))[:200], "seconds": round(seconds, 1),
        "rss_before_mib": round(before / MiB, 1), "peak_before_mib": round(hwm_before / MiB, 1),
        "peak_during_mib": round(peak / MiB, 1), "sampled_peak_mib": round(sampler.peak / MiB, 1),
        "growth_ratio": round((peak - before) / upload, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="size of each hostile export in MiB")
    parser.add_argument("--case", action="append", choices=list(CASES), help="run only these cases")
    parser.add_argument("--keep", type=Path, help="keep the data directory and exports here")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "import_hostile.json")
    opts = parser.parse_args()

    with workdir(opts.keep, "orbitask-bench-hostile-") as work:
        data_dir = work / "data"
        env = orbitask_env(data_dir)
        rows = []
        subprocess.run([sys.executable, "-m", "orbitask.cli", "demo"], env=env, cwd=work, check=True,
                       capture_output=True)
        for name in opts.case or list(CASES):
            export = work / f"hostile-{name}.json"
            with export.open("w", encoding="utf-8") as out:
                CASES[name](out, opts.mb * MiB)
            row = run_case(name, data_dir, export)
            export.unlink()
            rows.append(row)
            verdict = "met" if row["growth_ratio"] < TARGET_RATIO else "MISSED"
            print(f"{name:<7} {row['upload_mib']:6.1f} MiB -> {row['status']} {row['reason']:<16} "
                  f"{row['seconds']:6.1f} s   RSS before {row['rss_before_mib']:6.1f} MiB (peak {row['peak_before_mib']:.1f})"
                  f"   peak during {row['peak_during_mib']:7.1f} MiB   growth {row['growth_ratio']:6.3f}x upload"
                  f"   (target < {TARGET_RATIO:g}x: {verdict})")
        write_result(opts.json, {"mb": opts.mb, "runs": rows, "target_ratio": TARGET_RATIO})
        return 0 if all(r["growth_ratio"] < TARGET_RATIO for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
