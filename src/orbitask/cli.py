"""`orbitask` command line: serve, db, demo, config, import, export."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from orbitask.config import ALL_SERVICES, Settings

app = typer.Typer(help="Orbitask: multi-region task management.", no_args_is_help=True, add_completion=False)
import_app = typer.Typer(help="Import boards from Trello or Orbitask exports.", no_args_is_help=True)
export_app = typer.Typer(help="Export boards as Orbitask JSON or CSV.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
console = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            console.print(f"[red]Invalid configuration[/red] {where}: {err['msg']}")
        raise typer.Exit(2) from None


def _migrate(settings: Settings) -> None:
    from orbitask.core.migrate import upgrade

    upgrade(settings.writer_url)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
    services: Annotated[str | None, typer.Option(help=f"comma-separated subset of {','.join(ALL_SERVICES)}")] = None,
    migrate: Annotated[bool, typer.Option(help="apply migrations first (default for SQLite)")] = True,
) -> None:
    """Serve the API (and the web app when built)."""
    import uvicorn

    settings = _settings(host=host, port=port, workers=workers, services=services)
    if migrate and settings.writer_url.startswith("sqlite"):
        _migrate(settings)
    # Workers re-read settings from the environment: pass the choices down that way.
    os.environ["ORBITASK_SERVICES"] = ",".join(settings.services)
    os.environ["ORBITASK_DATA_DIR"] = str(settings.data_dir.resolve())
    _ = settings.signing_key  # generate the local secret once, before workers race for it
    console.print(
        f"Orbitask serving {', '.join(settings.services)} on [bold]http://{settings.host}:{settings.port}[/bold] "
        f"(API /api/v1, docs http://{settings.host}:{settings.port}/api/docs), {settings.workers} worker(s)"
    )
    uvicorn.run(
        "orbitask.app:app_from_env", factory=True, host=settings.host, port=settings.port,
        workers=settings.workers, log_level="warning", access_log=False, proxy_headers=False,
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION."""
    from orbitask.core.migrate import upgrade

    upgrade(_settings().writer_url, revision)
    console.print("[green]Database is up to date.[/green]")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision."""
    from orbitask.core.migrate import current

    current(_settings().writer_url)


@db_app.command("check")
def db_check() -> None:
    """Fail when the models differ from the migrations."""
    from orbitask.core.migrate import check

    check(_settings().writer_url)
    console.print("[green]Models and migrations agree.[/green]")


@config_app.command("show")
def config_show() -> None:
    """Print the effective settings (secrets masked)."""
    table = Table("setting", "value", title="Orbitask settings")
    for name, value in _settings().shown().items():
        table.add_row(f"ORBITASK_{name.upper()}", str(value))
    Console().print(table)


FileArg = Annotated[Path, typer.Argument(help="the export file", dir_okay=False)]
WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="workspace id or exact name")]
AsOpt = Annotated[str | None, typer.Option("--as", help="act as this user (e-mail); default: the workspace's owner")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="json (re-importable) or csv (cards)")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="file to write; default: standard output")]


@import_app.command("trello")
def import_trello(file: FileArg, workspace: WorkspaceOpt, as_user: AsOpt = None) -> None:
    """Import a Trello board export (board menu > Print, export and share > Export as JSON)."""
    from orbitask.transfer.cli import run_import

    settings = _settings()
    _migrate_sqlite(settings)
    run_import(settings, "trello", file, workspace, as_user)


@import_app.command("orbitask")
def import_orbitask(file: FileArg, workspace: WorkspaceOpt, as_user: AsOpt = None) -> None:
    """Import an Orbitask board or workspace export (`orbitask export ...`)."""
    from orbitask.transfer.cli import run_import

    settings = _settings()
    _migrate_sqlite(settings)
    run_import(settings, "orbitask", file, workspace, as_user)


@export_app.command("board")
def export_board(board_id: str, format: FormatOpt = "json", output: OutputOpt = None,  # noqa: A002
                 as_user: AsOpt = None) -> None:
    """Export one board: JSON that `orbitask import orbitask` reads back, or its cards as CSV."""
    from orbitask.transfer.cli import run_export

    run_export(_settings(), "board", board_id, _format(format), output, as_user)


@export_app.command("workspace")
def export_workspace(workspace: str, format: FormatOpt = "json", output: OutputOpt = None,  # noqa: A002
                     as_user: AsOpt = None) -> None:
    """Export every board of a workspace (by id or exact name) that the acting user can see."""
    from orbitask.transfer.cli import run_export

    run_export(_settings(), "workspace", workspace, _format(format), output, as_user)


def _format(value: str) -> str:
    if value not in ("json", "csv"):
        console.print(f"[red]Unknown format {value!r}[/red]: use json or csv.")
        raise typer.Exit(2)
    return value


def _migrate_sqlite(settings: Settings) -> None:
    if settings.writer_url.startswith("sqlite"):
        _migrate(settings)


@app.command()
def demo(
    password: Annotated[str, typer.Option(help="password of the demo users")] = "orbitask-demo",
) -> None:
    """Seed a demo workspace: two users, three boards with lists, cards, labels, checklists and comments."""
    from orbitask.demo import seed

    settings = _settings()
    _migrate(settings)
    try:
        result = asyncio.run(seed(settings, password))
    except ValidationError as exc:  # e.g. a password shorter than the sign-up rules allow
        for err in exc.errors():
            console.print(f"[red]Cannot seed[/red] {'.'.join(str(p) for p in err['loc'])}: {err['msg']}")
        raise typer.Exit(2) from None
    out = Console()
    if result.already_seeded:
        out.print(f"[yellow]Demo data is already seeded[/yellow] in {settings.data_dir}; nothing was changed.")
    known = result.password_matches
    table = Table("e-mail", "password", title="Demo users (sign in with these)")
    for email in result.emails:
        table.add_row(email, password if known else "(the one given when first seeded)")
    out.print(table)
    if known:
        out.print(f"Workspace [bold]{result.workspace_name}[/bold] with {result.boards} boards, {result.cards} cards.")
    else:
        out.print("That password does not open the demo accounts; sign in with the one used when they were seeded.")


if __name__ == "__main__":
    app()
