"""A small cluster for placement tests: the sandbox with super nodes, the watcher and placement."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from services.placement.decider import Decider
from services.placement.leadership import Leadership
from services.placement.main import PlacementService
from services.placement.main import build_service as build_placement
from services.watcher.main import build_service as build_watcher
from spillway.bus import Bus
from spillway.kube import KubeClient, NotFound, pod_path
from spillway.kube.client import MERGE_PATCH, collection_path, object_path
from spillway.model import messages as m
from spillway.model.kube import Pod, decode_pod
from tests.fixtures.eventually import eventually
from tests.services.conftest import (
    UNSCHEDULABLE_STATUS,
    RunningService,
    ServiceEnv,
    local_node_body,
    super_node_body,
)

GATE = "spillway.io/placement"
SUBNETS = ("subnet-a", "subnet-b")
PLACEMENT_CONFIG: dict[str, Any] = {
    "placement": {"leaseDurationSeconds": 3, "leaseRenewSeconds": 0.5, "resyncSeconds": 2},
    "cloud": {"subnets": [{"id": s, "zone": "ap-guangzhou-3"} for s in SUBNETS]},
}


@dataclass
class Cluster:
    env: ServiceEnv
    kube: KubeClient
    bus: Bus
    placements: list[RunningService[PlacementService]] = field(default_factory=list)

    async def create(self, *bodies: dict[str, Any]) -> None:
        await asyncio.gather(*(self.kube.request("POST", collection_path("v1", "pods", b["metadata"]["namespace"]),
                                                 body=b) for b in bodies))

    async def mark_unschedulable(self, namespace: str, *names: str) -> None:
        await asyncio.gather(*(self.kube.patch(pod_path(namespace, n) + "/status", UNSCHEDULABLE_STATUS,
                                               content_type=MERGE_PATCH) for n in names))

    async def pod(self, namespace: str, name: str) -> Pod:
        return decode_pod(await self.kube.request("GET", pod_path(namespace, name)))

    async def pods(self, namespace: str = "default", selector: str = "") -> list[Pod]:
        params = {"labelSelector": selector} if selector else None
        raw = await self.kube.get_as(collection_path("v1", "pods", namespace), dict[str, Any], **(params or {}))
        return [msgspec.convert(item, Pod) for item in raw["items"]]

    async def set_global(self, value: str | None) -> None:
        """Create, change or delete kube-system/eks-config (value None: no ConfigMap)."""
        path = object_path("v1", "configmaps", "eks-config", "kube-system")
        if value is None:
            with contextlib.suppress(NotFound):
                await self.kube.delete(path)
            return
        try:
            await self.kube.patch(path, {"data": {"AUTO_SCALE_EKS": value}}, content_type=MERGE_PATCH)
        except NotFound:
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "eks-config"},
                    "data": {"AUTO_SCALE_EKS": value}}
            await self.kube.request("POST", collection_path("v1", "configmaps", "kube-system"), body=body)

    async def wait_global(self, value: str | None) -> None:
        """Until placement's view has the switch value (the bus is asynchronous)."""
        def seen() -> bool:
            view = self.placements[0].service.state.view
            return view is not None and view.global_switch() == value
        await eventually(seen, what=f"placement sees AUTO_SCALE_EKS={value}")

    async def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        raw = await self.kube.get_as(collection_path("v1", "events", namespace), dict[str, Any])
        return [e for e in raw["items"] if e["involvedObject"]["name"] == name]

    async def decision(self, namespace: str, name: str) -> m.PlacementDecision | None:
        decisions = await self.bus.typed_kv(m.KV_DECISIONS, m.PlacementDecision)
        return await decisions.get(m.kv_key(namespace, name))


def leadership_of(placement: RunningService[PlacementService]) -> Leadership:
    """A placement replica's leadership (made at startup, so there once the replica is ready)."""
    leadership = placement.service.state.leadership
    assert leadership is not None, "placement has not started"
    return leadership


def decider_of(placement: RunningService[PlacementService]) -> Decider:
    """A placement replica's decider (made at startup, so there once the replica is ready)."""
    decider = placement.service.state.decider
    assert decider is not None, "placement has not started"
    return decider


def leads(placement: RunningService[PlacementService]) -> bool:
    """Whether the replica holds the lease (its pending-pod consumer runs)."""
    return leadership_of(placement).consumer is not None


def placement_of(pod: Pod) -> str:
    """cloud (bound to a super node), local (released to the local scheduler), gated, pending."""
    if pod.spec.node_name:
        return "cloud" if pod.spec.node_name.startswith("eklet-") else "local-bound"
    if pod.is_gated_by(GATE):
        return "gated"
    if any(t.key == "eks.tke.cloud.tencent.com/eklet" for t in pod.spec.tolerations):
        return "cloud-unbound"  # patched for a super node, bind still owed (a new leader finishes it)
    return "local" if not pod.is_unschedulable() else "pending"


@contextlib.asynccontextmanager
async def cluster(env: ServiceEnv, bus: Bus, *, placement_config: Mapping[str, Any] | None = None,
                  super_node_pods: int = 100, start_placement: bool = True) -> AsyncIterator[Cluster]:
    kube = await KubeClient.connect(str(env.kubeconfig))
    try:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "spillway"}}
        await kube.request("POST", collection_path("v1", "namespaces"), body=ns)
        for subnet in SUBNETS:
            body = super_node_body(subnet, pods=super_node_pods)
            await kube.request("POST", collection_path("v1", "nodes"), body=body)
        await kube.request("POST", collection_path("v1", "nodes"), body=local_node_body("idc-1"))
        c = Cluster(env, kube, bus)
        config = {**PLACEMENT_CONFIG, **(placement_config or {})}
        async with env.run(build_watcher):
            if not start_placement:
                yield c
                return
            async with env.run(build_placement, config=config) as placement:
                c.placements.append(placement)
                await eventually(lambda: leads(placement), what="placement leads")
                yield c
    finally:
        await kube.close()
