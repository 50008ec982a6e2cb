"""admission's Prometheus metrics (process-wide, defined once)."""

from __future__ import annotations

from spillway.telemetry.metrics import counter

ADMISSION_DEGRADED = counter("spillway_admission_degraded_total",
                             "Reviews answered without the full policy (undecodable pod, policy failure), by why",
                             ["why"])
