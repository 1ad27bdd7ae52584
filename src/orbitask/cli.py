"""`orbitask` command line: serve, worker, db, demo, config, import, export, backup, restore, lab, failover, search."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orbitask.auth.admin_cli import admin_app
from orbitask.config import ALL_SERVICES, DataDirError, Settings, tighten_data_dir
from orbitask.lab.cli import DEFAULT_DIR as LAB_DIR
from orbitask.lab.cli import lab_app

if TYPE_CHECKING:
    from orbitask.tasks.replication import GcReport

app = typer.Typer(help="Orbitask: multi-region task management.", no_args_is_help=True, add_completion=False)
import_app = typer.Typer(help="Import boards from Trello or Orbitask exports.", no_args_is_help=True)
export_app = typer.Typer(help="Export boards as Orbitask JSON or CSV.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
worker_app = typer.Typer(help="Background work: the job runner (bare `orbitask worker`), attachment replication "
                         "and garbage collection.")
search_app = typer.Typer(help="Full-text search.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(lab_app, name="lab")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(worker_app, name="worker")
app.add_typer(search_app, name="search")
app.add_typer(admin_app, name="admin")
console = Console(stderr=True)
PRIVATE_UMASK = 0o077  # the data may hold anything users wrote: no other account on the machine reads it


def _settings(*, data_dir: bool = True, **overrides: object) -> Settings:
    """The settings, validated; with `data_dir`, the data directory exists afterwards (created on first run).

    From then on every file the process creates (database, attachments, exports, backups) is for its
    owner only: 0600, directories 0700, whatever the umask it was started with.
    """
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
        if data_dir:
            os.umask(PRIVATE_UMASK)
            warning = tighten_data_dir(settings.ensure_data_dir())
            if warning:
                console.print(f"[yellow]{escape(warning)}[/yellow]", soft_wrap=True)
        return settings
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            console.print(f"[red]Invalid configuration[/red] {where}: {err['msg']}")
        raise typer.Exit(2) from None
    except DataDirError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None


def _migrate(settings: Settings) -> None:
    from orbitask.core.migrate import upgrade

    upgrade(settings.writer_url)


def _keep_search_index() -> None:
    """Commands that write cards keep the search index in their transactions: importing it registers its hook
    (not at start: every other command would wait for the import)."""
    import orbitask.search.index  # noqa: F401


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
    services: Annotated[str | None, typer.Option(help=f"comma-separated subset of {','.join(ALL_SERVICES)}")] = None,
    migrate: Annotated[bool, typer.Option(help="apply migrations first (default for SQLite)")] = True,
) -> None:
    """Serve the API (and the web app when built)."""
    import structlog
    import uvicorn

    from orbitask.core.observability import configure_logging

    settings = _settings(host=host, port=port, workers=workers, services=services)
    if migrate and settings.writer_url.startswith("sqlite"):
        _migrate(settings)
    # Workers re-read settings from the environment: pass the choices down that way.
    os.environ["ORBITASK_SERVICES"] = ",".join(settings.services)
    os.environ["ORBITASK_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ["ORBITASK_PUBLIC_URL"] = settings.public_url  # as derived from --host/--port, when not set
    _ = settings.signing_key  # generate the local secret once, before workers race for it
    configure_logging(settings.log_level, settings.log_json)
    log = structlog.get_logger("orbitask.serve")
    if (unset := settings.public_url_warning()) is not None:  # a log line: a pipe still reads JSON lines only
        log.warning("public_url_unset", detail=unset)
    log.info("orbitask_serving", **settings.summary())
    uvicorn.run(
        "orbitask.app:app_from_env", factory=True, host=settings.host, port=settings.port,
        workers=settings.workers, log_level="warning", access_log=False,
        proxy_headers=settings.forwarded_allow_ips is not None, forwarded_allow_ips=settings.forwarded_allow_ips,
        ws_per_message_deflate=settings.ws_compression,
        # slow or hostile clients: idle keep-alive connections close, header blocks are bounded,
        # and past a number of concurrent connections new requests get 503 instead of queueing
        timeout_keep_alive=settings.http_keep_alive_seconds,
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
        limit_concurrency=settings.http_max_concurrency or None,
        timeout_graceful_shutdown=settings.http_graceful_shutdown_seconds,
    )


@worker_app.callback(invoke_without_command=True)
def worker(
    ctx: typer.Context,
    jobs: Annotated[str | None, typer.Option(help="comma-separated subset of the jobs (default: all)")] = None,
    migrate: Annotated[bool, typer.Option(help="apply migrations first (default for SQLite)")] = True,
) -> None:
    """Run the background jobs (notifications, e-mail, webhooks, reminders, ...) until stopped (Ctrl-C, SIGTERM)."""
    if ctx.invoked_subcommand is not None:
        return
    import signal

    from orbitask.core.jobs import Worker
    from orbitask.core.observability import configure_logging
    from orbitask.core.runtime import Runtime

    settings = _settings()
    configure_logging(settings.log_level, settings.log_json)
    if migrate and settings.writer_url.startswith("sqlite"):
        _migrate(settings)
    _keep_search_index()
    only = [j.strip() for j in jobs.split(",") if j.strip()] if jobs else None

    async def main() -> None:
        runtime = Runtime.from_settings(settings)
        try:
            try:
                runner = Worker(runtime, only=only)
            except ValueError as exc:
                console.print(f"[red]{exc}[/red]")
                raise typer.Exit(2) from None
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            console.print(f"Orbitask worker running {', '.join(runner.steps) or 'no jobs'}; Ctrl-C stops it.")
            await runner.run_until(stop)
            console.print("Worker stopped.")
        finally:
            await runtime.close()

    asyncio.run(main())


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
    for name, value in _settings(data_dir=False).shown().items():
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
    _keep_search_index()
    run_import(settings, "trello", file, workspace, as_user)


@import_app.command("orbitask")
def import_orbitask(file: FileArg, workspace: WorkspaceOpt, as_user: AsOpt = None) -> None:
    """Import an Orbitask board or workspace export (`orbitask export ...`)."""
    from orbitask.transfer.cli import run_import

    settings = _settings()
    _migrate_sqlite(settings)
    _keep_search_index()
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


@app.command("backup")
def backup_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="the archive to write (.tar.gz)")],
    workspace: Annotated[str | None, typer.Option(help="back up this workspace (its id) only")] = None,
) -> None:
    """Write a consistent archive of all data (or one workspace) and its attachment files."""
    from orbitask.backup.cli import run_backup

    run_backup(_settings(), output, workspace)


@app.command("restore")
def restore_cmd(archive: Annotated[Path, typer.Argument(help="an archive written by `orbitask backup`")]) -> None:
    """Load a backup into an empty, migrated database (refuses one that holds data)."""
    from orbitask.backup.cli import run_restore

    settings = _settings()
    _migrate_sqlite(settings)
    run_restore(settings, archive)


@app.command()
def demo(
    password: Annotated[str, typer.Option(help="password of the demo users")] = "orbitask-demo",
) -> None:
    """Seed a demo workspace: two users, three boards with lists, cards, labels, checklists and comments."""
    from orbitask.demo import seed

    settings = _settings()
    _migrate(settings)
    _keep_search_index()
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


@search_app.command("reindex")
def search_reindex(
    board: Annotated[str | None, typer.Option(help="only this board's cards (its id)")] = None,
) -> None:
    """Rebuild the search index from the cards, comments, checklist items and attachments (on the writer)."""
    from orbitask.search.cli import run_reindex

    settings = _settings()
    _migrate_sqlite(settings)
    run_reindex(settings, board)


@app.command("failover")
def failover_cmd(
    to: Annotated[str | None, typer.Option(help="region to promote (default: the most advanced replica)")] = None,
    planned: Annotated[bool, typer.Option("--planned", help="switchover: fence, wait for the target, promote")] = False,
    lab_dir: Annotated[Path, typer.Option("--lab-dir", help="the lab to act on")] = LAB_DIR,
    aws: Annotated[bool, typer.Option("--aws", help="AWS: RDS global database switchover/failover, then topology")] = False,
    global_cluster: Annotated[str | None, typer.Option(help="--aws: the Aurora global database identifier")] = None,
) -> None:
    """Fail over the writer region: the lab's MariaDB GTID replication, or with --aws an Aurora global database.

    --planned loses nothing (a switchover); without it an AWS failover allows data loss, as RDS names it.
    """
    if not aws:
        from orbitask.lab.cli import _do_failover

        _do_failover(lab_dir, to, planned)
        return
    if not to or not global_cluster:
        console.print("[red]--aws needs --to REGION and --global-cluster ID[/red]")
        raise typer.Exit(2)
    from orbitask.core.db import Database
    from orbitask.regions.aws import aws_failover
    from orbitask.regions.topology import set_writer

    settings = _settings(data_dir=False)
    target: str = to
    cluster: str = global_cluster

    async def run() -> None:
        # the topology row is written on the new writer: this process must run with that region's settings
        db = Database.from_settings(settings)
        try:
            result = await aws_failover(cluster, target, planned, lambda region: set_writer(db, region),
                                        progress=lambda line, at: console.print(f"{at:6.0f} s  {line}"))
        finally:
            await db.dispose()
        console.print(f"[green]{target} writes now[/green] (epoch {result.epoch}, {result.elapsed_s:.0f} s, "
                      f"{result.polls} checks)")

    try:
        asyncio.run(run())
    except (RuntimeError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


def _gc_line(r: GcReport) -> str:
    return (f"{r.objects_seen} files scanned, {r.objects_deleted} deleted "
            f"({r.bytes_freed / 1048576:.1f} MiB), {r.rows_purged} attachment rows purged")


@worker_app.command("gc")
def worker_gc(
    grace: Annotated[int | None, typer.Option(help="seconds; default ORBITASK_ATTACHMENT_GC_GRACE_SECONDS")] = None,
    purge_rows: Annotated[bool, typer.Option(help="also delete the rows (writer region only)")] = True,
) -> None:
    """Delete files of attachments deleted, or never recorded, longer ago than the grace period."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from orbitask.core.db import Database
    from orbitask.core.observability import configure_logging
    from orbitask.core.storage import Storages
    from orbitask.tasks.replication import collect_garbage

    settings = _settings()
    configure_logging(settings.log_level, settings.log_json)

    async def run() -> GcReport:
        db = Database.from_settings(settings)
        storages = Storages.from_settings(settings)
        try:
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console) as progress:
                task = progress.add_task("collecting attachment garbage")
                return await collect_garbage(
                    db, storages.local, grace_s=settings.attachment_gc_grace_seconds if grace is None else grace,
                    purge_rows=purge_rows, progress=lambda r: progress.update(task, description=_gc_line(r)),
                )
        finally:
            await db.dispose()

    report = asyncio.run(run())
    Console().print(f"[green]Done:[/green] {_gc_line(report)}.")


@worker_app.command("replicate")
def worker_replicate(
    all_: Annotated[bool, typer.Option("--all", help="check every attachment from other regions, not just new events")]
    = False,
) -> None:
    """Copy attachments uploaded in other regions into this region's storage, once."""
    from orbitask.core.db import Database
    from orbitask.core.storage import Storages
    from orbitask.tasks.replication import Replicator

    settings = _settings()

    async def run() -> int:
        db = Database.from_settings(settings)
        replicator = Replicator(db, Storages.from_settings(settings), _cursor_path(settings))
        try:
            return await (replicator.reconcile() if all_ else replicator.run_once())
        finally:
            await db.dispose()

    Console().print(f"[green]Copied {asyncio.run(run())} file(s)[/green] into {settings.region}'s storage.")


def _cursor_path(settings: Settings) -> Path:
    return settings.data_dir / f"replication-{settings.region}.cursor"


@worker_app.command("run")
def worker_run(
    interval: Annotated[float, typer.Option(help="seconds between replication passes")] = 2.0,
    gc_every: Annotated[float, typer.Option(help="seconds between garbage collections (0: never)")] = 3600.0,
    purge_rows: Annotated[bool, typer.Option(help="GC also deletes rows (writer region only)")] = True,
) -> None:
    """Run until stopped: replicate new attachments from other regions; periodically re-check them all and collect
    garbage."""
    import structlog

    from orbitask.core.backoff import Backoff, Outage
    from orbitask.core.db import Database
    from orbitask.core.observability import configure_logging
    from orbitask.core.storage import Storages
    from orbitask.tasks.replication import Replicator, collect_garbage

    settings = _settings()
    configure_logging(settings.log_level, settings.log_json)
    log = structlog.get_logger("orbitask.worker")

    async def run() -> None:
        db = Database.from_settings(settings)
        storages = Storages.from_settings(settings)
        replicator = Replicator(db, storages, _cursor_path(settings))
        loop = asyncio.get_running_loop()
        next_gc = loop.time() + gc_every if gc_every > 0 else float("inf")
        reconciled = not storages.peers
        outage = Outage(log, loop="attachment-replicator", backoff=Backoff(min_s=interval, max_s=max(interval, 60)))
        try:
            while True:
                try:  # a database or storage outage fails this pass, not the worker: the next pass retries
                    if not reconciled:
                        await replicator.reconcile()
                        reconciled = True
                    if storages.peers:
                        await replicator.run_once()
                    if loop.time() >= next_gc:
                        if storages.peers:  # events skipped at a sequence gap or during an outage
                            await replicator.reconcile()
                        await collect_garbage(db, storages.local, grace_s=settings.attachment_gc_grace_seconds,
                                              purge_rows=purge_rows)
                        next_gc = loop.time() + gc_every
                except Exception as exc:  # logged once per outage, retried with a growing pause
                    await asyncio.sleep(outage.failed(exc))
                    continue
                outage.ok()
                await asyncio.sleep(interval)
        finally:
            await db.dispose()

    gc_line = f"garbage collection every {gc_every:g} s" if gc_every > 0 else "no garbage collection"
    console.print(f"Orbitask worker for region {settings.region}: replication every {interval:g} s, {gc_line}")
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    app()
