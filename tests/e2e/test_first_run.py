"""A newcomer's first run: `orbitask serve` and `orbitask demo` from an empty directory with no settings at all.

This is what `make run` does after installing. Every other test hands the server a data directory that already
exists, which is how the first run once failed with "unable to open database file" and no test noticed.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from orbitask.cli import app as cli_app
from tests.servers import STARTUP_TIMEOUT_S, free_port, stop

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colours: a terminal gets them
ORBITASK = str(Path(sys.executable).parent / "orbitask")  # the console script `make run` runs
DEMO_USER = {"email": "ada@demo.orbitask.dev", "password": "orbitask-demo"}
# every command that uses the data directory, with arguments that get it past argument parsing
DATA_DIR_COMMANDS = [
    ["serve"], ["worker"], ["worker", "gc"], ["demo"], ["db", "upgrade"], ["db", "current"],
    ["import", "trello", "board.json", "--workspace", "W"], ["export", "board", "B"],
    ["backup", "--output", "backup.tar.gz"], ["restore", "backup.tar.gz"],
]


def bare_env() -> dict[str, str]:
    """The environment of a newcomer: nothing named ORBITASK_*."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ORBITASK_")}


@contextmanager
def serving(cwd: Path, env: dict[str, str], **popen: object) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`orbitask serve` on a free port, run from `cwd`, until the block ends; yields its URL once /readyz is 200."""
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below; outside `cwd`, which stays the newcomer's
    kwargs: dict[str, object] = {"stdout": subprocess.DEVNULL, "stderr": log, **popen}
    proc = subprocess.Popen([ORBITASK, "serve", "--port", str(port)], cwd=cwd, env=env, **kwargs)  # type: ignore[call-overload]
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                log.seek(0)
                err = log.read().decode(errors="replace")
                raise AssertionError(f"orbitask serve exited with {proc.returncode}: {err[-2000:]}")
            try:
                if httpx.get(f"{url}/api/v1/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "orbitask serve did not answer /api/v1/readyz with 200"
            time.sleep(0.1)  # polling a starting process, bounded by the deadline
        yield url, proc
    finally:
        stop(proc)
        log.close()


def test_serve_then_demo_from_an_empty_directory_with_no_settings(tmp_path: Path) -> None:
    with serving(tmp_path, bare_env()) as (url, _):
        assert httpx.get(f"{url}/api/v1/readyz", timeout=10).status_code == 200
        data_dir = tmp_path / ".orbitask"
        assert data_dir.is_dir() and (data_dir.stat().st_mode & 0o777) == 0o700
        demo = subprocess.run([ORBITASK, "demo"], cwd=tmp_path, env=bare_env(), capture_output=True, text=True,
                              timeout=300)
        assert demo.returncode == 0, demo.stderr
        r = httpx.post(f"{url}/api/v1/auth/login", json=DEMO_USER, timeout=30)
        assert r.status_code == 200, r.text
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        me = httpx.get(f"{url}/api/v1/me", headers=auth, timeout=10)
        assert me.status_code == 200 and me.json()["email"] == DEMO_USER["email"]
        # no ORBITASK_PUBLIC_URL: the links the server hands out name the port it was started on
        workspace = httpx.get(f"{url}/api/v1/workspaces", headers=auth, timeout=10).json()["items"][0]["id"]
        inv = httpx.post(f"{url}/api/v1/workspaces/{workspace}/invitations", headers=auth, json={"role": "member"},
                         timeout=10)
        assert inv.status_code == 201 and inv.json()["url"].startswith(f"{url}/invite/"), inv.text
        feed = httpx.post(f"{url}/api/v1/me/calendar-feed", headers=auth, timeout=10)
        assert feed.status_code == 201 and feed.json()["url"].startswith(f"{url}/api/v1/calendar/"), feed.text


def test_demo_first_creates_the_data_directory_and_serve_finds_its_users(tmp_path: Path) -> None:
    demo = subprocess.run([ORBITASK, "demo"], cwd=tmp_path, env=bare_env(), capture_output=True, text=True,
                          timeout=300)
    assert demo.returncode == 0, demo.stderr
    assert ((tmp_path / ".orbitask").stat().st_mode & 0o777) == 0o700
    with serving(tmp_path, bare_env()) as (url, _):
        r = httpx.post(f"{url}/api/v1/auth/login", json=DEMO_USER, timeout=30)
        assert r.status_code == 200, r.text


@contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """`directory` refuses new entries, even to root (immutable while root; no write bit otherwise)."""
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        assert chattr, "chattr is missing: apt-get install e2fsprogs"
        subprocess.run([chattr, "+i", str(directory)], check=True)
        try:
            yield
        finally:
            subprocess.run([chattr, "-i", str(directory)], check=True)
    else:
        directory.chmod(0o500)
        try:
            yield
        finally:
            directory.chmod(0o700)


@contextmanager
def unusable(kind: str, tmp_path: Path) -> Iterator[Path]:
    """A data directory path that cannot be created, for the reason `kind` names."""
    if kind == "file-in-the-way":
        (tmp_path / "data").write_text("not a directory")
        yield tmp_path / "data"
    elif kind == "file-as-parent":
        (tmp_path / "parent").write_text("not a directory")
        yield tmp_path / "parent" / "data"
    else:
        parent = tmp_path / "locked"
        parent.mkdir()
        with read_only(parent):
            yield parent / "data"


def assert_one_clear_line(output: str, data_dir: Path) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert str(data_dir) in lines[0] and "ORBITASK_DATA_DIR" in lines[0], lines[0]
    assert "Traceback" not in output


@pytest.mark.parametrize("kind", ["file-in-the-way", "file-as-parent", "read-only-parent"])
@pytest.mark.parametrize("command", DATA_DIR_COMMANDS, ids=lambda c: "-".join(w for w in c[:2] if w.isalpha()))
def test_a_data_directory_that_cannot_be_created_is_one_clear_line_and_exit_2(
    command: list[str], kind: str, tmp_path: Path
) -> None:
    with unusable(kind, tmp_path) as data_dir:
        result = CliRunner().invoke(cli_app, command, env={**bare_env(), "ORBITASK_DATA_DIR": str(data_dir),
                                                           "COLUMNS": "80"})
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert_one_clear_line(result.stderr, data_dir)
    assert not data_dir.exists() or data_dir.is_file()


def test_serve_says_why_it_cannot_start_as_a_real_process(tmp_path: Path) -> None:
    with unusable("read-only-parent", tmp_path) as data_dir:
        result = subprocess.run([ORBITASK, "serve", "--port", str(free_port())], cwd=tmp_path, timeout=120,
                                env={**bare_env(), "ORBITASK_DATA_DIR": str(data_dir)}, capture_output=True, text=True)
    assert result.returncode == 2
    assert_one_clear_line(result.stderr, data_dir)


def test_config_show_does_not_create_the_data_directory(tmp_path: Path) -> None:
    result = subprocess.run([ORBITASK, "config", "show"], cwd=tmp_path, env={**bare_env(), "COLUMNS": "200"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ORBITASK_DATA_DIR" in result.stdout and "ORBITASK_LOG_JSON" in result.stdout
    assert not (tmp_path / ".orbitask").exists()


def _read_until(fd: int, marker: bytes, proc: subprocess.Popen[bytes]) -> bytes:
    """What the process wrote to `fd` up to and including the line holding `marker` (bounded)."""
    out = b""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while marker not in out or not out.endswith(b"\n"):
        assert proc.poll() is None, f"exited with {proc.returncode}: {out.decode(errors='replace')}"
        assert time.monotonic() < deadline, f"no {marker!r} in: {out.decode(errors='replace')}"
        if select.select([fd], [], [], 1)[0]:
            out += os.read(fd, 65536)
    return out


@pytest.mark.parametrize("log_json", [None, "1"], ids=["terminal", "terminal-forced-json"])
def test_a_terminal_gets_readable_lines_and_one_summary(tmp_path: Path, log_json: str | None) -> None:
    env = bare_env() if log_json is None else {**bare_env(), "ORBITASK_LOG_JSON": log_json}
    leader, follower = pty.openpty()
    try:
        with serving(tmp_path, env, stderr=follower) as (_, proc):
            out = _read_until(leader, b"orbitask_started", proc).decode(errors="replace")
    finally:
        os.close(follower)
        os.close(leader)
    lines = [line for line in ANSI.sub("", out.replace("\r", "")).splitlines() if line.strip()]
    serving_lines = [line for line in lines if "orbitask_serving" in line]
    assert len(serving_lines) == 1, lines
    if log_json is None:
        assert not any(line.lstrip().startswith("{") for line in lines), lines
        summary = serving_lines[0]
        for part in ("url=", "http://127.0.0.1:", "data_dir=", ".orbitask", "database=", "workers=", "services="):
            assert part in summary, summary
    else:
        summary = json.loads(serving_lines[0])
        assert summary["url"].startswith("http://127.0.0.1:") and summary["workers"] == 1


def test_a_pipe_gets_json_lines_without_every_setting(tmp_path: Path) -> None:
    with serving(tmp_path, bare_env(), stderr=subprocess.PIPE) as (_, proc):
        assert proc.stderr is not None
        out = _read_until(proc.stderr.fileno(), b"orbitask_started", proc).decode()
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    events = {line["event"]: line for line in lines}
    assert events["orbitask_serving"]["data_dir"] == str(tmp_path / ".orbitask")
    assert "settings" not in events["orbitask_started"]  # every setting: `orbitask config show`
