"""Everything the server keeps in its data directory is for its owner only: files 0600, directories 0700.

A real `orbitask serve` (and the commands a person runs next to it) started with a permissive umask, as a
login shell often has, from an empty directory with no settings.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
from pathlib import Path

import httpx
from PIL import Image

from orbitask.core.storage import LocalStorage
from tests.conftest import PASSWORD, TRELLO_FIXTURE
from tests.e2e.test_first_run import ORBITASK, bare_env, serving

LOOSE_UMASK = 0o002  # group-writable: what Debian gives a user with their own group


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), "orange").save(out, "PNG")
    return out.getvalue()


def modes(root: Path) -> dict[str, str]:
    """The permission bits of `root` and of everything under it, by path relative to it."""
    found = {".": oct(root.stat().st_mode & 0o777)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = oct(path.lstat().st_mode & 0o777)
    return found


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """An `orbitask` command as a person runs it next to the server, with the same loose umask."""
    done = subprocess.run([ORBITASK, *args], cwd=cwd, env=bare_env(), capture_output=True, text=True,
                          timeout=300, umask=LOOSE_UMASK)
    assert done.returncode == 0, done.stderr
    return done


def test_every_file_and_directory_under_the_data_dir_is_private(tmp_path: Path) -> None:
    data_dir = tmp_path / ".orbitask"
    with serving(tmp_path, bare_env(), umask=LOOSE_UMASK) as (url, _), httpx.Client(base_url=url) as http:
        r = http.post("/api/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD, "name": "Ada"})
        assert r.status_code == 201, r.text
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        workspace = http.get("/api/v1/workspaces", headers=auth).json()["items"][0]["id"]
        board = http.post(f"/api/v1/workspaces/{workspace}/boards", headers=auth, json={"name": "B"}).json()["id"]
        lst = http.post(f"/api/v1/boards/{board}/lists", headers=auth, json={"name": "L"}).json()["id"]
        card = http.post(f"/api/v1/lists/{lst}/cards", headers=auth, json={"title": "C"}).json()["id"]
        r = http.post(f"/api/v1/cards/{card}/attachments", headers=auth,
                      files={"file": ("photo.png", png(), "image/png")})
        assert r.status_code == 201, r.text
        assert http.get(f"/api/v1/attachments/{r.json()['id']}/content", headers=auth).content == png()
        r = http.post(f"/api/v1/imports/trello?workspace_id={workspace}", headers=auth,
                      content=TRELLO_FIXTURE.read_bytes())  # spooled through the data dir's tmp/
        assert r.status_code == 201, r.text
        run("backup", "--output", str(data_dir / "backup.tar.gz"), cwd=tmp_path)
        run("export", "workspace", workspace, "--output", str(data_dir / "export.json"), cwd=tmp_path)

        found = modes(data_dir)  # while serving: the write-ahead log and its index exist
    for name in ("orbitask.db", "orbitask.db-wal", "orbitask.db-shm", "secret.key", "backup.tar.gz", "export.json",
                 "files", "tmp"):
        assert name in found, sorted(found)
    assert any(name.startswith("files/") and (data_dir / name).is_file() for name in found), sorted(found)
    loose = {name: mode for name, mode in found.items()
             if mode != ("0o700" if (data_dir / name).is_dir() else "0o600")}
    assert not loose, loose


def test_a_data_dir_open_to_others_is_closed_with_one_warning(tmp_path: Path) -> None:
    data_dir = tmp_path / ".orbitask"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)  # whatever this process's umask
    first = run("db", "upgrade", cwd=tmp_path)
    warnings = [line for line in first.stderr.splitlines() if "open to other users" in line]
    assert len(warnings) == 1 and str(data_dir) in warnings[0] and "0755" in warnings[0], first.stderr
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "orbitask.db").stat().st_mode) == 0o600
    again = run("db", "upgrade", cwd=tmp_path)
    assert "open to other users" not in again.stderr, again.stderr


async def test_local_storage_keeps_attachments_private_under_any_umask(tmp_path: Path) -> None:
    root = tmp_path / "files"
    previous = os.umask(LOOSE_UMASK)  # as in a process not started by the CLI (an ASGI server of one's own)
    try:
        await LocalStorage(root).put_bytes("workspace/card/photo.png", png(), content_type="image/png")
    finally:
        os.umask(previous)
    assert modes(root) == {".": "0o700", "workspace": "0o700", "workspace/card": "0o700",
                           "workspace/card/photo.png": "0o600"}
