"""The super nodes as Kubernetes sees them: the Node objects (docs/design.md §2), their status and Leases.

Registration merges instead of replacing: only the labels, annotations and taint Spillway owns
are written, so what users put on a super node (annotations such as
`eks.tke.cloud.tencent.com/resolv-conf`, their own labels, extra taints) survives restarts.
Capacity is honest: `cloud.instanceQuota` pods, and cpu/memory of that many of the largest
instance a pod may get (`nodeStatus.podCpu`/`podMemory`), so the cloud quota — not an invented
figure — is what limits a super node.

Each node is written on its own: one super node the API refuses (a webhook, a name it rejects)
never keeps the others from being registered, or their status and Leases from being renewed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from spillway.config import Config
from spillway.kube import KubeClient, NotFound, node_path, object_path
from spillway.kube.client import MERGE_PATCH, collection_path
from spillway.kube.leader import micro_time
from spillway.loops.periodic import describe_error
from spillway.model.kube import Node
from spillway.model.specs import cpu_cores, memory_gib
from spillway.model.supernode import (
    SUPER_NODE_ARCH,
    SUPER_NODE_OS,
    super_node_annotations,
    super_node_labels,
    super_node_name,
    super_node_taint,
)

log = logging.getLogger("spillway.node-status.nodes")
KUBELET_VERSION = "v1.30.0-spillway"
CONTAINER_RUNTIME = "tke-serverless://"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
READY_REASON = "KubeletReady"
NOT_READY_REASON = "CloudUnreachable"


@dataclass(frozen=True)
class SuperNode:
    """What one super node is made of: its subnet and zone, and where node-status answers."""

    name: str
    subnet_id: str
    zone: str
    address: str
    port: int
    capacity: dict[str, str]


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str = READY_REASON
    message: str = "the cloud API answers"


def capacity(config: Config) -> dict[str, str]:
    quota = config.cloud.instance_quota
    cpu = int(cpu_cores(config.node_status.pod_cpu) * quota)
    memory = int(memory_gib(config.node_status.pod_memory) * quota)
    return {"cpu": str(cpu), "memory": f"{memory}Gi", "pods": str(quota), "ephemeral-storage": f"{20 * quota}Gi"}


def super_nodes_from(config: Config, address: str, port: int) -> list[SuperNode]:
    cap = capacity(config)
    return [SuperNode(super_node_name(s.id), s.id, s.zone, address, port, cap) for s in config.cloud.subnets]


def owned_labels(node: SuperNode) -> dict[str, str]:
    return super_node_labels(node.name, node.zone)


def owned_annotations(node: SuperNode) -> dict[str, str]:
    return super_node_annotations(node.subnet_id)


def taint() -> dict[str, Any]:
    wire: dict[str, Any] = msgspec.to_builtins(super_node_taint())
    return wire


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_status(node: SuperNode, readiness: Readiness, now: float, since: float) -> dict[str, Any]:
    """The status node-status writes (conditions merge by type; we own every one of them)."""
    heartbeat, transition = _iso(now), _iso(since)

    def condition(type_: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {"type": type_, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": heartbeat, "lastTransitionTime": transition}

    conditions = [condition(t, "False", f"No{t}", f"a super node has no {t}")
                  for t in ("MemoryPressure", "DiskPressure", "PIDPressure")]
    conditions.append(condition("Ready", "True" if readiness.ready else "False", readiness.reason, readiness.message))
    return {
        "capacity": node.capacity, "allocatable": node.capacity, "conditions": conditions,
        "addresses": [{"type": "InternalIP", "address": node.address}, {"type": "Hostname", "address": node.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": node.port}},
        "nodeInfo": {
            "machineID": node.name, "systemUUID": node.name, "bootID": node.subnet_id, "kernelVersion": "",
            "osImage": "TKE Serverless", "containerRuntimeVersion": CONTAINER_RUNTIME,
            "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "", "operatingSystem": SUPER_NODE_OS,
            "architecture": SUPER_NODE_ARCH,
        },
    }


def new_node(node: SuperNode) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node.name, "labels": owned_labels(node), "annotations": owned_annotations(node)},
        "spec": {"taints": [taint()]},
    }


def merge_patch(node: SuperNode, current: Node) -> dict[str, Any] | None:
    """The merge patch that adds what we own to an existing node, or None when it is all there."""
    patch: dict[str, Any] = {}
    labels = {k: v for k, v in owned_labels(node).items() if current.metadata.labels.get(k) != v}
    annotations = {k: v for k, v in owned_annotations(node).items() if current.metadata.annotations.get(k) != v}
    if labels or annotations:
        patch["metadata"] = {k: v for k, v in (("labels", labels), ("annotations", annotations)) if v}
    wanted = super_node_taint()
    ours = [t for t in current.spec.taints if t.key == wanted.key and t.effect == wanted.effect]
    if not ours:  # a merge patch replaces the list: keep the user's taints
        kept = [{k: v for k, v in (("key", t.key), ("value", t.value), ("effect", t.effect)) if v is not None}
                for t in current.spec.taints]
        patch["spec"] = {"taints": [*kept, taint()]}
    return patch or None


class NodeRegistrar:
    """Registers the super nodes, writes their status and renews their Leases."""

    def __init__(self, client: KubeClient, nodes: Sequence[SuperNode], *, identity: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.nodes = list(nodes)
        self.identity = identity
        self.clock = clock
        self.readiness = Readiness(True)
        self.since = clock()

    async def register(self) -> None:
        """Create missing super nodes, merge ours into existing ones, then write their status."""
        failed = await _each(self.nodes, self._register, raise_first=False)
        now, refused = self.clock(), {node.name for node, _ in failed}
        registered = [node for node in self.nodes if node.name not in refused]
        failed += await _each(registered, lambda node: self._write_status(node, now), raise_first=False)
        if failed and len({node.name for node, _ in failed}) == len(self.nodes):
            raise failed[0][1]
        for node, exc in failed:  # the others go on; the status loop registers it once it is possible
            log.warning("super node not registered yet", extra={"node": node.name, "error": describe_error(exc)})

    async def _register(self, node: SuperNode) -> None:
        try:
            current = await self.client.get_as(node_path(node.name), Node)
        except NotFound:
            await self.client.request("POST", collection_path("v1", "nodes"), body=new_node(node))
        else:
            patch = merge_patch(node, current)
            if patch is not None:
                await self.client.patch(node_path(node.name), patch, content_type=MERGE_PATCH)

    def set_readiness(self, readiness: Readiness) -> bool:
        """True when Ready flipped (the caller then writes status at once)."""
        if readiness.ready == self.readiness.ready and readiness.reason == self.readiness.reason:
            return False
        self.readiness, self.since = readiness, self.clock()
        return True

    async def write_status(self) -> None:
        """Every node's status; one node's failure does not keep the others' from being written
        (the first error is raised after all were tried, so the loop logs and backs off)."""
        now = self.clock()
        await _each(self.nodes, lambda node: self._write_status(node, now))

    async def _write_status(self, node: SuperNode, now: float) -> None:
        body = {"status": node_status(node, self.readiness, now, self.since)}
        try:
            await self.client.patch_node_status(node.name, body)
        except NotFound:  # deleted behind our back: register it again, as a kubelet does
            await self._register(node)
            await self.client.patch_node_status(node.name, body)

    async def renew_leases(self) -> None:
        """Every node's Lease, each on its own (as `write_status`)."""
        now = micro_time(self.clock())
        await _each(self.nodes, lambda node: self._renew_lease(node, now))

    async def _renew_lease(self, node: SuperNode, now: str) -> None:
        path = object_path("coordination.k8s.io/v1", "leases", node.name, LEASE_NAMESPACE)
        spec = {"holderIdentity": node.name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": now}
        try:
            await self.client.patch(path, {"spec": spec}, content_type=MERGE_PATCH)
        except NotFound:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": node.name, "namespace": LEASE_NAMESPACE}, "spec": spec}
            await self.client.request("POST", collection_path("coordination.k8s.io/v1", "leases",
                                                              LEASE_NAMESPACE), body=body)


async def _each(nodes: Sequence[SuperNode], work: Callable[[SuperNode], Awaitable[None]], *,
                raise_first: bool = True) -> list[tuple[SuperNode, Exception]]:
    """`work` for every node in turn, so one node never stops the others; then raises the first
    failure (`raise_first`) or returns the failures."""
    failed: list[tuple[SuperNode, Exception]] = []
    for node in nodes:
        try:
            await work(node)
        except Exception as exc:
            failed.append((node, exc))
    if failed and raise_first:
        raise failed[0][1]
    return failed
