"""Tracing set up from the standard OTEL_* variables, so operators configure Spillway like any OTel app.

- `OTEL_TRACES_EXPORTER=none` → no export. `otlp` (the default) exports with OTLP/HTTP to
  `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` (+ `/v1/traces`); when
  neither is set nothing is exported, but spans, trace ids and propagation still work in-process.
- `OTEL_SERVICE_NAME` overrides the service name we pass (`spillway-<service>`), as the spec says.
- W3C trace context travels in message headers: `inject_headers()` / `extract_context()`.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACER_NAME = "spillway"
_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None


def exporter_from_env(env: Mapping[str, str] | None = None) -> SpanExporter | None:
    """The OTLP/HTTP exporter the environment asks for, or None (no exporter configured)."""
    env = os.environ if env is None else env
    kinds = {k.strip().lower() for k in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if k.strip()}
    if "none" in kinds or "otlp" not in kinds:
        return None
    if not (env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        return None
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol not in (None, "", "http/protobuf"):
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported (use http/protobuf)")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # reads the endpoint, headers and timeout variables itself


def setup_tracing(service_name: str, *, exporter: SpanExporter | None = None, batch: bool = True) -> TracerProvider:
    """Install the process-wide tracer provider once; later calls return the same provider.

    `exporter` overrides the environment (tests pass an in-memory one).
    """
    global _provider
    if _provider is not None:
        return _provider
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name})
    provider = TracerProvider(resource=resource)
    exporter = exporter if exporter is not None else exporter_from_env()
    if exporter is not None:
        processor: SpanProcessor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_tracing() -> None:
    """Flush and stop the exporter (call on service shutdown)."""
    if _provider is not None:
        _provider.force_flush(5_000)
        _provider.shutdown()


def get_tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def inject_headers(headers: dict[str, str], context: Context | None = None) -> dict[str, str]:
    """Add `traceparent` (and `tracestate`) of the current span to a headers dict; returns it."""
    _propagator.inject(headers, context=context)
    return headers


def extract_context(headers: Mapping[str, str] | None) -> Context:
    """The remote parent context carried in message headers (empty context when absent)."""
    return _propagator.extract(dict(headers or {}))


def pod_trace_id(pod_uid: str) -> int:
    """The trace id of everything Spillway does for one pod: its uid (a UUID is 128 bits already;
    anything else is hashed), so each service's spans for that pod land in one trace, whichever
    message, restart or resync led there, and `spillway explain` can name it."""
    try:
        value = uuid.UUID(pod_uid).int
    except ValueError:
        value = int.from_bytes(hashlib.sha256(pod_uid.encode()).digest()[:16], "big")
    return value or 1


def pod_trace_context(pod_uid: str) -> Context:
    """A context whose (remote, never exported) parent puts new spans in the pod's trace."""
    parent = trace.SpanContext(
        trace_id=pod_trace_id(pod_uid),
        span_id=int.from_bytes(hashlib.sha256(f"pod:{pod_uid}".encode()).digest()[:8], "big") or 1,
        is_remote=True, trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(parent))


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) in hex of the active span, or None."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


__all__ = [
    "current_ids", "exporter_from_env", "extract_context", "get_tracer", "inject_headers", "pod_trace_context",
    "pod_trace_id",
    "propagate", "setup_tracing", "shutdown_tracing",
]
