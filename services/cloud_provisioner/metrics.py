"""cloud-provisioner's Prometheus metrics (process-wide, defined once)."""

from __future__ import annotations

from prometheus_client import Counter

INSTANCES_CREATED = Counter("spillway_instances_created_total", "Container instances created (or found by name)")
INSTANCES_DELETED = Counter("spillway_instances_deleted_total", "Container instances deleted", ["why"])
INSTANCES_FAILED = Counter("spillway_instances_failed_total", "Pods failed because no instance could run them",
                           ["reason"])
CLOUD_ERRORS = Counter("spillway_cloud_errors_total", "Cloud calls that failed after the client's retries",
                       ["code"])
