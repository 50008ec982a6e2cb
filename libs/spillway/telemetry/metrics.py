"""Prometheus metrics: how every Spillway metric is declared, and those the shared libraries export.

Every metric is made with `counter`, `gauge` or `histogram` here, which also records it in
`CATALOGUE` (name, type, labels, meaning): docs/operations.md lists the catalogue and a test keeps
the two equal, and declaring a name twice fails at import, so each metric has one home. Metrics
of the shared libraries (bus, loops, leader election, cloud API, reflector) live in this module;
a service's own live in `services/<name>/metrics.py`. prometheus-client's default registry is
process-wide: each metric is defined once per process, at import.

Conventions (Kubernetes' instrumentation guide): the `spillway_` prefix, base units (seconds,
bytes, cores) named in the suffix, counters ending in `_total`, and label values from a bounded
set: never a pod name or uid; workload and namespace labels are capped (`spillway.telemetry.fleet`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# `<name>_created` doubles the series of every counter and histogram and nobody queries it
disable_created_metrics()  # type: ignore[no-untyped-call]

Kind = Literal["counter", "gauge", "histogram"]
PREFIX = "spillway_"
_NAME = re.compile(r"^spillway_[a-z][a-z0-9_]*[a-z0-9]$")
_LABEL = re.compile(r"^[a-z][a-z0-9_]*$")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds, for work that normally takes milliseconds (handlers, API calls, waits)."""
SLOW_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""Seconds, for what takes up to minutes (a pod waiting for its decision, an instance being created)."""


@dataclass(frozen=True)
class MetricInfo:
    """One metric as users see it: its exposed name (counters end in `_total`), type, labels, meaning."""

    name: str
    kind: Kind
    labels: tuple[str, ...]
    help: str

    @property
    def family(self) -> str:
        """The name prometheus-client groups the samples under (a counter's without `_total`)."""
        return self.name.removesuffix("_total") if self.kind == "counter" else self.name


CATALOGUE: dict[str, MetricInfo] = {}
"""Every metric declared in this process, by exposed name."""


def declare(name: str, kind: Kind, help: str, labels: Sequence[str] = ()) -> MetricInfo:
    """Record a metric in the catalogue (the factories below call this; a custom collector calls it
    for the families it yields). Refuses a second declaration and names that break the conventions."""
    if not _NAME.match(name):
        raise ValueError(f"metric name {name!r}: expected spillway_<snake_case>")
    if (kind == "counter") != name.endswith("_total"):
        raise ValueError(f"metric {name!r}: counters, and only counters, end in _total")
    bad = [label for label in labels if not _LABEL.match(label)]
    if bad:
        raise ValueError(f"metric {name!r}: invalid label names {bad}")
    if name in CATALOGUE:
        raise ValueError(f"metric {name!r} declared twice: one home per metric")
    info = CATALOGUE[name] = MetricInfo(name, kind, tuple(labels), help)
    return info


def counter(name: str, help: str, labels: Sequence[str] = ()) -> Counter:
    declare(name, "counter", help, labels)
    return Counter(name, help, list(labels))


def gauge(name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
    declare(name, "gauge", help, labels)
    return Gauge(name, help, list(labels))


def histogram(name: str, help: str, labels: Sequence[str] = (),
              buckets: Sequence[float] = LATENCY_BUCKETS) -> Histogram:
    declare(name, "histogram", help, labels)
    return Histogram(name, help, list(labels), buckets=list(buckets))


class BoundedValues:
    """Label values from outside the code (an API's error codes), capped: the first `limit` distinct
    values are kept, later ones become `other`, and a value that is not a plain token becomes `invalid`."""

    OTHER = "other"
    INVALID = "invalid"
    _TOKEN = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,63}$")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if not self._TOKEN.match(value):
            return self.INVALID
        if len(self._seen) >= self.limit:
            return self.OTHER
        self._seen.add(value)
        return value


# ---- the bus ---------------------------------------------------------------------------------

BUS_PUBLISHED = counter("spillway_bus_published_total", "Messages published to JetStream, by subject", ["subject"])
BUS_PUBLISH_RETRIES = counter("spillway_bus_publish_retries_total",
                              "Publish attempts retried after a timeout, by subject", ["subject"])
BUS_HANDLED = counter("spillway_bus_handled_total",
                      "Messages a durable consumer handled, by outcome (ack, retry, dead_letter)",
                      ["consumer", "outcome"])
BUS_HANDLER_SECONDS = histogram("spillway_bus_handler_seconds", "Time a handler took on one message", ["consumer"])
BUS_DEAD_LETTERS = counter("spillway_bus_dead_letters_total",
                           "Messages sent to spillway.dlq.<service>, by consumer and why (undecodable, permanent, "
                           "exhausted, no_verdict)", ["consumer", "why"])
BUS_REDELIVERIES = counter("spillway_bus_redeliveries_total",
                           "Deliveries of a message that was delivered before (a nak, a timeout or a crash)",
                           ["consumer"])
BUS_CONSUMER_PENDING = gauge("spillway_bus_consumer_pending_messages",
                             "Messages of a durable consumer's subjects not yet delivered (its backlog), as the "
                             "server last reported", ["consumer"])
BUS_CONSUMER_ACK_PENDING = gauge("spillway_bus_consumer_ack_pending_messages",
                                 "Messages delivered to a durable consumer and not yet acknowledged, as the server "
                                 "last reported", ["consumer"])

# ---- the runtime, loops and leader election ----------------------------------------------------

SERVICE_READY = gauge("spillway_service_ready", "1 when the service reports ready (its /readyz answers 200)",
                      ["service"])
LOOP_FAILURES = counter("spillway_loop_failures_total", "Failed rounds of a supervised periodic loop", ["loop"])
TASK_RESTARTS = counter("spillway_task_restarts_total", "Restarts of a supervised task that returned or raised",
                        ["task"])
LEADER = gauge("spillway_leader", "1 while this replica holds the Lease (one per leader-elected service), else 0",
               ["lease"])

# ---- the cloud API ---------------------------------------------------------------------------

CLOUD_API_REQUESTS = counter("spillway_cloud_api_requests_total",
                             "TKE API requests sent, by action and result code (OK, or the API's error code)",
                             ["action", "code"])
CLOUD_API_SECONDS = histogram("spillway_cloud_api_request_seconds", "Time one TKE API request took", ["action"])
CLOUD_API_RATE_LIMIT_WAIT = histogram("spillway_cloud_api_rate_limit_wait_seconds",
                                      "Time a TKE API request waited for the client's per-action rate limiter",
                                      ["action"])
cloud_error_code = BoundedValues(100)
"""The API's error codes as label values (its catalogue is finite; a server inventing codes is capped)."""

# ---- Kubernetes watches ------------------------------------------------------------------------

WATCH_RELISTS = counter("spillway_watch_relists_total",
                        "Lists of a watched collection after its first one: its watch could not resume (410 Gone, "
                        "the history was compacted)", ["path"])
REFLECTOR_BAD_OBJECTS = counter("spillway_reflector_bad_objects_total",
                                "Listed or watched objects skipped because they could not be read or handled",
                                ["path", "why"])


def render_latest() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
