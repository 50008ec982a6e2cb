"""Pods and nodes for the operations tests, as the API would return them."""

from __future__ import annotations

from typing import Any

import msgspec

from spillway.model.kube import (
    ANNOTATION_LOCAL_REPLICAS,
    LABEL_INSTANCE_TYPE,
    LABEL_TOPOLOGY_ZONE,
    PLACEMENT_GATE,
    SUPER_NODE_INSTANCE_TYPE,
    Node,
    Pod,
)


def pod(name: str, *, node: str = "", owner: str | None = "web", kind: str = "StatefulSet", namespace: str = "default",
        cpu: str = "250m", memory: str = "256Mi", gated: bool = False, unschedulable: bool = False,
        local_replicas: str | None = None, created: str = "2026-01-01T00:00:00Z", phase: str = "",
        terminating: bool = False) -> Pod:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}",
                            "creationTimestamp": created, "annotations": {}}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": kind, "name": owner, "uid": f"uid-{owner}",
                                    "controller": True}]
    if local_replicas is not None:
        meta["annotations"][ANNOTATION_LOCAL_REPLICAS] = local_replicas
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:05:00Z"
    status: dict[str, Any] = {"phase": phase or ("Running" if node else "Pending")}
    if unschedulable:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    body = {
        "metadata": meta,
        "spec": {"nodeName": node, "schedulingGates": [{"name": PLACEMENT_GATE}] if gated else [],
                 "containers": [{"name": "app", "image": "nginx",
                                 "resources": {"requests": {"cpu": cpu, "memory": memory}}}]},
        "status": status,
    }
    return msgspec.convert(body, Pod)


def node(name: str, *, zone: str = "", super_node: bool = False, ready: bool = True, pods: str = "110") -> Node:
    labels = {LABEL_TOPOLOGY_ZONE: zone} if zone else {}
    if super_node:
        labels[LABEL_INSTANCE_TYPE] = SUPER_NODE_INSTANCE_TYPE
    return msgspec.convert({
        "metadata": {"name": name, "uid": f"uid-{name}", "labels": labels},
        "status": {"capacity": {"pods": pods},
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }, Node)
