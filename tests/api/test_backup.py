"""Backup -> restore into a fresh database -> the API returns the same boards, cards, comments and files."""

from __future__ import annotations

import asyncio
import gzip
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from typer.testing import CliRunner

from orbitask.app import create_app
from orbitask.backup.archive import BackupError, backup, read_manifest
from orbitask.cli import app as cli
from orbitask.core.migrate import upgrade
from tests.conftest import Api, User, make_settings

PICTURE = bytes(range(256)) * 40


async def _content(api: Api) -> dict[str, Any]:
    alice, bob = await api.user("Alice"), await api.user("Bob")
    await api.join(alice, bob, "member")
    board = await api.board(alice, name="Launch")
    todo = await api.list(alice, board["id"], "To do")
    label = await api.ok(alice, "POST", f"/boards/{board['id']}/labels", json={"name": "bug", "color": "red"})
    card = await api.card(alice, todo["id"], "Ship it", description="**now**", assignee_ids=[str(bob.id)],
                          label_ids=[label["id"]])
    await api.card(alice, todo["id"], "Then rest")
    await api.ok(bob, "POST", f"/cards/{card['id']}/comments", json={"body": "on it"})
    checklist = await api.ok(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "Steps"})
    await api.ok(alice, "POST", f"/checklists/{checklist['id']}/items", json={"text": "tag"})
    att = await api.ok(alice, "POST", f"/cards/{card['id']}/attachments",
                       files={"file": ("data.bin", PICTURE, "application/octet-stream")})
    carol = await api.user("Carol")  # another workspace: left out of a workspace backup
    other = await api.board(carol, name="Carol's")
    return {"alice": alice, "bob": bob, "carol": carol, "board": board, "card": card, "att": att, "other": other}


async def _view(client: httpx.AsyncClient, c: dict[str, Any]) -> dict[str, Any]:
    """What the API shows of the content, as alice."""
    h = c["alice"].headers

    async def get(path: str) -> Any:
        r = await client.get("/api/v1" + path, headers=h)
        assert r.status_code == 200, (path, r.text)
        return r.json() if "json" in r.headers["content-type"] else r.content

    return {
        "board": await get(f"/boards/{c['board']['id']}"),
        "cards": await get(f"/boards/{c['board']['id']}/cards"),
        "card": await get(f"/cards/{c['card']['id']}"),
        "search": [await get(f"/search?q={word}") for word in ("ship", "now", "on it", "tag", "data")],
        "comments": await get(f"/cards/{c['card']['id']}/comments"),
        "members": await get(f"/workspaces/{c['alice'].workspace_id}/members"),
        "file": await get(f"/attachments/{c['att']['id']}/content"),
    }


async def _served_view(data_dir: Path, c: dict[str, Any], user: User | None = None) -> tuple[dict[str, Any], int]:
    app = create_app(make_settings(data_dir))
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            view = await _view(client, c)
            other = await client.get(f"/api/v1/boards/{c['other']['id']}", headers=c["carol"].headers)
            return view, other.status_code


def _cli(data_dir: Path, *args: str) -> Any:
    env = {"ORBITASK_DATA_DIR": str(data_dir), "ORBITASK_SECRET_KEY": "unused-" + "x" * 40,
           "ORBITASK_LOG_LEVEL": "WARNING"}
    return CliRunner().invoke(cli, list(args), env=env)


def _fresh(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    target.mkdir()
    upgrade(f"sqlite+aiosqlite:///{target / 'orbitask.db'}")
    return target


async def test_backup_then_restore_gives_back_the_same_boards_cards_comments_and_files(
    api: Api, app: Any, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    c = await _content(api)
    before = await _view(client, c)
    assert before["file"] == PICTURE
    rt = app.state.runtime

    archive = tmp_path / "all.tar.gz"
    manifest = await backup(rt.db, rt.files, archive)
    assert manifest.tables["card"]["rows"] == 2 and manifest.tables["comment"]["rows"] == 1
    assert len(manifest.files) >= 1 and "idempotency_key" not in manifest.tables
    assert read_manifest(archive)["scope"] == "all"

    target = _fresh(tmp_path, "restored")
    result = await asyncio.to_thread(_cli, target, "restore", str(archive))
    assert result.exit_code == 0, result.output
    assert "Restored" in result.output
    after, other = await _served_view(target, c)
    assert after == before
    assert other == 200  # everything came back, other workspaces too

    # a second restore into the now non-empty database is refused, naming the problem
    again = await asyncio.to_thread(_cli, target, "restore", str(archive))
    assert again.exit_code == 1 and "not empty" in again.output


async def test_a_workspace_backup_holds_that_workspace_only(
    api: Api, app: Any, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    c = await _content(api)
    before = await _view(client, c)
    rt = app.state.runtime
    archive = tmp_path / "alice.tar.gz"
    manifest = await backup(rt.db, rt.files, archive, workspace_id=c["alice"].workspace_id)
    assert manifest.tables["workspace"]["rows"] == 1
    assert manifest.tables["user_account"]["rows"] == 2  # alice and bob, not carol
    assert "search_entry" not in manifest.tables  # derived: restore rebuilds it (the views compare search hits)
    assert "refresh_token" not in manifest.tables and "api_token" not in manifest.tables

    target = _fresh(tmp_path, "restored")
    assert (await asyncio.to_thread(_cli, target, "restore", str(archive))).exit_code == 0
    after, other = await _served_view(target, c)
    assert after == before
    assert other == 404  # carol's workspace and board are not in this backup


async def test_a_damaged_archive_is_refused_before_anything_is_written(
    api: Api, app: Any, tmp_path: Path
) -> None:
    await _content(api)
    rt = app.state.runtime
    archive = tmp_path / "all.tar.gz"
    await backup(rt.db, rt.files, archive)
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive, "r:gz") as src, tarfile.open(damaged, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "data/card.jsonl":
                data = data.replace(b"Ship it", b"Ship IT")
            member.size = len(data)
            dst.addfile(member, __import__("io").BytesIO(data))
    with pytest.raises(BackupError, match="checksum mismatch in data/card.jsonl"):
        read_manifest(damaged)
    target = _fresh(tmp_path, "restored")
    result = await asyncio.to_thread(_cli, target, "restore", str(damaged))
    assert result.exit_code == 1 and "damaged" in result.output
    not_a_backup = tmp_path / "x.tar.gz"
    not_a_backup.write_bytes(gzip.compress(b"hello"))
    assert (await asyncio.to_thread(_cli, target, "restore", str(not_a_backup))).exit_code == 1
