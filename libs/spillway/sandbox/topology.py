"""The sandbox's own ("local") nodes: what `--nodes/--node-cpu/--node-memory/--node-pods` or a
`--topology FILE` describe, created at start when missing, marked with the annotation the
fake kubelet manages (`sandbox.spillway.io/managed: "true"`). Super nodes, created by
Spillway's node-status, never carry it.

Topology file (YAML): a list of nodes, or `{nodes: [...]}`; each node:
`{name, cpu: "2", memory: "4Gi", pods: 110, labels: {...}, taints: [{key, value, effect}]}`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spillway.sandbox.semantics import rfc3339
from spillway.sandbox.store import Store

Obj = dict[str, Any]
MANAGED_ANNOTATION = "sandbox.spillway.io/managed"
POD_CIDR_ANNOTATION = "sandbox.spillway.io/pod-cidr"
KUBELET_VERSION = "v1.32.0"


@dataclass(frozen=True)
class LocalNode:
    name: str
    cpu: str = "2"
    memory: str = "4Gi"
    pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Obj, ...] = ()


def uniform(count: int, cpu: str = "2", memory: str = "4Gi", pods: int = 110) -> list[LocalNode]:
    """`--nodes N`: node-1 … node-N, all alike."""
    return [LocalNode(f"node-{i}", cpu, memory, pods) for i in range(1, count + 1)]


def load(path: Path) -> list[LocalNode]:
    data = yaml.safe_load(path.read_text()) or []
    items = data.get("nodes", []) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of nodes")
    nodes = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: node {i} is not a mapping")
        nodes.append(LocalNode(str(item.get("name") or f"node-{i}"), str(item.get("cpu", "2")),
                               str(item.get("memory", "4Gi")), int(item.get("pods", 110)),
                               {str(k): str(v) for k, v in (item.get("labels") or {}).items()},
                               tuple(dict(t) for t in item.get("taints") or [])))
    return nodes


def pod_cidr(index: int) -> str:
    """Node `index`'s /24 pod range: 10.244.<index>.0/24, carrying on into 10.245.0.0/24 and beyond
    past 255 nodes (a /24 per node, as the node IPAM allocator hands them out)."""
    return f"{ipaddress.IPv4Address('10.244.0.0') + index * 256}/24"


def host_ip(index: int) -> str:
    """Node `index`'s InternalIP: 172.20.0.<index + 1>, carrying on into 172.20.1.0 past 254."""
    return str(ipaddress.IPv4Address("172.20.0.0") + index + 1)


def node_object(spec: LocalNode, index: int, now: float) -> Obj:
    """A Ready node as a kubelet would register it (index picks its IP and pod range)."""
    cidr = pod_cidr(index)
    resources = {"cpu": spec.cpu, "memory": spec.memory, "pods": str(spec.pods), "ephemeral-storage": "100Gi"}
    stamp = rfc3339(now)
    labels = {"kubernetes.io/hostname": spec.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64", **spec.labels}
    node: Obj = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels,
                     "annotations": {MANAGED_ANNOTATION: "true", POD_CIDR_ANNOTATION: cidr,
                                     "node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {
            "capacity": resources, "allocatable": dict(resources),
            "conditions": [
                *({"type": t, "status": "False", "reason": r, "message": m, "lastHeartbeatTime": stamp,
                   "lastTransitionTime": stamp} for t, r, m in (
                    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))),
                {"type": "Ready", "status": "True", "reason": "KubeletReady",
                 "message": "kubelet is posting ready status", "lastHeartbeatTime": stamp,
                 "lastTransitionTime": stamp}],
            "addresses": [{"type": "InternalIP", "address": host_ip(index)},
                          {"type": "Hostname", "address": spec.name}],
            "nodeInfo": {"machineID": f"sandbox-{spec.name}", "systemUUID": f"sandbox-{spec.name}",
                         "bootID": f"sandbox-{spec.name}", "kernelVersion": "6.1.0", "osImage": "Spillway sandbox",
                         "containerRuntimeVersion": "containerd://1.7.0", "kubeletVersion": KUBELET_VERSION,
                         "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": "linux", "architecture": "amd64"},
        },
    }
    if spec.taints:
        node["spec"]["taints"] = [dict(t) for t in spec.taints]
    return node


async def ensure_nodes(store: Store, nodes: list[LocalNode]) -> None:
    """Create the nodes that do not exist yet (a restart with --data-dir keeps the old ones)."""
    for index, spec in enumerate(nodes, start=1):
        if store.try_get("nodes", None, spec.name) is None:
            await store.create("nodes", node_object(spec, index, store.clock()), user="system:node:" + spec.name)


def is_managed(node: Obj) -> bool:
    return (node["metadata"].get("annotations") or {}).get(MANAGED_ANNOTATION) == "true"
