"""A real OTLP/HTTP trace receiver on 127.0.0.1: POST /v1/traces, protobuf bodies decoded as a collector does."""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

DECODERS: dict[str, Callable[[bytes], bytes]] = {"": bytes, "gzip": gzip.decompress, "deflate": zlib.decompress}


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived: ids in hex (parent "" for a root), kind as OTLP names it."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    attributes: dict[str, Any]
    resource: dict[str, Any]


class OtlpReceiver:
    """Collects the spans exporters send it; its own threads, since the SDK's exporter blocks while it posts."""

    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self._arrived = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"  # the OTEL_EXPORTER_OTLP_ENDPOINT

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far, in arrival order."""
        with self._arrived:
            return list(self._spans)

    def wait_for(self, found: Callable[[list[ReceivedSpan]], bool], timeout: float) -> list[ReceivedSpan]:
        """The spans received once `found` holds for them; fails after `timeout` seconds without it."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: found(self._spans), timeout=timeout):
                names = sorted({s.name for s in self._spans})
                raise AssertionError(f"not received within {timeout} s; {len(self._spans)} spans: {names}")
            return list(self._spans)

    def _receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        spans = [
            ReceivedSpan(
                trace_id=span.trace_id.hex(), span_id=span.span_id.hex(), parent_span_id=span.parent_span_id.hex(),
                name=span.name, kind=Span.SpanKind.Name(span.kind), attributes=_attributes(span.attributes),
                resource=_attributes(batch.resource.attributes),
            )
            for batch in request.resource_spans for scope in batch.scope_spans for span in scope.spans
        ]
        with self._arrived:
            self._spans.extend(spans)
            self._arrived.notify_all()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                decode = DECODERS.get(self.headers.get("Content-Encoding", ""))
                if decode is None or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_error(415)
                    return
                receiver._receive(decode(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                """Quiet: the tests read what arrived, not an access log."""

        return Handler


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None

