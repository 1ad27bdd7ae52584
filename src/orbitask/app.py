"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import gc
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx
import structlog
from fastapi import APIRouter, FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response

from orbitask import __version__
from orbitask.auth.deps import RuntimeDep, idempotency_scope
from orbitask.auth.sessions import revocation_listener
from orbitask.config import Settings
from orbitask.core import routing
from orbitask.core.backoff import Backoff, Outage
from orbitask.core.errors import document_problems, install_error_handlers
from orbitask.core.hosts import install_host_check
from orbitask.core.idempotency import IdempotencyMiddleware
from orbitask.core.jobs import Worker
from orbitask.core.middleware import LargeTransfers, RequestContextMiddleware
from orbitask.core.observability import DB_POOL, INFO, REPLICA_LAG_EVENTS, configure_logging
from orbitask.core.ratelimit import ApiRateLimitMiddleware
from orbitask.core.runtime import Runtime
from orbitask.core.security import SecurityHeadersMiddleware
from orbitask.core.sqlite import run_checkpoints
from orbitask.core.tracing import configure_tracing
from orbitask.realtime.hub import Hub
from orbitask.realtime.presence import BoardPresence
from orbitask.realtime.relay import ProcessLease, RedisLease, Relay
from orbitask.regions.forwarding import ForwardingMiddleware, HopSigner, forward_key
from orbitask.regions.topology import RegionMap
from orbitask.search import index as search_index  # noqa: F401 - registers the index's hook on every write
from orbitask.tasks.attachment_routes import LARGE_TRANSFER, MULTIPART_OVERHEAD
from orbitask.web.apidocs import install as install_api_docs
from orbitask.web.static import WebApp

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

API_PREFIX = "/api/v1"
SHUTDOWN_GRACE_S = 5.0
FORWARD_CONNECT_S = 3.0
IMPORTS = re.compile(rf"^{API_PREFIX}/imports/")
log = structlog.get_logger("orbitask.app")
CANCEL_REPEAT_S = 0.05  # shutdown cancels still-running background tasks again this often
# health checks and metrics scrapes are never rate limited
RATE_LIMIT_EXEMPT = frozenset({"/healthz", "/readyz", "/metrics", f"{API_PREFIX}/healthz", f"{API_PREFIX}/readyz"})

REDIS_PING_TIMEOUT_S = 1.0

ops = APIRouter(tags=["operations"])


@ops.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@ops.get("/readyz")
async def readyz(rt: RuntimeDep) -> Response:
    """The region can serve from here: the local reader answers, and the writer too in the writer region only
    (a writer-region outage must not take the other regions out of routing: their writes are forwarded, and
    forwarding reports its own failures). Redis is reported, not required (fail open)."""
    checks: dict[str, str] = {}
    engines = [("reader", rt.db.reader)]
    if rt.is_writer():
        engines.insert(0, ("writer", rt.db.writer))
    else:
        checks["writer"] = "not checked: another region writes"
    for name, engine in engines:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks[name] = "ok"
        except Exception as exc:  # report, never raise: this is the health endpoint
            checks[name] = f"error: {type(exc).__name__}"
    ok = all(checks[name] == "ok" for name, _ in engines)
    status = "ok" if ok else "unavailable"
    if rt.redis is not None:
        try:
            async with asyncio.timeout(REDIS_PING_TIMEOUT_S):
                await rt.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # without Redis the process still serves: live updates pause, limits open
            checks["redis"] = f"error: {type(exc).__name__}"
            status = "degraded" if ok else status
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if ok else 503)


# logs an unreachable replica once per outage, not on every metrics scrape
_REPLICA_LAG_OUTAGE = Outage(log, loop="replica-lag", what="database", backoff=Backoff(min_s=1, max_s=1))


async def sample_database(runtime: Runtime) -> None:
    """Pool gauges, and how many events the replica is behind the writer (bounded: a scrape never hangs)."""
    db = runtime.db
    for name, engine in (("writer", db.writer), ("reader", db.reader)):
        pool = engine.pool
        for state in ("checkedout", "checkedin", "overflow", "size"):
            if callable(getattr(pool, state, None)):
                DB_POOL.labels(name, state).set(getattr(pool, state)())
    if db.reader is db.writer:
        return
    try:
        async with asyncio.timeout(REDIS_PING_TIMEOUT_S):
            heads = []
            for engine in (db.writer, db.reader):
                async with engine.connect() as conn:
                    heads.append(await conn.scalar(text("SELECT COALESCE(MAX(seq), 0) FROM event")) or 0)
        REPLICA_LAG_EVENTS.set(max(0, heads[0] - heads[1]))
    except Exception as exc:  # the scrape still answers; the gauge keeps its last value
        _REPLICA_LAG_OUTAGE.failed(exc)  # scrapes set the pace: the wait it returns is not used
    else:
        _REPLICA_LAG_OUTAGE.ok()


def _service_routers() -> dict[str, list[APIRouter]]:
    from orbitask.audit.routes import router as audit_router
    from orbitask.auth.account_routes import router as account_router
    from orbitask.auth.instance import router as instance_router
    from orbitask.auth.routes import router as auth_router
    from orbitask.auth.session_routes import router as sessions_router
    from orbitask.boards.routes import router as boards_router
    from orbitask.notifications.routes import router as notifications_router
    from orbitask.notifications.webhook_routes import router as webhooks_router
    from orbitask.realtime.routes import router as realtime_router
    from orbitask.search.routes import router as search_router
    from orbitask.tasks.routes import router as tasks_router
    from orbitask.transfer.routes import router as transfer_router

    notifications = APIRouter()
    notifications.include_router(notifications_router)
    notifications.include_router(webhooks_router)
    # imports, exports, calendar feeds and search read and write cards: they come with the tasks service
    return {"auth": [auth_router, audit_router, account_router, sessions_router, instance_router],
            "boards": [boards_router],
            "tasks": [tasks_router, transfer_router, search_router],
            "realtime": [realtime_router], "notifications": [notifications]}


async def cancel_all(tasks: list[asyncio.Task[None]], grace_s: float) -> None:
    """Cancel `tasks` and wait for them, at most `grace_s`: a task stuck on a dead connection must not hold up
    shutdown. The cancel is repeated while they run: on Python 3.11 `asyncio.wait_for` (redis-py wraps every
    socket write in it) drops a cancel that lands as its inner call completes, and the relay ran on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    pending = {task for task in tasks if not task.done()}
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(CANCEL_REPEAT_S, max(0.0, deadline - loop.time())))


def start_realtime(runtime: Runtime, hub: Hub, presence: BoardPresence | None = None) -> list[asyncio.Task[None]]:
    """The relay (one per region with Redis, one per process in-process) and this process's bus listeners."""
    lease = RedisLease(runtime.redis, f"{runtime.events_channel}:relay") if runtime.bus.shared else ProcessLease()
    relay = Relay(runtime.db, runtime.bus, runtime.events_channel, lease)
    tasks = [
        asyncio.create_task(relay.run(), name="relay"),
        asyncio.create_task(runtime.bus.listen(runtime.events_channel, hub.dispatch, hub.reconnected), name="bus-listener"),
        # sessions signed out in the writer region: their access tokens are refused here too
        asyncio.create_task(runtime.bus.listen(runtime.events_channel, revocation_listener(runtime)),
                            name="revocation-listener"),
    ]
    if presence is not None:
        listener = runtime.bus.listen(runtime.presence_channel, presence.dispatch)
        tasks.append(asyncio.create_task(listener, name="presence-listener"))
        if runtime.bus.shared:  # pub/sub can drop announcements; the in-process bus cannot
            tasks.append(asyncio.create_task(presence.sweep(), name="presence-sweep"))
    return tasks


def create_app(settings: Settings | None = None, *, services: list[str] | None = None,
               span_exporter: SpanExporter | None = None) -> FastAPI:
    """Build the app for `settings`, mounting only `services` (default: the settings' list).

    Traces go to OTEL_EXPORTER_OTLP_ENDPOINT when it is set, or to `span_exporter` (tests).
    """
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_json)
    runtime = Runtime.from_settings(settings)
    mounted = services or settings.services

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None]] = []
        log.info("orbitask_started", version=__version__, pid=os.getpid(), region=settings.region,
                 services=",".join(mounted), database=settings.summary()["database"])
        if "realtime" in mounted:
            tasks = start_realtime(runtime, application.state.hub, application.state.presence)
        if application.state.regions.multi_region:
            tasks.append(asyncio.create_task(application.state.regions.watch(), name="topology"))
        if runtime.db.sqlite_file:  # commits do not checkpoint on the event loop (core/sqlite.py)
            tasks.append(asyncio.create_task(run_checkpoints(runtime.db.sqlite_file), name="sqlite-checkpoint"))
        worker = Worker(runtime) if settings.jobs_in_serve else None
        if worker is not None:  # the embedded default: notifications without a second command
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop(SHUTDOWN_GRACE_S)
            tasks += application.state.presence.pending
            await cancel_all(tasks, SHUTDOWN_GRACE_S)
            await application.state.forward_client.aclose()
            try:
                await asyncio.wait_for(runtime.close(), SHUTDOWN_GRACE_S)
            except TimeoutError:
                log.warning("shutdown_close_timed_out")

    app = FastAPI(
        title="Orbitask API",
        version=__version__,
        docs_url=None,  # /api/docs is served from the web build (web/apidocs.py)
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.regions = RegionMap(settings, runtime.db)
    runtime.is_writer = lambda: app.state.regions.is_writer  # jobs with side effects run in the writer region
    app.state.forward_client = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.forward_timeout_seconds, connect=FORWARD_CONNECT_S),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=60),
    )
    app.state.hub = Hub()
    app.state.presence = BoardPresence(runtime.presence, runtime.bus, runtime.presence_channel, app.state.hub)
    app.state.services = list(mounted)
    install_error_handlers(app)
    document_problems(app)
    app.include_router(ops, prefix=API_PREFIX)
    app.include_router(ops, include_in_schema=False)  # /healthz and /readyz for load balancers
    routers = _service_routers()
    for name in mounted:
        for router in routers[name]:
            app.include_router(router, prefix=API_PREFIX)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        await sample_database(runtime)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    install_api_docs(app, settings.web_dir)
    app.mount("/", WebApp(settings.web_dir), name="web")  # last: every API route wins
    routing.install(app.router, API_PREFIX)  # API routes looked up by path segment (core/routing.py)
    INFO.labels(__version__, settings.region).set(1)
    app.add_middleware(
        IdempotencyMiddleware, db=runtime.db, identify=idempotency_scope(runtime),
        ttl_seconds=settings.idempotency_ttl_seconds, max_body=settings.max_body_bytes,
        # imports: bodies too large to buffer, and re-importing the same file is idempotent by itself
        exclude_prefixes=(f"{API_PREFIX}/auth/", f"{API_PREFIX}/imports/"), unbuffered=LARGE_TRANSFER,
    )
    app.add_middleware(  # inside the request context (request id, metrics), before any database work
        ApiRateLimitMiddleware, limiter=runtime.limiter, identify=idempotency_scope(runtime),
        per_credentials=settings.rate_limit_api_per_minute, per_ip=settings.rate_limit_api_ip_per_minute,
        exempt=RATE_LIMIT_EXEMPT,
    )
    app.add_middleware(  # just inside the request context: a write for another region leaves before any local work
        ForwardingMiddleware, regions=app.state.regions, signer=HopSigner(forward_key(settings.hop_secret)),
        client=app.state.forward_client,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-CSRF-Token", "X-Orbitask-Token",
                           "X-Request-Id"],
            expose_headers=["X-Orbitask-Token", "X-Request-Id", "Retry-After", "Idempotent-Replayed"],
            max_age=600,
        )
    # production: an unknown Host is refused inside the request context (logged, counted), before any work
    install_host_check(app, settings, exempt=RATE_LIMIT_EXEMPT)  # health checks: load balancers probe by IP
    app.add_middleware(
        RequestContextMiddleware, region=settings.region, max_body=settings.max_body_bytes,
        max_header_bytes=settings.http_max_header_bytes,
        timeout=settings.request_timeout_seconds,
        large=(
            LargeTransfers(LARGE_TRANSFER, settings.attachment_max_bytes + MULTIPART_OVERHEAD,
                           settings.attachment_upload_timeout_seconds),
            LargeTransfers(IMPORTS, settings.import_max_bytes, settings.import_timeout_seconds),
        ),
    )
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: every answer carries them, errors included
    configure_tracing(app, runtime, span_exporter)  # wraps everything: the request span is the root
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: settings from the environment."""
    settings = Settings()
    app = create_app(settings)
    tune_gc(settings.gc_young_threshold)
    return app


def tune_gc(young_threshold: int) -> None:
    """Garbage collection for a long-running worker (docs/benchmarks-history.md, "Fifth pass").

    The modules, models and schemas loaded so far live as long as the process: frozen, later
    collections skip them. A request allocates thousands of short-lived objects (a snapshot patch
    parses tens of thousands), so with Python's default of a young collection every 700
    allocations, several collections ran per request; fewer, larger ones cost less in all.
    """
    gc.collect()
    gc.freeze()
    if young_threshold:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(young_threshold, older, oldest)
