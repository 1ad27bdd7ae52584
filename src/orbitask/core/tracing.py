"""OpenTelemetry traces: FastAPI, SQLAlchemy, httpx (the region hop) and Redis, when an OTLP endpoint is set.

W3C `traceparent` is injected into the forwarded request and the writer region's FastAPI
instrumentation continues the trace, so one write is one trace across regions.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import structlog

from orbitask import __version__

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
    from opentelemetry.sdk.trace.export import SpanExporter

    from orbitask.core.runtime import Runtime

log = structlog.get_logger("orbitask.tracing")
NOT_TRACED = "healthz,readyz,metrics"  # probes and scrapes: noise, not requests


def configure_tracing(app: FastAPI, runtime: Runtime, exporter: SpanExporter | None = None) -> bool:
    """Instrument the app when OTEL_EXPORTER_OTLP_ENDPOINT is set (or an exporter is given, in tests)."""
    if exporter is None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "orbitask"),
                                "service.version": __version__, "cloud.region": runtime.settings.region})
    provider = TracerProvider(resource=resource)
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint and headers from OTEL_*
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=NOT_TRACED)
    engines: list[Any] = list({id(e): e.sync_engine for e in (runtime.db.writer, runtime.db.reader,
                                                              runtime.db.primary_reader)}.values())
    # the instrumentation declares SQLAlchemy < 2.1; its event hooks work on 2.1 (tests/api/test_tracing.py)
    _instrument_process(SQLAlchemyInstrumentor(), engines=engines, tracer_provider=provider, enable_commenter=False,
                        skip_dep_check=True)
    HTTPXClientInstrumentor.instrument_client(app.state.forward_client, tracer_provider=provider)
    if runtime.redis is not None:
        _instrument_process(RedisInstrumentor(), tracer_provider=provider)
    app.state.tracer_provider = provider
    log.info("tracing_enabled", exporter=type(exporter).__name__ if exporter else "otlp")
    return True


def _instrument_process(instrumentor: BaseInstrumentor, **options: Any) -> None:
    """Point a process-wide instrumentor at this app's provider, taking it over from any app built before."""
    # it ignores a second instrument() in a process: a second app (tests, benchmarks) had its queries
    # traced into the first app's provider and none into its own
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(**options)


def add_trace_ids(_: object, __: str, event_dict: dict[str, object]) -> dict[str, object]:
    """structlog processor: the current trace and span ids, when a span is recording."""
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - opentelemetry-api is a dependency
        return event_dict
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict
