"""watcher's Prometheus metrics (process-wide, defined once)."""

from __future__ import annotations

from spillway.telemetry.metrics import counter, histogram

OBJECTS_REFUSED = counter("spillway_watcher_objects_refused_total",
                          "Objects the watcher could not decode, store or publish, by kind and reason code",
                          ["kind", "reason"])
PIPELINE_PERMANENT = counter("spillway_watcher_pipeline_permanent_failures_total",
                             "Watcher writes given up at once because no retry can succeed, by error type", ["error"])
PIPELINE_RETRIES = counter("spillway_watcher_pipeline_retries_total",
                           "Watcher writes retried after a retryable error, by error type", ["error"])
PIPELINE_COALESCED = counter("spillway_watcher_pipeline_coalesced_total",
                             "Pending watcher writes replaced by a newer state of the same object")
MIRROR_LAG = histogram("spillway_watcher_mirror_lag_seconds",
                       "From a watch event to the object's state and events written to the bus (KV and stream), "
                       "including the wait behind the same object's earlier writes and their retries")
