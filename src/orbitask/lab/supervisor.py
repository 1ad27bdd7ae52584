"""The lab's background process: hosts the WAN links, brings the lab up, then watches the writer.

`python -m orbitask.lab.supervisor LAB_DIR` (started by `orbitask lab up`). Every second it
checks the writer region's MariaDB; after FAILED_CHECKS failures in a row it runs the
unplanned failover. A returning old writer is rejoined as a replica as soon as it answers.
SIGTERM stops the links and the loop (`orbitask lab down` stops the servers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import structlog

from orbitask.core.observability import configure_logging
from orbitask.lab import control
from orbitask.lab.state import LabState, parse_link_key
from orbitask.lab.wan import Link, Wan

log = structlog.get_logger("orbitask.lab.supervisor")
CHECK_INTERVAL_S = 1.0
FAILED_CHECKS = 3


def links(state: LabState) -> list[Link]:
    """One proxy per (source region, destination region, service), delayed by half the pair's RTT."""
    out = []
    for key, port in state.links.items():
        src, dst, service = parse_link_key(key)
        out.append(Link(key, port, state.target_port(service, dst), state.one_way_s(src, dst)))
    return out


def _reap() -> None:
    """Collect exited children (killed servers) so they do not linger as zombies."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _writer_answers(lab_dir: Path) -> tuple[str, bool]:
    state = LabState.load(lab_dir)
    return state.writer, control.server(state, state.writer).reachable()


async def watch(lab_dir: Path) -> None:
    """The health loop: 3 failed checks 1 s apart -> unplanned failover; rejoin returning writers."""
    failures = 0
    while True:
        started = time.monotonic()
        _reap()
        try:
            writer, ok = await asyncio.to_thread(_writer_answers, lab_dir)
            failures = 0 if ok else failures + 1
            if failures:
                log.warning("writer_check_failed", writer=writer, failures=failures)
            if failures >= FAILED_CHECKS:
                result = await asyncio.to_thread(control.run_failover, lab_dir, expected_writer=writer)
                failures = 0
                if result is not None:
                    log.warning("automatic_failover", old=result.old_writer, new=result.new_writer, epoch=result.epoch)
            state = LabState.load(lab_dir)
            if state.pending_rejoin:
                await asyncio.to_thread(control.rejoin_pending, lab_dir)
        except Exception as exc:  # keep watching: one failed round must not end the supervisor
            log.error("supervisor_round_failed", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(max(0.0, CHECK_INTERVAL_S - (time.monotonic() - started)))


async def main(lab_dir: Path) -> None:
    state = LabState.load(lab_dir)
    wan = Wan(links(state))
    await wan.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    progress = lab_dir / "progress"
    try:
        await asyncio.to_thread(control.bootstrap, state, progress.write_text)
    except Exception as exc:
        log.error("lab_bootstrap_failed", error=f"{type(exc).__name__}: {exc}")
        # the state bootstrap was filling in: it holds the PIDs of what did start (not all saved
        # yet), which `lab down` must stop
        state.status, state.error = "failed", f"{type(exc).__name__}: {exc}"
        state.save()
        await wan.close()
        return
    watcher = asyncio.create_task(watch(lab_dir))
    await stopping.wait()
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    await wan.close()


if __name__ == "__main__":
    configure_logging("INFO", True)
    asyncio.run(main(Path(sys.argv[1])))
