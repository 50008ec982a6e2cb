"""cloud-provisioner's Prometheus metrics (process-wide, defined once)."""

from __future__ import annotations

from spillway.telemetry.metrics import SLOW_BUCKETS, counter, histogram

INSTANCES_CREATED = counter("spillway_instances_created_total", "Container instances created (or found by name)")
INSTANCES_DELETED = counter("spillway_instances_deleted_total",
                            "Container instances deleted, by why (the pod's change, orphan, pod-gone-during-create)",
                            ["why"])
INSTANCES_FAILED = counter("spillway_instances_failed_total",
                           "Pods failed because no instance could run them, by the pod's reason", ["reason"])
CLOUD_ERRORS = counter("spillway_cloud_errors_total",
                       "Instance creates and deletes that failed after the client's retries, by error code", ["code"])
INSTANCE_CREATE_SECONDS = histogram("spillway_instance_create_seconds",
                                    "Time to create one pod's instance: the look-up by name, the create and the "
                                    "client's retries (successful creates)", buckets=SLOW_BUCKETS)
INSTANCE_DELETE_SECONDS = histogram("spillway_instance_delete_seconds",
                                    "Time to find and delete one pod's instance (instances that existed)",
                                    buckets=SLOW_BUCKETS)
ZONE_SOLD_OUT = counter("spillway_zone_sold_out_total",
                        "Creates the cloud answered sold out, each starting or extending its zone's cool-down, "
                        "by zone", ["zone"])
GC_UNDECODABLE_PODS = counter("spillway_gc_undecodable_pods_total",
                              "Pods on the super nodes the orphan GC could not decode (their instances were kept)")
