"""`orbitask lab up|status|drill|failover|switchover|down` and `orbitask failover`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orbitask.lab.state import REGIONS

lab_app = typer.Typer(help="A local three-region lab: MariaDB replication, Redis, API nodes, WAN, HAProxy.",
                      no_args_is_help=True)
console = Console(stderr=True)
DirOption = Annotated[Path, typer.Option("--dir", help="lab directory (state, data, logs)")]
DEFAULT_DIR = Path(".orbitask-lab")


def _fail(exc: Exception) -> None:
    console.print(f"[red]{escape(str(exc))}[/red]")
    raise typer.Exit(1)


@lab_app.command("up")
def up(
    lab_dir: DirOption = DEFAULT_DIR,
    wan_scale: Annotated[float, typer.Option(min=0, max=10, help="multiply the emulated WAN delays")] = 1.0,
    semi_sync: Annotated[bool, typer.Option(help="semi-synchronous replication, AFTER_SYNC")] = True,
) -> None:
    """Start three regions on 127.0.0.1 (us-east-1 writes); returns once every entry point serves."""
    from orbitask.lab import control

    try:
        with console.status("Starting the lab") as spinner:
            state = control.up(lab_dir, wan_scale, semi_sync, progress=lambda step: spinner.update(f"Starting: {step}"))
    except Exception as exc:
        _fail(exc)
    table = Table("location", "entry point (clients)", "API node", title=f"Lab up in {state.dir}")
    for region in REGIONS:
        table.add_row(region, state.entry_url(region), state.api_url(region))
    Console().print(table)
    Console().print(f"Writer: [bold]{state.writer}[/bold] (epoch {state.epoch}); WAN scale {wan_scale}; "
                    f"semi-sync {'on' if semi_sync else 'off'}. Stop it with `orbitask lab down --dir {lab_dir}`.")


@lab_app.command("status")
def status(lab_dir: DirOption = DEFAULT_DIR, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Processes, writer, epoch, replication state per region."""
    from orbitask.lab import control

    try:
        info = control.status(lab_dir)
    except FileNotFoundError as exc:
        _fail(exc)
    if as_json:
        print(json.dumps(info, indent=2))
        return
    table = Table("region", "role", "db", "redis", "api", "worker", "read_only", "replication", "lag s", "gtid",
                  title=f"Lab {info['status']}: writer {info['writer']} (epoch {info['epoch']})")
    for region, row in info["regions"].items():
        role = "writer" if region == info["writer"] else "replica"
        table.add_row(region, role, *("up" if row.get(k) else "down" for k in ("db", "redis", "api", "worker")),
                      str(row.get("read_only", "")), row.get("replicating", ""), str(row.get("lag_s", "")),
                      row.get("gtid", row.get("error", "")))
    Console().print(table)
    if info["pending_rejoin"]:
        Console().print(f"Waiting to rejoin as replicas: {', '.join(info['pending_rejoin'])}")


def _do_failover(lab_dir: Path, to: str | None, planned: bool) -> None:
    from orbitask.lab import control

    try:
        result = control.run_failover(lab_dir, to=to, planned=planned)
    except Exception as exc:
        _fail(exc)
    assert result is not None
    Console().print(f"[green]{result.kind}[/green]: {result.old_writer} -> [bold]{result.new_writer}[/bold] "
                    f"(epoch {result.epoch}) in {result.seconds:.2f} s")
    if result.pending_rejoin:
        Console().print(f"Will rejoin as replicas when they return: {', '.join(result.pending_rejoin)}")
    if result.errant:
        Console().print(f"[yellow]Errant transactions archived and discarded[/yellow]: {result.errant}")
    print(json.dumps(asdict(result)))


@lab_app.command("failover")
def lab_failover(
    lab_dir: DirOption = DEFAULT_DIR,
    to: Annotated[str | None, typer.Option(help="region to promote (default: the most advanced replica)")] = None,
) -> None:
    """Unplanned failover now: promote the most advanced replica, repoint, bump the epoch, fence the writer."""
    _do_failover(lab_dir, to, planned=False)


@lab_app.command("switchover")
def lab_switchover(
    lab_dir: DirOption = DEFAULT_DIR,
    to: Annotated[str | None, typer.Option(help="region to promote (default: the writer's nearest)")] = None,
) -> None:
    """Planned switchover: fence the writer, wait until the target applied everything, promote. Nothing lost."""
    _do_failover(lab_dir, to, planned=True)


@lab_app.command("down")
def down(lab_dir: DirOption = DEFAULT_DIR) -> None:
    """Stop every lab process (safe to repeat)."""
    from orbitask.lab import control

    stopped = control.down(lab_dir)
    Console().print("Lab stopped." if stopped else "Nothing was running.")


@lab_app.command("drill")
def drill(
    lab_dir: DirOption = DEFAULT_DIR,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results here")] = None,
    wan_scale: Annotated[float | None, typer.Option(help="start a lab at this WAN scale if none runs")] = None,
    pairs: Annotated[int, typer.Option(min=1, help="write-then-read pairs (all locations together)")] = 2000,
    clients: Annotated[int, typer.Option(min=1, max=32, help="concurrent clients per location")] = 2,
    failover_drill: Annotated[bool, typer.Option("--failover/--no-failover", help="crash the writer too")] = True,
) -> None:
    """Workload from a client per location, RYW checker, realtime latency, then crash the writer and switch back."""
    from orbitask.lab import control
    from orbitask.lab.drill import render, run_drill

    try:
        state = control.LabState.load(lab_dir)
        running = state.status == "ready"
    except FileNotFoundError:
        running = False
    started_here = False
    if not running or (wan_scale is not None and wan_scale != state.wan_scale):
        control.down(lab_dir)  # a lab at another WAN scale makes way for this one
        with console.status("Starting the lab") as spinner:
            control.up(lab_dir, 1.0 if wan_scale is None else wan_scale, True,
                       progress=lambda step: spinner.update(f"Starting: {step}"))
        started_here = True
    try:
        result = run_drill(lab_dir, pairs=pairs, crash=failover_drill, console=console, clients=clients)
    except Exception as exc:
        _fail(exc)
    finally:
        if started_here:
            control.down(lab_dir)
    Console(width=max(Console().width, 150)).print(render(result))
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2))
