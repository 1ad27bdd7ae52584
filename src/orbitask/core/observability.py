"""Logging (structlog, JSON), Prometheus metrics, request ids."""

from __future__ import annotations

import logging
import sys

import structlog
from prometheus_client import Counter, Gauge, Histogram

REQUEST_LATENCY = Histogram(
    "orbitask_http_request_seconds", "HTTP request latency", ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
READ_WAIT = Histogram(
    "orbitask_read_wait_seconds", "Time reads waited for the replica to reach a client's token",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
READ_FALLBACK = Counter("orbitask_read_fallback_total", "Reads sent to the writer because the replica lagged")
SNAPSHOT_CACHE = Counter("orbitask_snapshot_cache_total", "Board snapshot cache lookups", ["result"])
EVENTS_EMITTED = Counter("orbitask_events_emitted_total", "Events appended to the outbox", ["type"])
DB_RETRIES = Counter("orbitask_db_retries_total", "Commands run again after a deadlock or serialisation failure")
RELAY_PUBLISHED = Counter("orbitask_relay_published_total", "Events the relay published to the bus")
RELAY_LAG = Gauge("orbitask_relay_lag_seconds", "Age of the newest event the relay published")
SOCKETS = Gauge("orbitask_websockets", "Open WebSocket connections")
SOCKET_DROPS = Counter("orbitask_websocket_drops_total", "Sockets closed by the server", ["reason"])
RATE_LIMITED = Counter("orbitask_rate_limited_total", "Requests refused by a rate limit", ["limit"])
REDIS_FAILURES = Counter(
    "orbitask_redis_failures_total", "Redis calls that failed and were answered fail-open", ["op"]
)
PRESENCE_CHANGES = Counter("orbitask_presence_changes_total", "Board presence changes announced on the bus")
INFO = Gauge("orbitask_info", "Build and region", ["version", "region"])
FORWARDED = Counter(
    "orbitask_forwarded_requests_total", "Writes this node forwarded to the writer region", ["target", "outcome"]
)
FORWARD_LATENCY = Histogram(
    "orbitask_forward_seconds", "Time to forward a write to the writer region and get its answer", ["target"]
)
FORWARD_RECEIVED = Counter(
    "orbitask_forward_received_total", "Forwarded writes this node accepted from other regions", ["origin"]
)
WRITER_EPOCH = Gauge("orbitask_topology_epoch", "Topology epoch this node has seen")

_SECRET_KEYS = {"password", "token", "refresh_token", "access_token", "authorization", "secret", "cookie"}


def _drop_secrets(_: object, __: str, event_dict: dict[str, object]) -> dict[str, object]:
    """Never let a secret reach a log line, whatever a caller passes."""
    for key in list(event_dict):
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = "***"
    return event_dict


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    """Structured logs on stderr: JSON in production, readable in a terminal."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
