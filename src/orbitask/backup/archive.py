"""Backup and restore: a tar archive of one workspace or all, from one consistent snapshot.

Layout of the archive (members in this order):
  manifest.json          format, version, schema revision, scope, per-table row counts and SHA-256,
                         per-file size and SHA-256
  data/<table>.jsonl     one JSON object per row, tables in foreign-key order
  files/<storage key>    attachment bytes (and thumbnails) from object storage

Restore verifies every checksum before writing anything, then loads into an empty database.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import io
import json
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from orbitask import __version__
from orbitask.core.db import Database, repeatable_read
from orbitask.core.storage import Storages
from orbitask.search import index as search_index

FORMAT = "orbitask-backup"
FORMAT_VERSION = 1
SKIPPED = {"idempotency_key", "topology"}  # ephemeral, or about this deployment rather than its data
PERSONAL = {"api_token", "calendar_feed", "refresh_token"}  # credentials: only in a full backup
# derived from other tables, in a backend's own encoding: rebuilt by restore instead (search/index.py)
DERIVED = {"search_entry"}
BATCH = 500
Progress = Callable[[str, int, int | None], None]  # (task, advance, total)


def _no_progress(_: str, __: int, ___: int | None) -> None:
    return None


def _encode(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def _decoder(column: sa.Column[Any]) -> Callable[[Any], Any]:
    kind = getattr(column.type, "impl", column.type)
    if isinstance(kind, sa.Uuid):
        return lambda v: uuid.UUID(v)
    if isinstance(kind, sa.DateTime):
        return dt.datetime.fromisoformat
    if isinstance(kind, sa.Date):
        return dt.date.fromisoformat
    if isinstance(kind, sa.LargeBinary):
        return base64.b64decode
    return lambda v: v


def _tables() -> list[sa.Table]:
    from orbitask.models import metadata

    return list(metadata.sorted_tables)


@dataclass
class Manifest:
    scope: str
    revision: str | None
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps({
            "format": FORMAT, "format_version": FORMAT_VERSION, "orbitask_version": __version__,
            "created_at": dt.datetime.now(dt.UTC).isoformat(), "scope": self.scope, "schema_revision": self.revision,
            "tables": self.tables, "files": self.files,
        }, indent=2).encode()


class _TableSpool:
    """A table's rows as JSON lines in a temporary file, hashed and counted as written."""

    def __init__(self, stack: ExitStack) -> None:
        self.file: IO[bytes] = stack.enter_context(tempfile.TemporaryFile())
        self.sha = hashlib.sha256()
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        line = json.dumps({k: _encode(v) for k, v in row.items()}, ensure_ascii=False, sort_keys=True).encode() + b"\n"
        self.file.write(line)
        self.sha.update(line)
        self.rows += 1


def _workspace_filters(table: sa.Table, workspace_id: uuid.UUID, kept: dict[str, set[Any]]) -> Any | None:
    """The condition selecting `table`'s rows that belong to the workspace, or None (table left out)."""
    if table.name == "workspace":
        return table.c.id == workspace_id
    if "workspace_id" in table.c:
        return table.c.workspace_id == workspace_id
    # a child of a table already selected (board -> list -> card -> ...), through a required reference first:
    # a nullable one (search_entry.comment_id) would keep only the rows that have it
    for fk in sorted(table.foreign_keys, key=lambda fk: (fk.parent.nullable, fk.parent.name)):
        parent = fk.column.table.name
        if parent not in ("user_account",) and parent in kept:
            return fk.parent.in_(kept[parent]) if kept[parent] else sa.false()
    return None


async def _dump_tables(session: AsyncSession, stack: ExitStack, workspace_id: uuid.UUID | None,
                       progress: Progress) -> tuple[dict[str, _TableSpool], list[tuple[str, str | None]]]:
    tables = [t for t in _tables() if t.name not in SKIPPED | DERIVED
              and (workspace_id is None or t.name not in PERSONAL)]
    spools: dict[str, _TableSpool] = {}
    kept: dict[str, set[Any]] = {}  # primary keys selected per table (workspace scope: to select children)
    users: set[Any] = set()
    files: list[tuple[str, str | None]] = []
    order = [t for t in tables if t.name != "user_account"] + [t for t in tables if t.name == "user_account"]
    for table in order:
        query = sa.select(table)
        if workspace_id is not None:
            if table.name == "user_account":
                query = query.where(table.c.id.in_(users)) if users else query.where(sa.false())
            else:
                condition = _workspace_filters(table, workspace_id, kept)
                if condition is None:
                    continue
                query = query.where(condition)
        spool = spools[table.name] = _TableSpool(stack)
        pk = list(table.primary_key.columns)
        ids: set[Any] = set()
        user_columns = [fk.parent.name for fk in table.foreign_keys if fk.column.table.name == "user_account"]
        result = await session.stream(query.order_by(*pk))
        async for row in result.mappings():
            spool.write(dict(row))
            if len(pk) == 1:
                ids.add(row[pk[0].name])
            users.update(row[c] for c in user_columns if row[c] is not None)
            if table.name == "attachment":
                files.append((row["storage_key"], row["region"]))
                if row["thumbnail_key"]:
                    files.append((row["thumbnail_key"], row["region"]))
        kept[table.name] = ids
        progress("tables", 1, len(order))
    return spools, files


async def _revision(session: AsyncSession) -> str | None:
    try:
        return await session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    except Exception:  # a database made without Alembic (tests): no revision to record
        return None


async def backup(db: Database, storages: Storages, out: Path, *, workspace_id: uuid.UUID | None = None,
                 progress: Progress = _no_progress) -> Manifest:
    """Write the archive to `out` (a temporary name first, renamed when complete)."""
    partial = out.with_name(out.name + ".partial")
    with ExitStack() as stack:
        async with db.read_session(on_writer=True) as session, repeatable_read(session):
            revision = await _revision(session)
            if workspace_id is not None and not await session.scalar(
                sa.select(sa.func.count()).select_from(sa.table("workspace", sa.column("id")))
                .where(sa.column("id") == workspace_id)
            ):
                raise ValueError(f"no workspace {workspace_id}")
            spools, files = await _dump_tables(session, stack, workspace_id, progress)
        manifest = Manifest(f"workspace:{workspace_id}" if workspace_id else "all", revision)
        for name, spool in spools.items():
            manifest.tables[name] = {"rows": spool.rows, "sha256": spool.sha.hexdigest()}
        with tarfile.open(partial, "w:gz") as tar:
            blobs = []
            for key, region in files:
                storage = storages.of_region(region or "") or storages.local
                if await storage.stat(key) is None:
                    storage = storages.local
                blob = stack.enter_context(tempfile.TemporaryFile())
                sha, size = hashlib.sha256(), 0
                async for chunk in storage.read(key):
                    blob.write(chunk)
                    sha.update(chunk)
                    size += len(chunk)
                manifest.files[key] = {"size": size, "sha256": sha.hexdigest()}
                blobs.append((key, blob, size))
                progress("files", 1, len(files))
            _add(tar, "manifest.json", io.BytesIO(manifest.to_json()), len(manifest.to_json()))
            for table in _tables():  # foreign-key order: restore inserts parents first
                if (spool := spools.get(table.name)) is not None:
                    _add(tar, f"data/{table.name}.jsonl", spool.file, spool.file.tell())
            for key, blob, size in blobs:
                _add(tar, f"files/{key}", blob, size)
    partial.replace(out)
    return manifest


def _add(tar: tarfile.TarFile, name: str, data: IO[bytes], size: int) -> None:
    data.seek(0)
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(dt.datetime.now(dt.UTC).timestamp())
    tar.addfile(info, data)


class BackupError(Exception):
    """The archive is not a valid Orbitask backup, or the target cannot take it."""


def read_manifest(path: Path) -> dict[str, Any]:
    """The archive's manifest, after checking every member against it."""
    with tarfile.open(path, "r:gz") as tar:
        first = tar.next()
        if first is None or first.name != "manifest.json":
            raise BackupError(f"{path} is not an Orbitask backup (no manifest first)")
        manifest = json.loads(_read(tar, first))
        if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
            raise BackupError(f"{path}: unsupported backup format {manifest.get('format')!r}")
        seen: set[str] = set()
        for member in tar:
            if member.name == "manifest.json":
                continue
            data = _read(tar, member)
            kind, _, name = member.name.partition("/")
            expected = (manifest["tables"].get(name.removesuffix(".jsonl")) if kind == "data"
                        else manifest["files"].get(name) if kind == "files" else None)
            if expected is None:
                raise BackupError(f"{path}: unexpected member {member.name}")
            if hashlib.sha256(data).hexdigest() != expected["sha256"]:
                raise BackupError(f"{path}: checksum mismatch in {member.name}: the archive is damaged")
            if kind == "data" and data.count(b"\n") != expected["rows"]:
                raise BackupError(f"{path}: row count mismatch in {member.name}")
            seen.add(member.name)
        wanted = {f"data/{t}.jsonl" for t in manifest["tables"]} | {f"files/{k}" for k in manifest["files"]}
        if missing := sorted(wanted - seen):
            raise BackupError(f"{path}: members missing from the archive: {missing[:5]}")
    return manifest


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:
        raise BackupError(f"archive member {member.name} is not a file")
    return handle.read()


def _batches(lines: Iterator[bytes], decoders: dict[str, Callable[[Any], Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for line in lines:
        raw = json.loads(line)
        batch.append({k: (decoders[k](v) if v is not None and k in decoders else v) for k, v in raw.items()})
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def restore(db: Database, storages: Storages, path: Path, *, progress: Progress = _no_progress) -> dict[str, Any]:
    """Load the archive into an empty database (and its files into storage); refuses a non-empty one."""
    manifest = read_manifest(path)
    tables = {t.name: t for t in _tables()}
    async with db.write_transaction() as session:
        busy = []
        for name in tables:
            if name not in SKIPPED and await session.scalar(sa.select(sa.func.count()).select_from(tables[name])):
                busy.append(name)
        if busy:
            raise BackupError(
                f"the target database is not empty (rows in {', '.join(busy[:5])}); restore only into a freshly "
                "migrated database: `orbitask db upgrade` on a new one"
            )
        total = sum(t["rows"] for t in manifest["tables"].values())
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                kind, _, name = member.name.partition("/")
                if kind == "data":
                    table = tables[name.removesuffix(".jsonl")]
                    decoders = {c.name: _decoder(c) for c in table.columns}
                    for rows in _batches(iter(_read(tar, member).splitlines()), decoders):
                        await session.execute(sa.insert(table), rows)
                        progress("rows", len(rows), total)
                elif kind == "files":
                    await storages.local.put_bytes(name, _read(tar, member), content_type="application/octet-stream")
                    progress("files", 1, len(manifest["files"]))
        cards = manifest["tables"].get("card", {}).get("rows", 0)
        await search_index.rebuild_board(session, None, progress=lambda n: progress("search index", n, cards))
        await _reset_sequences(session, [tables[n] for n in manifest["tables"]])
    return manifest


async def _reset_sequences(session: AsyncSession, tables: list[sa.Table]) -> None:
    """PostgreSQL: move identity sequences past the restored ids (MariaDB and SQLite follow by themselves)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        for column in table.primary_key.columns:
            if column.autoincrement is True or (column.autoincrement == "auto" and isinstance(column.type, sa.Integer)):
                await session.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', '{column.name}'), "
                    f"COALESCE((SELECT MAX(\"{column.name}\") FROM \"{table.name}\"), 0) + 1, false)"
                ))
