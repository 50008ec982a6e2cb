"""Small builders for pod, node, PVC and PV views used by the policy tables."""

from __future__ import annotations

import copy
from typing import Any

from spillway.model.kube import (
    LABEL_INSTANCE_TYPE,
    LABEL_TOPOLOGY_ZONE,
    LABEL_ZONE_NAME,
    PLACEMENT_GATE,
    SUPER_NODE_INSTANCE_TYPE,
    SUPER_NODE_TAINT_KEY,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    from_builtins,
)


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def pod_dict(
    name: str = "web-1",
    namespace: str = "default",
    *,
    annotations: dict[str, str] | None = None,
    gated: bool = False,
    spec: dict[str, Any] | None = None,
    owner: tuple[str, str] | None = None,
    labels: dict[str, str] | None = None,
    uid: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """API JSON of a pod with one container (100m / 128Mi)."""
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid or f"uid-{name}"},
        "spec": {"containers": [{"name": "app", "image": "nginx",
                                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
    }
    if annotations:
        obj["metadata"]["annotations"] = dict(annotations)
    if labels:
        obj["metadata"]["labels"] = dict(labels)
    if owner:
        obj["metadata"]["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "uid": "owner-uid", "controller": True}
        ]
    if gated:
        obj["spec"]["schedulingGates"] = [{"name": PLACEMENT_GATE}]
    if spec:
        obj["spec"] = deep_merge(obj["spec"], spec)
    return deep_merge(obj, extra)


def pod(name: str = "web-1", namespace: str = "default", **kwargs: Any) -> Pod:
    return from_builtins(pod_dict(name, namespace, **kwargs), Pod)


def container(name: str = "app", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "nginx", **fields}


def super_node(
    name: str = "eklet-subnet-a",
    *,
    zone: str = "ap-guangzhou-3",
    ready: bool = True,
    cordoned: bool = False,
    pods: str | None = "100",
    taints: list[dict[str, str]] | None = None,
    labels: dict[str, str] | None = None,
) -> Node:
    obj: dict[str, Any] = {
        "metadata": {
            "name": name,
            "labels": {LABEL_INSTANCE_TYPE: SUPER_NODE_INSTANCE_TYPE, LABEL_ZONE_NAME: zone, LABEL_TOPOLOGY_ZONE: zone,
                       **(labels or {})},
        },
        "spec": {"taints": [{"key": SUPER_NODE_TAINT_KEY, "effect": "NoSchedule"}, *(taints or [])]},
        "status": {
            "allocatable": {"pods": pods} if pods is not None else {},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }
    if cordoned:
        obj["spec"]["unschedulable"] = True
    return from_builtins(obj, Node)


def local_node(name: str = "10.0.1.5", labels: dict[str, str] | None = None) -> Node:
    return from_builtins({"metadata": {"name": name, "labels": labels or {}}}, Node)


def pvc(name: str, volume_name: str | None = None, namespace: str = "default") -> PersistentVolumeClaim:
    spec = {"volumeName": volume_name} if volume_name else {}
    return from_builtins({"metadata": {"name": name, "namespace": namespace}, "spec": spec}, PersistentVolumeClaim)


def pv(name: str, source: dict[str, Any]) -> PersistentVolume:
    return from_builtins({"metadata": {"name": name}, "spec": source}, PersistentVolume)
