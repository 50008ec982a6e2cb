"""Telemetry: which exporter the OTEL_* variables select, JSON log lines with trace ids, secret masking."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from spillway.telemetry import (
    JsonFormatter,
    extract_context,
    get_tracer,
    inject_headers,
    register_secret,
    setup_tracing,
)
from spillway.telemetry.tracing import exporter_from_env


@pytest.mark.parametrize(
    ("env", "exports"),
    [
        pytest.param({}, False, id="nothing-configured"),
        pytest.param({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True, id="endpoint"),
        pytest.param({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True,
                     id="traces-endpoint"),
        pytest.param({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_TRACES_EXPORTER": "none"}, False,
                     id="exporter-none"),
        pytest.param({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_TRACES_EXPORTER": "console"}, False,
                     id="other-exporter"),
    ],
)
def test_exporter_from_env(env: dict[str, str], exports: bool) -> None:
    exporter = exporter_from_env(env)
    assert isinstance(exporter, OTLPSpanExporter) if exports else exporter is None
    if exporter is not None:
        exporter.shutdown()


def test_grpc_protocol_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="http/protobuf"):
        exporter_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


def log_line(logger: logging.Logger, stream: io.StringIO, msg: str, **extra: object) -> dict[str, object]:
    logger.info(msg, extra=extra)
    line = stream.getvalue().strip().splitlines()[-1]
    parsed: dict[str, object] = json.loads(line)
    return parsed


def make_logger() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("spillway-test"))
    logger = logging.getLogger("spillway.test.json")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_json_log_carries_trace_ids_inside_a_span() -> None:
    setup_tracing("spillway-test")
    logger, stream = make_logger()
    outside = log_line(logger, stream, "outside", pod="shop/web-1")
    assert outside["msg"] == "outside" and outside["pod"] == "shop/web-1" and outside["service"] == "spillway-test"
    assert "trace_id" not in outside
    with get_tracer().start_as_current_span("work") as span:
        inside = log_line(logger, stream, "inside")
    ctx = span.get_span_context()
    assert inside["trace_id"] == format(ctx.trace_id, "032x")
    assert inside["span_id"] == format(ctx.span_id, "016x")


def test_registered_secret_is_masked_in_logs() -> None:
    register_secret("s3cr3t-value-xyz")
    logger, stream = make_logger()
    line = log_line(logger, stream, "connecting with s3cr3t-value-xyz", detail="key=s3cr3t-value-xyz")
    assert "s3cr3t-value-xyz" not in json.dumps(line)
    assert line["msg"] == "connecting with ***"


def test_trace_context_round_trips_through_headers() -> None:
    setup_tracing("spillway-test")
    with get_tracer().start_as_current_span("publish") as span:
        headers = inject_headers({"Nats-Msg-Id": "x"})
    assert headers["traceparent"].split("-")[1] == format(span.get_span_context().trace_id, "032x")
    with get_tracer().start_as_current_span("process", context=extract_context(headers)) as child:
        assert child.get_span_context().trace_id == span.get_span_context().trace_id
    assert extract_context(None) == extract_context({})
