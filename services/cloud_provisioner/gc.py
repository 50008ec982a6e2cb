"""Orphan garbage collection: instances of this cluster whose pod is gone.

Safe by construction, in this order: (1) only the elected leader collects; (2) the view of live
pods is a fresh list from the API (one consistent snapshot per super node), taken before the
instances are listed, and a failed list skips the round; (3) only names under this cluster's
prefix are considered (`InstanceNaming`: it hashes the cluster's own uid, so another cluster with
the same config has another prefix); (4) an instance is deleted only once both its CreationTime
and the moment this collector first saw it orphaned are older than the grace period — an instance
created for a pod bound after the list, or seen orphaned once by accident, survives.

A terminating pod does not keep its instance alive: if its delete was lost (a create raced it on
another replica), collecting the instance lets node-status finish the pod's deletion.

The live view is read pod by pod: a pod that does not decode as a Pod still keeps its instance
alive by its uid (logged and counted), so one odd object neither stops collection for everyone
nor gets its own instance collected; only a pod whose uid cannot be read skips the round.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import msgspec

from services.cloud_provisioner.metrics import GC_UNDECODABLE_PODS, INSTANCES_DELETED
from spillway.cloud import Instance, InstanceNaming, InstanceProvider
from spillway.kube import KubeClient
from spillway.kube.client import collection_path
from spillway.loops import SYSTEM_CLOCK, Clock, Liveness, every
from spillway.loops.periodic import describe_error
from spillway.model.kube import decode_pod, decode_pod_list, raw_uid

log = logging.getLogger("spillway.cloud-provisioner.gc")
GC_LOOP = "orphan gc"


class UnreadablePod(Exception):
    """A pod on a super node whose uid cannot be read: which instance is its own is unknown."""


class OrphanCollector:
    """`run_once()` is one collection round; `run(is_leader)` repeats it every `interval` seconds as a
    supervised loop (`spillway.loops.every`: a failed round is logged, counted and backed off)."""

    def __init__(self, *, client: KubeClient, provider: InstanceProvider, naming: InstanceNaming,
                 nodes: Iterable[str], grace: float = 120.0, interval: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.provider = provider
        self.naming = naming
        self.nodes = sorted(nodes)
        self.grace = grace
        self.interval = interval
        self.clock = clock
        self.first_seen: dict[str, float] = {}

    async def live_names(self) -> set[str]:
        """Instance names of the pods on our super nodes that are not terminating (raises if a list
        fails, or if a pod's uid cannot be read). A pod that does not decode counts as live."""
        names: set[str] = set()
        for node in self.nodes:
            raw = await self.client.request("GET", collection_path("v1", "pods"),
                                            params={"fieldSelector": f"spec.nodeName={node}"})
            for item in decode_pod_list(raw).items:
                try:
                    pod = decode_pod(item)
                except msgspec.DecodeError as exc:
                    uid = raw_uid(item)
                    GC_UNDECODABLE_PODS.inc()
                    log.warning("pod not decodable; its instance is kept", extra={
                        "node": node, "uid": uid, "error": describe_error(exc)})
                    if not uid:
                        raise UnreadablePod(f"a pod on {node} has no readable uid: {describe_error(exc)}") from None
                    names.add(self.naming.name(uid))
                    continue
                if not pod.is_terminating():
                    names.add(self.naming.name(pod.metadata.uid))
        return names

    def orphans(self, instances: Iterable[Instance], live: set[str], now: float) -> list[Instance]:
        """Pure: which instances are due, updating `first_seen` (forgetting ids no longer orphaned)."""
        due: list[Instance] = []
        seen: dict[str, float] = {}
        for inst in instances:
            if inst.name in live:
                continue
            first = seen[inst.id] = self.first_seen.get(inst.id, now)
            created = inst.created_at.timestamp() if inst.created_at else now
            if now - created >= self.grace and now - first >= self.grace:
                due.append(inst)
        self.first_seen = seen
        return due

    async def run_once(self) -> list[str]:
        """One round; returns the ids deleted."""
        live = await self.live_names()
        instances = await self.provider.list_by_name_prefix(self.naming.prefix)
        due = self.orphans(instances, live, self.clock())
        if not due:
            return []
        ids = [i.id for i in due]
        await self.provider.delete(ids)
        for inst in due:
            self.first_seen.pop(inst.id, None)
        INSTANCES_DELETED.labels("orphan").inc(len(ids))
        log.info("orphan instances deleted", extra={"ids": ids, "names": [i.name for i in due]})
        return ids

    async def round(self, is_leader: Callable[[], bool]) -> None:
        """A round while leading; otherwise forget what was seen (a new leader starts its own grace clock)."""
        if is_leader():
            await self.run_once()
        else:
            self.first_seen.clear()

    async def run(self, is_leader: Callable[[], bool], *, clock: Clock = SYSTEM_CLOCK,
                  liveness: Liveness | None = None) -> None:
        """Until cancelled: `round` every `interval` seconds, supervised."""
        await every(GC_LOOP, self.interval, lambda: self.round(is_leader), clock=clock, liveness=liveness)
