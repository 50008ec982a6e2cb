"""Tracing (OTLP/HTTP from OTEL_* variables), Prometheus metrics and JSON logs for every service."""

from spillway.telemetry.logs import JsonFormatter, redact, register_secret, setup_logging
from spillway.telemetry.metrics import render_latest
from spillway.telemetry.tracing import (
    current_ids,
    exporter_from_env,
    extract_context,
    get_tracer,
    inject_headers,
    pod_trace_context,
    pod_trace_id,
    setup_tracing,
    shutdown_tracing,
)

__all__ = [
    "JsonFormatter",
    "current_ids",
    "exporter_from_env",
    "extract_context",
    "get_tracer",
    "inject_headers",
    "pod_trace_context",
    "pod_trace_id",
    "redact",
    "register_secret",
    "render_latest",
    "setup_logging",
    "setup_tracing",
    "shutdown_tracing",
]
