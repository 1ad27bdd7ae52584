"""What `orbitask import ...` and `orbitask export ...` run: against the database directly, with progress bars."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from orbitask.auth import service as auth_service
from orbitask.auth import workspaces
from orbitask.auth.policy import Actor
from orbitask.boards import bulk as boards_bulk
from orbitask.config import Settings
from orbitask.core.db import Database
from orbitask.core.errors import DomainError
from orbitask.core.uow import UnitOfWork
from orbitask.transfer import export, service

console = Console(stderr=True)


class Failed(Exception):
    """A message for the operator; exit status 1."""


async def _workspace(db: Database, ref: str) -> uuid.UUID:
    async with db.read_session(on_writer=True) as session:
        found = await workspaces.find_workspaces(session, ref)
    if not found:
        raise Failed(f"No workspace with the id or name {ref!r}.")
    if len(found) > 1:
        raise Failed(f"{len(found)} workspaces are named {ref!r}; give its id: {', '.join(str(i) for i, _ in found)}.")
    return found[0][0]


async def _actor(db: Database, workspace_id: uuid.UUID, email: str | None) -> Actor:
    async with db.read_session(on_writer=True) as session:
        user_id = (await auth_service.user_id_by_email(session, email) if email
                   else await workspaces.first_owner(session, workspace_id))
    if user_id is None:
        raise Failed(f"No user {email!r}." if email else "The workspace has no owner; name a user with --as.")
    return Actor(user_id)


def _run(settings: Settings, work) -> None:  # noqa: ANN001 - a coroutine function taking the database
    async def main() -> None:
        db = Database.from_settings(settings)
        try:
            await work(db)
        finally:
            await db.dispose()

    try:
        asyncio.run(main())
    except (Failed, DomainError) as exc:
        # one line, however long, and the file's text (card names...) shown as is, never as console markup
        message = exc.detail if isinstance(exc, DomainError) else str(exc)
        console.print(f"[red]Failed:[/red] {escape(message)}", soft_wrap=True)
        raise typer.Exit(1) from None


def run_import(settings: Settings, fmt: service.Format, file: Path, workspace: str, as_user: str | None) -> None:
    """Import FILE into a workspace with a progress bar, and print what was imported."""
    if not file.is_file():
        console.print(f"[red]Failed:[/red] no such file: {escape(str(file))}", soft_wrap=True)
        raise typer.Exit(2)

    async def work(db: Database) -> None:
        workspace_id = await _workspace(db, workspace)
        actor = await _actor(db, workspace_id, as_user)
        columns = (TextColumn("{task.description:<8}"), BarColumn(), TaskProgressColumn(),
                   TextColumn("{task.fields[amount]}"), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            read = bar.add_task("Reading", total=file.stat().st_size, amount="")
            write = bar.add_task("Writing", total=None, visible=False, amount="")

            def progress(phase: str, done: int, total: int) -> None:
                if phase == "read":
                    bar.update(read, completed=done, amount=f"{done / 1e6:,.1f} of {total / 1e6:,.1f} MB")
                else:
                    bar.update(write, completed=done, total=total, visible=True, amount=f"{done:,} of {total:,} rows")

            uow = UnitOfWork(db, region=settings.region, actor_id=actor.user_id)
            results = await service.import_file(uow, actor, workspace_id, fmt, file, progress=progress,
                                                spool_dir=settings.data_dir / "tmp")
        table = Table("board", "id", "", "lists", "cards", "checklist items", "comments", title="Imported")
        for b in results:
            c = b.counts
            table.add_row(b.name, str(b.board_id), "new" if b.created else "updated", str(c.get("list", 0)),
                          str(c.get("card", 0)), str(c.get("item", 0)), str(c.get("comment", 0)))
        Console().print(table)

    _run(settings, work)


def run_export(settings: Settings, what: Literal["board", "workspace"], ref: str, fmt: str, output: Path | None,
               as_user: str | None) -> None:
    """Write a board or workspace export to OUTPUT (or standard output)."""

    async def work(db: Database) -> None:
        if what == "board":
            try:
                board_id = uuid.UUID(ref)
            except ValueError:
                raise Failed(f"{ref!r} is not a board id.") from None
            async with db.read_session(on_writer=True) as session:
                found = await boards_bulk.boards_of(session, [board_id])
            if not found:
                raise Failed(f"No board {ref}.")
            actor = await _actor(db, found[0].workspace_id, as_user)
            async with db.read_session(on_writer=True) as session:
                ws, ids = await export.boards_to_export(session, actor, board_id=board_id)
        else:
            workspace_id = await _workspace(db, ref)
            actor = await _actor(db, workspace_id, as_user)
            async with db.read_session(on_writer=True) as session:
                ws, ids = await export.boards_to_export(session, actor, workspace_id=workspace_id)
        body = export.export_csv(db, ids) if fmt == "csv" else export.export_json(db, ws, ids)
        await _write(body, output)
        if output is not None:
            console.print(f"[green]Exported[/green] {len(ids)} board(s) to {output}")

    _run(settings, work)


async def _write(body: AsyncIterator[bytes], output: Path | None) -> None:
    async with contextlib.aclosing(body):  # type: ignore[type-var]
        if output is None:
            try:
                async for chunk in body:
                    sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
            except BrokenPipeError:  # `| head`: the reader has seen enough
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        partial = output.with_name(output.name + ".partial")
        with partial.open("wb") as out:
            async for chunk in body:
                out.write(chunk)
        partial.replace(output)  # never a half-written file under the real name

