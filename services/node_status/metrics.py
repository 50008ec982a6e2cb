"""node-status's Prometheus metrics (process-wide, defined once)."""

from __future__ import annotations

from spillway.telemetry.metrics import counter

POD_STEP_FAILURES = counter("spillway_node_status_pod_failures_total",
                            "Per-pod steps of node-status that failed, by step; the other pods went on", ["step"])
UNDECODABLE_PODS = counter("spillway_node_status_undecodable_pods_total",
                           "Pods on the super nodes a resync could not decode (kept as last seen)")
