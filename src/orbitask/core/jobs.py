"""Background jobs: a registry any service can add to, and the worker that runs them.

A job is a `step()` coroutine that does one bounded unit of work and returns how much it
did (0: nothing to do, so the worker waits the job's interval before asking again).
Services register jobs in an `orbitask/<service>/jobs.py` module, found and imported by
`load_jobs()`:

    from orbitask.core.jobs import register_job

    @register_job("attachments-gc", interval=lambda s: 3600)
    def attachments_gc(rt: Runtime) -> Step | None:   # None: disabled by the settings
        async def step() -> int: ...
        return step

Each job runs under its own database lease, so however many processes run the worker
(`orbitask worker`, or `orbitask serve` in the embedded default), one runs each job at a
time; and only where `runtime.is_writer()` says this node is in the writer region, unless
it is registered with `writer_only=False` (then one per region). A failing step or lease (the
database away) is retried with a jittered backoff up to ERROR_BACKOFF_MAX_S and logged once
per outage (core/backoff.py).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from orbitask.core.backoff import Backoff, Outage
from orbitask.core.leases import DbLease

if TYPE_CHECKING:
    from orbitask.config import Settings
    from orbitask.core.runtime import Runtime

log = structlog.get_logger("orbitask.worker")

Step = Callable[[], Awaitable[int]]
ERROR_BACKOFF_MAX_S = 30.0
# A step that handled fewer items than this has caught up. Stepping again at once would take one or two
# events per step under a steady write load, each step a write transaction of its own (consumer cursors)
# competing with the users' writes for the database; waiting one interval batches them.
BACKLOG = 100


@dataclass(frozen=True)
class JobSpec:
    """A named job: how to build its step for a runtime, and how long to wait when idle."""

    name: str
    build: Callable[[Runtime], Step | None]
    interval: Callable[[Settings], float]
    writer_only: bool = True  # False: runs in every region (one process per region), e.g. replicating files


JOBS: dict[str, JobSpec] = {}


def register_job(  # noqa: ANN201 - decorator
    name: str, *, interval: Callable[[Settings], float] | None = None, writer_only: bool = True
):
    """Register a job factory under `name` (default interval: the worker poll interval)."""

    def add(build: Callable[[Runtime], Step | None]) -> Callable[[Runtime], Step | None]:
        if name in JOBS:
            raise ValueError(f"job {name!r} registered twice")
        JOBS[name] = JobSpec(name, build, interval or (lambda s: s.worker_poll_interval_seconds), writer_only)
        return build

    return add


def load_jobs() -> dict[str, JobSpec]:
    """Import every `orbitask.<package>.jobs` module (registering their jobs); returns the registry."""
    import orbitask

    for module in pkgutil.iter_modules(orbitask.__path__):
        if module.ispkg and importlib.util.find_spec(f"orbitask.{module.name}.jobs") is not None:
            importlib.import_module(f"orbitask.{module.name}.jobs")
    return JOBS


class Worker:
    """Runs every enabled job in its own task until stopped."""

    def __init__(self, runtime: Runtime, only: list[str] | None = None) -> None:
        self.runtime = runtime
        specs = load_jobs()
        unknown = sorted(set(only or ()) - set(specs))
        if unknown:
            raise ValueError(f"unknown jobs {unknown}; choose from {sorted(specs)}")
        self.steps: dict[str, tuple[Step, float]] = {}
        self.leases: dict[str, DbLease] = {}
        self.writer_only: dict[str, bool] = {}
        for name, spec in sorted(specs.items()):
            if only and name not in only:
                continue
            step = spec.build(runtime)
            if step is not None:
                self.steps[name] = (step, spec.interval(runtime.settings))
                self.writer_only[name] = spec.writer_only
                # one holder per deployment, or per region for jobs every region runs
                lease = f"job:{name}" if spec.writer_only else f"job:{runtime.settings.region}:{name}"
                self.leases[name] = DbLease(runtime.db, lease, runtime.settings.worker_lease_seconds)
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> list[asyncio.Task[None]]:
        """Start one task per job."""
        self.tasks = [asyncio.create_task(self._loop(name), name=f"job:{name}") for name in self.steps]
        return self.tasks

    async def _loop(self, name: str) -> None:
        step, interval = self.steps[name]
        lease = self.leases[name]
        # the n-th failure in a row waits [interval * 2^(n-1), interval * 2^n], at most ERROR_BACKOFF_MAX_S
        outage = Outage(log, loop=f"job:{name}",
                        backoff=Backoff(min_s=min(interval, ERROR_BACKOFF_MAX_S), max_s=ERROR_BACKOFF_MAX_S))
        try:
            while True:
                done = 0
                error: Exception | None = None
                try:
                    if self.runtime.is_writer() or not self.writer_only[name]:
                        if await lease.hold():
                            done = await step()
                        else:
                            error = lease.error  # None: another process holds it
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    error = exc
                if error is not None:
                    await asyncio.sleep(outage.failed(error))
                    continue
                outage.ok()
                if done < BACKLOG:  # caught up: let work gather for one interval, then take it in one step
                    await asyncio.sleep(interval)
        finally:
            await asyncio.shield(lease.release())

    async def stop(self, grace_s: float = 5.0) -> None:
        """Cancel the jobs (a step in progress rolls back its transaction) and release their leases."""
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=grace_s)

    async def run_until(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set."""
        self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
