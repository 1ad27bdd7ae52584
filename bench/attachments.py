"""Attachment memory benchmark: a 200 MB upload (and download) through a real `orbitask serve`.

    .venv/bin/python bench/attachments.py [--size-mb 200] [--storage local|s3] [--json bench/results/attachments.json]

Starts `orbitask serve` (one process) on 127.0.0.1 with a fresh data directory (and, with
--storage s3, a moto S3 server), warms it up with a small upload, samples the server's RSS
while idle, then streams a SIZE MB multipart upload and downloads it back, sampling RSS
every 10 ms. Prints idle/peak/delta RSS and throughput; the target is a delta under 100 MB.
All traffic goes to 127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.s3server import MotoServer  # noqa: E402
from tests.servers import orbitask_server  # noqa: E402

MB = 1024 * 1024
TARGET_DELTA_MB = 100
CHUNK = MB


def server_rss(proc: psutil.Process) -> int:
    """RSS of the server process and its children (uvicorn workers, if any)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class Sampler(threading.Thread):
    """Samples RSS every 10 ms until stopped; keeps the peak."""

    def __init__(self, proc: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.peak = 0
        self.samples = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, server_rss(self.proc))
            self.samples += 1
            self.stop.wait(0.01)


def find_server(port: str) -> psutil.Process:
    """The `orbitask serve` child of this process bound to `port`."""
    for child in psutil.Process().children(recursive=True):
        try:
            if "serve" in child.cmdline() and port in child.cmdline():
                return child
        except psutil.NoSuchProcess:
            continue
    raise RuntimeError("orbitask serve process not found")


async def multipart(size: int, boundary: str, digest: Any) -> AsyncIterator[bytes]:
    """A multipart body with one SIZE-byte file, generated on the fly (the client holds 1 MB at a time)."""
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n"
           "Content-Type: application/octet-stream\r\n\r\n").encode()
    block = os.urandom(CHUNK)
    sent = 0
    while sent < size:
        piece = block[: min(CHUNK, size - sent)]
        digest.update(piece)
        sent += len(piece)
        yield piece
    yield f"\r\n--{boundary}--\r\n".encode()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    size = args.size_mb * MB
    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="orbitask-bench-att-")))
        env = {"ORBITASK_ATTACHMENT_MAX_BYTES": str(size + MB), "ORBITASK_ATTACHMENT_WORKSPACE_QUOTA_MB": "0",
               "ORBITASK_RATE_LIMIT_API_PER_MINUTE": "0", "ORBITASK_RATE_LIMIT_API_IP_PER_MINUTE": "0"}
        if args.storage == "s3":
            moto = MotoServer(data_dir).start()
            stack.callback(moto.stop)
            env.update(ORBITASK_STORAGE_BACKEND="s3", ORBITASK_S3_BUCKET=moto.bucket(),
                       ORBITASK_S3_ENDPOINT_URL=moto.url, ORBITASK_S3_REGION="us-east-1")
        url = stack.enter_context(orbitask_server(data_dir, env=env))
        proc = find_server(url.rsplit(":", 1)[1])
        async with httpx.AsyncClient(base_url=url, timeout=600) as client:
            r = await client.post("/api/v1/auth/register", json={
                "email": "bench@example.com", "password": "bench-password", "name": "Bench"})
            r.raise_for_status()
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            ws = (await client.get("/api/v1/workspaces", headers=headers)).json()["items"][0]["id"]
            board = (await client.post(f"/api/v1/workspaces/{ws}/boards", json={"name": "B"}, headers=headers)).json()
            lst = (await client.post(f"/api/v1/boards/{board['id']}/lists", json={"name": "L"}, headers=headers)).json()
            card = (await client.post(f"/api/v1/lists/{lst['id']}/cards", json={"title": "C"}, headers=headers)).json()
            upload_url = f"/api/v1/cards/{card['id']}/attachments"
            # warm-up: import and initialise everything an upload and a download touch
            warm = await client.post(upload_url, files={"file": ("warm.bin", os.urandom(2 * MB))}, headers=headers)
            warm.raise_for_status()
            (await client.get(f"/api/v1/attachments/{warm.json()['id']}/content", headers=headers)).raise_for_status()
            idle = max(server_rss(proc) for _ in range(20) if not time.sleep(0.05))  # settled after warm-up

            boundary = "orbitask-bench-boundary"
            digest = hashlib.sha256()
            body_len = size + len(f"\r\n--{boundary}--\r\n") + len(
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n")
            sampler = Sampler(proc)
            sampler.start()
            started = time.perf_counter()
            r = await client.post(upload_url, content=multipart(size, boundary, digest), headers={
                **headers, "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(body_len)})
            upload_s = time.perf_counter() - started
            sampler.stop.set()
            sampler.join()
            r.raise_for_status()
            att = r.json()
            assert att["size"] == size and att["sha256"] == digest.hexdigest(), "stored file differs"
            upload_peak = sampler.peak

            sampler = Sampler(proc)
            sampler.start()
            started = time.perf_counter()
            check = hashlib.sha256()
            async with client.stream("GET", att["content_url"], headers=headers) as got:
                async for chunk in got.aiter_bytes(CHUNK):
                    check.update(chunk)
            download_s = time.perf_counter() - started
            sampler.stop.set()
            sampler.join()
            assert check.hexdigest() == att["sha256"], "downloaded file differs"
            download_peak = sampler.peak
    return {
        "size_mb": args.size_mb, "storage": args.storage, "idle_rss_mb": idle / MB,
        "upload_peak_rss_mb": upload_peak / MB, "upload_delta_mb": (upload_peak - idle) / MB,
        "upload_mb_per_s": args.size_mb / upload_s, "upload_s": upload_s,
        "download_peak_rss_mb": download_peak / MB, "download_delta_mb": (download_peak - idle) / MB,
        "download_mb_per_s": args.size_mb / download_s, "download_s": download_s,
        "target_delta_mb": TARGET_DELTA_MB, "machine": f"{platform.system()} {os.cpu_count()} cores",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--storage", choices=["local", "s3"], default="local")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(f"attachments ({result['storage']}): {args.size_mb} MB upload and download through orbitask serve")
    print(f"  idle RSS            {result['idle_rss_mb']:8.1f} MB")
    print(f"  upload   peak RSS   {result['upload_peak_rss_mb']:8.1f} MB   delta {result['upload_delta_mb']:6.1f} MB"
          f"   {result['upload_mb_per_s']:7.1f} MB/s ({result['upload_s']:.1f} s)")
    print(f"  download peak RSS   {result['download_peak_rss_mb']:8.1f} MB   delta {result['download_delta_mb']:6.1f} MB"
          f"   {result['download_mb_per_s']:7.1f} MB/s ({result['download_s']:.1f} s)")
    ok = result["upload_delta_mb"] < TARGET_DELTA_MB and result["download_delta_mb"] < TARGET_DELTA_MB
    print(f"  target: delta under {TARGET_DELTA_MB} MB above idle: {'met' if ok else 'NOT MET'}")
    out = args.json or ROOT / "bench" / "results" / f"attachments-{args.storage}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
