"""`orbitask backup` and `orbitask restore`: run against the database and storage directly, with progress bars."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from orbitask.backup.archive import BackupError, backup, restore
from orbitask.config import Settings
from orbitask.core.db import Database
from orbitask.core.storage import Storages

console = Console(stderr=True)


def _run(settings: Settings, work: Callable[[Database, Storages, Any], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        db = Database.from_settings(settings)
        try:
            with Progress(TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=console, transient=False) as bars:
                tasks: dict[str, Any] = {}

                def progress(name: str, advance: int, total: int | None) -> None:
                    if name not in tasks:
                        tasks[name] = bars.add_task(name, total=total)
                    bars.update(tasks[name], advance=advance, total=total)

                return await work(db, Storages.from_settings(settings), progress)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except (BackupError, ValueError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def run_backup(settings: Settings, output: Path, workspace: str | None) -> None:
    """Write the archive and print what it holds."""
    try:
        workspace_id = uuid.UUID(workspace) if workspace else None
    except ValueError:
        console.print(f"[red]error:[/red] --workspace takes a workspace id, not {workspace!r}")
        raise typer.Exit(2) from None
    manifest = _run(settings, lambda db, st, p: backup(db, st, output, workspace_id=workspace_id, progress=p))
    rows = sum(t["rows"] for t in manifest.tables.values())
    console.print(f"Backed up {rows:,} rows in {len(manifest.tables)} tables and {len(manifest.files)} files "
                  f"({manifest.scope}) to {output}")


def run_restore(settings: Settings, archive: Path) -> None:
    """Load the archive into the (empty) configured database."""
    manifest = _run(settings, lambda db, st, p: restore(db, st, archive, progress=p))
    rows = sum(t["rows"] for t in manifest["tables"].values())
    console.print(f"Restored {rows:,} rows and {len(manifest['files'])} files ({manifest['scope']}) from {archive}")
