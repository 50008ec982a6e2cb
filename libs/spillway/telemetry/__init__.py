"""Tracing (OTLP/HTTP from OTEL_* variables), Prometheus metrics and JSON logs carrying the trace id."""
