"""What `orbitask search reindex` runs: against the writer directly, with a progress bar."""

from __future__ import annotations

import asyncio
import uuid

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from orbitask.config import Settings
from orbitask.core.db import Database
from orbitask.search import index

console = Console(stderr=True)


def run_reindex(settings: Settings, board: str | None) -> None:
    """Recompute the search entries of every card (or one board's), BATCH cards per transaction."""
    try:
        board_id = uuid.UUID(board) if board is not None else None
    except ValueError:
        console.print(f"[red]Failed:[/red] {escape(repr(board))} is not a board id.", soft_wrap=True)
        raise typer.Exit(2) from None

    async def run() -> int:
        db = Database.from_settings(settings)
        try:
            with Progress(TextColumn("Indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("cards"),
                          TimeElapsedColumn(), console=console) as bar:
                task = bar.add_task("cards", total=None)
                return await index.reindex(
                    db, board_id=board_id, progress=lambda done, total: bar.update(task, completed=done, total=total))
        finally:
            await db.dispose()

    done = asyncio.run(run())
    console.print(f"[green]Reindexed[/green] {done:,} card(s).")
