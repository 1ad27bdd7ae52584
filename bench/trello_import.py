"""Trello import benchmark: a synthetic export of 50,000 cards through `orbitask import trello`.

    .venv/bin/python bench/trello_import.py [--cards 50000] [--database-url URL] [--keep DIR] [--api]
                                            [--json bench/results/trello_import.json]

Writes a realistic export (lists, labels, members, cards with Trello's many fields and
attachments, checklists with items, comment and other actions) to a temporary file, seeds a
data directory with `orbitask demo`, then runs `orbitask import trello` twice in a child
process each (first import, then re-import of the same file, which updates every row), and
prints wall time, CPU time and the importing process's peak resident memory (from wait4's
rusage: the `orbitask` process alone, not this script). The CLI writes to the database directly
(no server), in one transaction, like `POST /api/v1/imports/trello` does inside the server.
With --api it also uploads the file to a real `orbitask serve` on 127.0.0.1
(`POST /api/v1/imports/trello`, streamed from disk) and reports the server process's peak memory
(VmHWM) next to its idle memory.
Target (issue "Import and export"): a 50,000-card export imports with peak memory under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import orbitask_env, workdir, write_result  # noqa: E402

TARGET_MB = 300
LISTS, LABELS, MEMBERS = 40, 12, 25


def _oid(kind: int, n: int) -> str:
    """A Trello-like 24-hex id: a timestamp, then the kind and a counter."""
    return f"{0x5f1a0000 + n // 1000:08x}{kind:04x}{n:012x}"


def write_export(path: Path, cards: int, seed: int = 7) -> dict[str, int]:
    """Stream a synthetic Trello board export with `cards` cards to `path`; returns what it holds."""
    rnd = random.Random(seed)
    board_id = _oid(1, 0)
    lists = [_oid(2, i) for i in range(LISTS)]
    labels = [_oid(3, i) for i in range(LABELS)]
    members = [_oid(4, i) for i in range(MEMBERS)]
    colors = ["green", "yellow", "orange", "red_dark", "purple", "blue", "sky_light", "lime", "pink", "black", None]
    words = "alpha beta gamma delta launch review copy design fix bug api docs ship plan test deploy".split()
    counts = {"cards": cards, "checklists": 0, "items": 0, "comments": 0, "actions": 0}

    def text(n: int) -> str:
        return " ".join(rnd.choice(words) for _ in range(n))

    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps({"id": board_id, "name": "Synthetic board", "desc": text(30), "closed": False,
                              "prefs": {"background": "blue", "permissionLevel": "org"},
                              "labelNames": {"green": "a"}, "url": "https://trello.com/b/x/synthetic"})[:-1])
        out.write(',"actions":[')
        first = True
        for n in range(cards):
            for _ in range(1 if n % 2 == 0 else 0):  # a comment on every other card
                counts["comments"] += 1
                action = {"id": _oid(9, counts["comments"]), "idMemberCreator": rnd.choice(members),
                          "type": "commentCard", "date": "2024-04-01T09:30:00.000Z",
                          "data": {"text": text(25), "card": {"id": _oid(5, n), "name": "c", "idShort": n}},
                          "memberCreator": {"id": members[0], "fullName": "Member 0", "username": "member0"}}
                out.write(("" if first else ",") + json.dumps(action))
                first = False
            counts["actions"] += 1
            other = {"id": _oid(10, n), "type": "updateCard", "date": "2024-04-02T10:00:00.000Z",
                     "idMemberCreator": members[1], "data": {"old": {"pos": n}, "card": {"id": _oid(5, n)}}}
            out.write(("" if first else ",") + json.dumps(other))
            first = False
        out.write('],"cards":[')
        for n in range(cards):
            card: dict[str, Any] = {
                "id": _oid(5, n), "name": f"Card {n}: {text(6)}", "desc": text(rnd.randint(0, 60)),
                "descData": {"emoji": {}}, "idBoard": board_id, "idList": rnd.choice(lists),
                "idLabels": rnd.sample(labels, rnd.randint(0, 3)), "idMembers": rnd.sample(members, rnd.randint(0, 2)),
                "due": "2030-06-01T15:00:00.000Z" if n % 3 == 0 else None, "dueComplete": n % 7 == 0,
                "start": None, "closed": n % 11 == 0, "pos": rnd.uniform(1, 1e6), "idShort": n,
                "shortLink": f"s{n}", "subscribed": False, "badges": {"votes": 0, "comments": 1, "attachments": 1},
                "cover": {"idAttachment": None, "color": None, "size": "normal"},
                "attachments": [{"id": _oid(6, n), "name": "spec", "url": f"https://example.com/spec/{n}",
                                 "isUpload": False, "pos": 1, "bytes": None}] if n % 4 == 0 else [],
                "customFieldItems": [], "pluginData": [],
            }
            out.write(("," if n else "") + json.dumps(card))
        out.write('],"labels":' + json.dumps([{"id": lab, "name": f"Label {i}", "color": colors[i % len(colors)]}
                                             for i, lab in enumerate(labels)]))
        out.write(',"lists":' + json.dumps([{"id": lst, "name": f"List {i}", "closed": i == 0, "pos": i * 1024}
                                            for i, lst in enumerate(lists)]))
        out.write(',"members":' + json.dumps([{"id": m, "fullName": f"Member {i}", "username": f"member{i}"}
                                              for i, m in enumerate(members)]))
        out.write(',"checklists":[')
        for n in range(0, cards, 5):  # a checklist of four items on every fifth card
            counts["checklists"] += 1
            items = [{"id": _oid(8, n * 4 + k), "name": text(4), "state": "complete" if k % 2 else "incomplete",
                      "pos": k, "idMember": None, "due": None} for k in range(4)]
            counts["items"] += len(items)
            out.write(("," if n else "") + json.dumps({"id": _oid(7, n), "idCard": _oid(5, n), "name": "Steps",
                                                      "pos": 1, "checkItems": items}))
        out.write("]}\n")
    return counts


def run_measured(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float, int]:
    """Run a command; (wall seconds, CPU seconds, peak RSS in MiB of that process, exit status)."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()  # progress bars; read so the pipe never fills
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace")[-3000:])
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, cpu, usage.ru_maxrss / 1024, proc.returncode  # ru_maxrss is in KiB on Linux


def _proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def run_api(data_dir: Path, export: Path, cards: int) -> dict[str, Any]:
    """Upload the export to a real server into a new workspace of the demo owner; the server's time and memory."""
    import httpx
    import psutil

    from tests.servers import orbitask_server

    with orbitask_server(data_dir, env={"ORBITASK_RATE_LIMIT_API_PER_MINUTE": "0"}) as url:
        server = next(p for p in psutil.Process().children(recursive=True) if "serve" in " ".join(p.cmdline()))
        with httpx.Client(base_url=url, timeout=httpx.Timeout(1200, connect=10)) as client:
            r = client.post("/api/v1/auth/login", json={"email": "ada@demo.orbitask.dev", "password": "orbitask-demo"})
            r.raise_for_status()
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            ws = client.post("/api/v1/workspaces", json={"name": "API import"}, headers=headers).json()["id"]
            idle = _proc_kib(server.pid, "VmRSS") / 1024
            cpu_before = sum(server.cpu_times()[:2])
            started = time.perf_counter()

            def chunks() -> Any:
                with export.open("rb") as f:
                    while chunk := f.read(1 << 20):
                        yield chunk

            r = client.post(f"/api/v1/imports/trello?workspace_id={ws}", content=chunks(),
                            headers={**headers, "Content-Type": "application/json"})
            seconds = time.perf_counter() - started
            if r.status_code != 201:
                raise RuntimeError(f"upload failed: {r.status_code} {r.text[:500]}")
            return {"run": "API upload (server)", "seconds": round(seconds, 1),
                    "cpu_seconds": round(sum(server.cpu_times()[:2]) - cpu_before, 1),
                    "peak_rss_mib": round(_proc_kib(server.pid, "VmHWM") / 1024, 1), "idle_rss_mib": round(idle, 1),
                    "cards_per_second": round(cards / seconds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=50_000)
    parser.add_argument("--database-url", help="import into this database instead of a fresh SQLite file")
    parser.add_argument("--keep", type=Path, help="keep the data directory and export here")
    parser.add_argument("--api", action="store_true", help="also import through the HTTP API of a real server")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "trello_import.json")
    opts = parser.parse_args()

    extra = {"ORBITASK_DATABASE_URL": opts.database_url} if opts.database_url else {}
    cli = [sys.executable, "-m", "orbitask.cli"]
    with workdir(opts.keep, "orbitask-bench-import-") as work:
        env = orbitask_env(work / "data", COLUMNS="120", **extra)
        export = work / "trello-export.json"
        started = time.perf_counter()
        counts = write_export(export, opts.cards)
        size_mb = export.stat().st_size / 1024 / 1024
        print(f"export: {size_mb:,.1f} MiB, {counts} (written in {time.perf_counter() - started:.1f} s)")
        subprocess.run([*cli, "demo"], env=env, cwd=work, check=True, capture_output=True)
        rows = []
        for run in ("first import", "re-import (updates)"):
            seconds, cpu, peak, status = run_measured([*cli, "import", "trello", str(export), "-w", "Orbitask demo"],
                                                 env, work)
            if status != 0:
                print(f"{run}: failed with exit status {status}")
                return 1
            rows.append({"run": run, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
                         "peak_rss_mib": round(peak, 1),
                         "cards_per_second": round(opts.cards / seconds)})
            verdict = "met" if peak < TARGET_MB else "MISSED"
            print(f"{run:<20} {seconds:7.1f} s wall, {cpu:6.1f} s CPU   peak RSS {peak:6.1f} MiB   "
                  f"{opts.cards / seconds:8,.0f} cards/s"
                  f"   (target < {TARGET_MB} MB: {verdict})")
        if opts.api:
            row = run_api(work / "data", export, opts.cards)
            rows.append(row)
            print(f"{row['run']:<20} {row['seconds']:7.1f} s wall, {row['cpu_seconds']:6.1f} s CPU   peak RSS "
                  f"{row['peak_rss_mib']:6.1f} MiB (idle {row['idle_rss_mib']:.1f})   {row['cards_per_second']:8,} cards/s")
        write_result(opts.json, {"cards": opts.cards, "export_mib": round(size_mb, 1), "counts": counts, "runs": rows,
                                 "backend": (opts.database_url or "sqlite").split(":")[0]})
        return 0 if all(r["peak_rss_mib"] < TARGET_MB for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
