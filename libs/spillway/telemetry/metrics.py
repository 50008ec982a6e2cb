"""Prometheus metrics shared by every service, served on `/metrics` by the runtime.

Metrics are module-level (prometheus-client's default registry is process-wide): define new ones
here or in the service's own module, once per process.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

BUS_PUBLISHED = Counter("spillway_bus_published_total", "Messages published to JetStream", ["subject"])
BUS_PUBLISH_RETRIES = Counter("spillway_bus_publish_retries_total", "Publish attempts retried after a timeout",
                              ["subject"])
BUS_HANDLED = Counter("spillway_bus_handled_total", "Messages handled, by outcome (ack, retry, dead_letter)",
                      ["consumer", "outcome"])
BUS_HANDLER_SECONDS = Histogram("spillway_bus_handler_seconds", "Handler duration", ["consumer"])
BUS_DEAD_LETTERS = Counter("spillway_bus_dead_letters_total", "Messages sent to the DLQ", ["consumer", "why"])
SERVICE_READY = Gauge("spillway_service_ready", "1 when the service reports ready", ["service"])
LOOP_FAILURES = Counter("spillway_loop_failures_total", "Failed rounds of a supervised periodic loop", ["loop"])
TASK_RESTARTS = Counter("spillway_task_restarts_total", "Restarts of a supervised task that returned or raised",
                        ["task"])


def render_latest() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
