"""A real S3-compatible HTTP server (moto in server mode) on 127.0.0.1 for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from tests.servers import free_port

STARTUP_TIMEOUT_S = 30.0
# moto accepts any credentials; boto3 refuses to sign without some
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def use_test_credentials() -> None:
    """Make boto3 in this process sign with moto's dummy credentials (never real ones)."""
    os.environ.update(CREDENTIALS)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(name, None)


class MotoServer:
    """`moto_server -H 127.0.0.1 -p PORT` as a subprocess; `bucket()` makes a fresh bucket."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        """Start the server and wait (bounded) until it answers."""
        binary = Path(sys.executable).parent / "moto_server"
        if not binary.exists():
            raise RuntimeError("moto_server is not installed: run `.venv/bin/pip install -e '.[dev]'` "
                               "(the dev extra pins moto[server])")
        use_test_credentials()
        self.log = open(self.log_dir / "moto.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **CREDENTIALS})
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}: "
                                   f"{(self.log_dir / 'moto.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/moto-api/", timeout=1).status_code < 500:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("moto_server did not answer in time")
            time.sleep(0.1)  # polling a starting process, bounded by the deadline

    def bucket(self, prefix: str = "orbitask") -> str:
        """A new empty bucket."""
        import boto3

        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=self.url, region_name="us-east-1").create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        """Stop the server."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
