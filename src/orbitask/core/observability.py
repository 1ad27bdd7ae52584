"""Logging (structlog, JSON), Prometheus metrics, request ids."""

from __future__ import annotations

import functools
import logging
import re
import sys

import structlog
from prometheus_client import Counter, Gauge, Histogram

from orbitask.core.tracing import add_trace_ids

REQUEST_LATENCY = Histogram(
    "orbitask_http_request_seconds", "HTTP request latency", ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
READ_WAIT = Histogram(
    "orbitask_read_wait_seconds", "Time reads waited for the replica to reach a client's token",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
SQLITE_WRITE_LOCK = Histogram(
    "orbitask_sqlite_write_lock_seconds", "SQLite's write lock: time waited for it, and time held", ["phase"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
SEARCH_INDEX = Histogram(
    "orbitask_search_index_seconds", "Time a command spent keeping the search index (in its own transaction)",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5),
)
READ_FALLBACK = Counter("orbitask_read_fallback_total", "Reads sent to the writer because the replica lagged")
SNAPSHOT_CACHE = Counter("orbitask_snapshot_cache_total", "Board snapshot cache lookups", ["result"])
SNAPSHOT_BUILDS = Counter(
    "orbitask_snapshot_builds_total", "Board snapshots built: from the previous one (patched) or in full", ["kind"]
)
EVENTS_EMITTED = Counter("orbitask_events_emitted_total", "Events appended to the outbox", ["type"])
DB_RETRIES = Counter("orbitask_db_retries_total", "Commands run again after a deadlock or serialisation failure")
RELAY_PUBLISHED = Counter("orbitask_relay_published_total", "Events the relay published to the bus")
RELAY_LAG = Gauge("orbitask_relay_lag_seconds", "Age of the newest event the relay published")
SOCKETS = Gauge("orbitask_websockets", "Open WebSocket connections")
SOCKET_DROPS = Counter("orbitask_websocket_drops_total", "Sockets closed by the server", ["reason"])
RATE_LIMITED = Counter("orbitask_rate_limited_total", "Requests refused by a rate limit", ["limit"])
ATTACHMENT_BYTES = Counter("orbitask_attachment_bytes_total", "Attachment bytes accepted and served", ["direction"])
ATTACHMENT_READS = Counter(
    "orbitask_attachment_reads_total", "Attachment reads by where the bytes came from (local, origin, unavailable)",
    ["source"],
)
ATTACHMENT_REPLICATED = Counter("orbitask_attachment_replicated_total", "Files copied from another region's storage")
ATTACHMENT_REPLICATION_FAILURES = Counter(
    "orbitask_attachment_replication_failures_total", "Replication attempts that failed (retried on the next pass)"
)
ATTACHMENT_GC_DELETED = Counter("orbitask_attachment_gc_deleted_total", "Files deleted by garbage collection")
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
DB_POOL = Gauge("orbitask_db_pool_connections", "Database pool connections by engine and state",
                ["engine", "state"])
REPLICA_LAG_EVENTS = Gauge("orbitask_replica_lag_events", "Events the reader (replica) is behind the writer")
WRITER_EPOCH = Gauge("orbitask_topology_epoch", "Topology epoch this node has seen")

# keys whose value is never logged, whatever a caller passes (matched as substrings: api_token, set-cookie...)
_SECRET_KEY_PARTS = ("password", "passwd", "token", "secret", "authorization", "cookie", "ticket", "api_key", "dsn")
# secrets that can hide inside a logged string: DSN passwords, JWTs, API tokens, bearer credentials,
# and the capability URLs whose path is the credential (invitations, calendar feeds, socket tickets, the e-mailed
# links that verify a sign-up or an address and reset a password)
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/@\s]*:)[^@\s]+@"), r"\1***@"),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]+"), "***"),
    (re.compile(r"\bot_[0-9a-f]{8}_[\w-]+"), "ot_***"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+"), r"\1 ***"),
    (re.compile(r"(/invitations/|/calendar/|/verify/|/reset-password/|/confirm-email/)[^/\s?\"'.]+"), r"\1***"),
    (re.compile(r"(?i)([?&](?:ticket|token|access_token|signature|x-amz-signature)=)[^&\s\"']+"), r"\1***"),
)


# what every match of a pattern above contains: most logged strings have none, and one search for them
# costs a sixth of running the six substitutions (a request's log line: 144 -> 52 µs of CPU)
_MAYBE_SECRET = re.compile(
    r"://|eyJ|\bot_|(?i:bearer|basic)|/invitations/|/calendar/|/verify/|/reset-password/|/confirm-email/"
    r"|(?i:[?&](?:ticket|token|access_token|signature|x-amz-signature)=)"
)


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(part in lowered for part in _SECRET_KEY_PARTS)


def redact(text: str) -> str:
    """`text` with any secret it carries masked."""
    if _MAYBE_SECRET.search(text) is None:
        return text
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _scrub(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: "***" if isinstance(k, str) and _is_secret_key(k) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(repr(value))  # what the JSON renderer would write, scrubbed (a model may hold a DSN)


def _drop_secrets(_: object, __: str, event_dict: dict[str, object]) -> dict[str, object]:
    """Never let a secret reach a log line: by key, and by shape inside any string (tracebacks included)."""
    for key in list(event_dict):
        if _is_secret_key(key):
            event_dict[key] = "***"
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def configure_logging(level: str = "INFO", json: bool | None = None) -> None:
    """Structured logs on stderr: JSON for machines, one readable line per event for a person.

    `json=None` decides by standard error: a terminal gets the readable lines, anything else JSON.
    """
    tty = sys.stderr.isatty()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if (not tty if json is None else json)
        else structlog.dev.ConsoleRenderer(colors=tty, sort_keys=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            add_trace_ids,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _drop_secrets,  # after the traceback is rendered: it may quote a DSN or a token
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
