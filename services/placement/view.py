"""Placement's picture of the cluster, built from the watcher's KV buckets (never from the API).

Why from the bus: the watcher is the only service that watches Kubernetes; every placement
replica (the leader and its warm standbys) follows the same buckets, so a standby that takes over
already has a synced view. Indexes keep a decision O(workload size): pods by workload (the local
count) and pods by node (how loaded each super node is).

Each KV entry is applied on its own: one that cannot be decoded (the typed watch skips it,
counted in `TypedKV.undecodable`) or applied (counted in `undecodable`) is logged and skipped,
and a bucket watch that fails is opened again after a pause, so one bad object or a bus outage
never leaves the view silently frozen.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from spillway.bus import Bus, TypedKV
from spillway.loops import Backoff
from spillway.model import messages as m
from spillway.model.kube import (
    ANNOTATION_AUTO_SCALE,
    PLACEMENT_GATE,
    Node,
    OwnerReference,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    ReplicaSet,
    local_pod_view,
)
from spillway.model.sharing import EqualParts
from spillway.policy import WorkloadKey, workload_of
from spillway.policy.local_count import InFlight

log = logging.getLogger("spillway.placement")
T = TypeVar("T")
REWATCH_BACKOFF = Backoff(initial=0.5, cap=30.0, jitter=0.0)
MAX_TOMBSTONES = 50_000
"""Deleted pods' uids remembered: a late event about one (a redelivered message) arrives within
minutes, far fewer deletions than this; the oldest are forgotten first."""
PodListener = Callable[[Pod, bool], None]
"""(pod, deleted): called after every change the view applies."""
Trigger = Callable[[str], None]


def is_newer(candidate: Pod, current: Pod | None) -> bool:
    """resourceVersions are opaque, but every server we meet uses integers: compare them when
    both parse, otherwise trust the candidate (it came later)."""
    if current is None or current.metadata.uid != candidate.metadata.uid:
        return True
    try:
        return int(candidate.metadata.resource_version) >= int(current.metadata.resource_version)
    except ValueError:
        return True


def is_newer_than(pod: Pod, resource_version: str) -> bool:
    """The pod changed after a list at `resource_version` (unknown when either is no integer: False)."""
    try:
        return int(pod.metadata.resource_version) > int(resource_version)
    except ValueError:
        return False


def occupies_node(pod: Pod) -> bool:
    return bool(pod.spec.node_name) and not pod.is_terminating() and not pod.is_finished()


@dataclass
class Tally:
    """One workload's pods by how `count_local` treats them, kept up to date on every change, so
    a decision costs O(in-flight) instead of O(workload) (a 2000-pod burst was O(n²))."""

    bound_by_node: Counter[str] = field(default_factory=Counter)  # active pods bound, per node
    ungated: set[str] = field(default_factory=set)  # uids: active, unbound, no placement gate
    gated: set[str] = field(default_factory=set)  # uids: active, unbound, placement gate

    def count_local(self, super_nodes: Collection[str], in_flight: Mapping[str, InFlight]) -> int:
        """Exactly `spillway.policy.count_local` over the workload's pods (tested against it)."""
        total = sum(self.bound_by_node.values()) - sum(self.bound_by_node.get(n, 0) for n in super_nodes)
        total += len(self.ungated)
        for uid, decision in in_flight.items():
            if decision == "cloud" and uid in self.ungated:
                total -= 1
            elif decision == "local" and uid in self.gated:
                total += 1
        return total

    def change(self, pod: Pod, sign: int) -> Counter[str]:
        """Add (sign 1) or remove (sign -1) a pod; returns the node occupancy delta."""
        occupied: Counter[str] = Counter()
        if pod.is_terminating() or pod.is_finished():
            return occupied
        uid, node = pod.metadata.uid, pod.spec.node_name
        if node:
            self.bound_by_node[node] += sign
            occupied[node] += sign
        else:
            bucket = self.gated if pod.is_gated_by(PLACEMENT_GATE) else self.ungated
            if sign > 0:
                bucket.add(uid)
            else:
                bucket.discard(uid)
        return occupied


SHARED_PARTS = 8192
"""Distinct equal parts remembered (the most recent win): far more than a cluster's pod templates."""


class SharedParts:
    """Replaces the parts of a pod that its workload's replicas have in common (labels,
    annotations, owners, containers, volumes, scheduling constraints) by an equal part seen
    before, so a workload's thousand replicas hold one copy instead of a thousand. Safe: the
    view's pods are frozen structs."""

    def __init__(self, capacity: int = SHARED_PARTS) -> None:
        self._parts = EqualParts(capacity)

    def __len__(self) -> int:
        return len(self._parts)

    def pod(self, pod: Pod) -> Pod:
        meta, spec = pod.metadata, pod.spec
        return msgspec.structs.replace(
            pod,
            metadata=msgspec.structs.replace(meta, labels=self._one(b"l", meta.labels),
                                             annotations=self._one(b"a", meta.annotations),
                                             owner_references=self._one(b"o", meta.owner_references)),
            spec=msgspec.structs.replace(spec, containers=self._one(b"c", spec.containers),
                                         init_containers=self._one(b"c", spec.init_containers),
                                         volumes=self._one(b"v", spec.volumes),
                                         affinity=self._one(b"f", spec.affinity),
                                         tolerations=self._one(b"t", spec.tolerations),
                                         node_selector=self._one(b"l", spec.node_selector)))

    def _one(self, kind: bytes, part: T) -> T:
        """`part`, or an equal one of the same kind seen before (the kind keeps a list of volumes
        from ever standing in for a list of containers that happens to encode alike)."""
        return self._parts.share(part, kind) if part else part


class Tombstones:
    """The uids of the last `cap` deleted pods."""

    def __init__(self, cap: int = MAX_TOMBSTONES) -> None:
        self.cap = cap
        self._uids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, uid: object) -> bool:
        return uid in self._uids

    def __len__(self) -> int:
        return len(self._uids)

    def add(self, uid: str) -> None:
        self._uids[uid] = None
        self._uids.move_to_end(uid)
        while len(self._uids) > self.cap:
            self._uids.popitem(last=False)

    def clear(self) -> None:
        self._uids.clear()


class ClusterView:
    """Pods, nodes, owners, volumes, the global switch and zone cool-downs, as the bus says."""

    def __init__(self) -> None:
        self.pods: dict[str, Pod] = {}
        self.shared = SharedParts()
        self.workloads: dict[str, WorkloadKey] = {}
        self.members: dict[WorkloadKey, set[str]] = {}
        self.on_node: dict[str, set[str]] = {}
        self.unbound: set[str] = set()
        """Keys of the pods bound to no node: the only ones placement may still have to decide."""
        self.tallies: dict[WorkloadKey, Tally] = {}
        self.occupied: Counter[str] = Counter()
        self.nodes: dict[str, Node] = {}
        self.replicaset_owners: dict[str, OwnerReference | None] = {}
        self.pvcs: dict[str, PersistentVolumeClaim] = {}
        self.pvs: dict[str, PersistentVolume] = {}
        self.config: m.ConfigEvent | None = None
        self.cooldowns: dict[str, float] = {}
        self.deleted_uids = Tombstones()
        self.pod_listeners: list[PodListener] = []
        self.triggers: list[Trigger] = []
        self.synced = asyncio.Event()
        self.undecodable = 0
        self.watch_failures = 0
        self._tasks: list[asyncio.Task[None]] = []

    # ---- reading ----------------------------------------------------------------------------

    def global_switch(self) -> str | None:
        return self.config_value(ANNOTATION_AUTO_SCALE)

    def config_data(self) -> Mapping[str, str]:
        """kube-system/eks-config's data (empty when it does not exist)."""
        if self.config is None or self.config.deleted:
            return {}
        return self.config.data

    def config_value(self, key: str) -> str | None:
        """One key of kube-system/eks-config (None when it or the ConfigMap is absent)."""
        return self.config_data().get(key)

    def super_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.is_super_node()]

    def super_node_names(self) -> set[str]:
        return {n.metadata.name for n in self.super_nodes()}

    def assigned(self, node: str) -> int:
        """Pods occupying `node` (bound, not terminating, not finished)."""
        return self.occupied.get(node, 0)

    def local_count(self, workload: WorkloadKey, super_nodes: Collection[str],
                    in_flight: Mapping[str, InFlight]) -> int:
        tally = self.tallies.get(workload)
        return 0 if tally is None else tally.count_local(super_nodes, in_flight)

    def workload_pods(self, workload: WorkloadKey) -> list[Pod]:
        return [self.pods[k] for k in self.members.get(workload, ())]

    def any_pod(self, workload: WorkloadKey) -> Pod | None:
        """One of the workload's pods (its template's annotations, without listing them all)."""
        for key in self.members.get(workload, ()):
            return self.pods[key]
        return None

    def replicaset_owner(self, namespace: str, name: str) -> OwnerReference | None:
        return self.replicaset_owners.get(f"{namespace}/{name}")

    def workload(self, pod: Pod) -> WorkloadKey:
        return self.workloads.get(pod.key) or workload_of(pod, self.replicaset_owner)

    def is_local(self, pod: Pod) -> bool:
        """Bound to a node known not to be a super node (the watcher's test for `local_pod_view`)."""
        node = self.nodes.get(pod.spec.node_name) if pod.spec.node_name else None
        return node is not None and not node.is_super_node()

    def as_stored(self, pod: Pod) -> Pod:
        """The pod as the pods bucket holds it: a local pod's view, any other pod whole."""
        return local_pod_view(pod) if self.is_local(pod) else pod

    def pvc(self, namespace: str, name: str) -> PersistentVolumeClaim | None:
        return self.pvcs.get(f"{namespace}/{name}")

    def pv(self, name: str) -> PersistentVolume | None:
        return self.pvs.get(name)

    # ---- writing ----------------------------------------------------------------------------

    def upsert_pod(self, pod: Pod) -> Pod:
        """Keep the newer of `pod` and the view's; returns the one kept. A pod whose uid was
        seen deleted is never resurrected by a late event; a new uid under a known name means the
        API deleted the pod we had (its deletion event was missed), so it goes as a deleted one."""
        key = pod.key
        current = self.pods.get(key)
        if pod.metadata.uid in self.deleted_uids:
            return current or pod
        if not is_newer(pod, current):
            return current  # type: ignore[return-value]  # is_newer(…, None) is True
        if current is not None and current.metadata.uid != pod.metadata.uid:
            self.remove_pod(key)
        self._unindex(key)
        pod = self.shared.pod(pod)
        self.pods[key] = pod
        workload = workload_of(pod, self.replicaset_owner)
        self.workloads[key] = workload
        self.members.setdefault(workload, set()).add(key)
        self.occupied.update(self.tallies.setdefault(workload, Tally()).change(pod, 1))
        if pod.spec.node_name:
            self.on_node.setdefault(pod.spec.node_name, set()).add(key)
        else:
            self.unbound.add(key)
        for listener in self.pod_listeners:
            listener(pod, False)
        return pod

    def remove_pod(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None:
            return
        if pod.metadata.uid:
            self.deleted_uids.add(pod.metadata.uid)
        self._unindex(key)
        del self.pods[key]
        for listener in self.pod_listeners:
            listener(pod, True)

    def _unindex(self, key: str) -> None:
        old = self.pods.get(key)
        if old is None:
            return
        workload = self.workloads.pop(key, None)
        if workload is not None:
            tally = self.tallies.get(workload)
            if tally is not None:
                self.occupied.update(tally.change(old, -1))
            members = self.members.get(workload)
            if members is not None:
                members.discard(key)
                if not members:
                    del self.members[workload]
                    self.tallies.pop(workload, None)
        if old.spec.node_name:
            keys = self.on_node.get(old.spec.node_name)
            if keys is not None:
                keys.discard(key)
        else:
            self.unbound.discard(key)

    # ---- following the buckets ----------------------------------------------------------------

    async def start(self, bus: Bus) -> None:
        """Follow every bucket; `synced` is set once each one's current content was read."""
        follows: list[tuple[str, Callable[[str, Any], None]]] = [
            (m.KV_REPLICASETS, self._apply_replicaset),
            (m.KV_PVCS, self._apply_pvc),
            (m.KV_PVS, self._apply_pv),
            (m.KV_NODES, self._apply_node),
            (m.KV_CONFIG, self._apply_config),
            (m.KV_ZONES, self._apply_zone),
            (m.KV_PODS, self._apply_pod),
        ]
        done: list[asyncio.Event] = []
        for bucket, apply in follows:
            event = asyncio.Event()
            done.append(event)
            kv: TypedKV[Any] = await bus.typed_kv(bucket)
            self._tasks.append(asyncio.create_task(self._follow(bucket, kv, apply, event), name=f"view:{bucket}"))
        await asyncio.gather(*(e.wait() for e in done))
        self.synced.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _follow(self, bucket: str, kv: TypedKV[Any], apply: Callable[[str, Any], None],
                      synced: asyncio.Event) -> None:
        """Apply the bucket's entries for ever; a watch that fails is opened again (it replays
        every key's latest entry, which `apply` takes as it takes any update)."""
        failures = 0
        while True:
            try:
                await self._watch(bucket, kv, apply, synced)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.watch_failures += 1
                pause = REWATCH_BACKOFF.delay(failures)
                log.warning("KV watch failed; watching again", extra={"bucket": bucket, "error": repr(exc),
                                                                      "retry_in": pause})
                await asyncio.sleep(pause)

    async def _watch(self, bucket: str, kv: TypedKV[Any], apply: Callable[[str, Any], None],
                     synced: asyncio.Event) -> None:
        async for change in kv.watch(on_synced=synced.set):
            self._apply_entry(bucket, change.key, change.value, apply)

    def _apply_entry(self, bucket: str, key: str, value: object, apply: Callable[[str, Any], None]) -> None:
        """One entry, isolated: whatever it holds, the entries after it are still applied."""
        try:
            apply(key, value)
        except Exception as exc:
            self.undecodable += 1
            log.warning("unusable KV entry ignored", extra={"bucket": bucket, "key": key, "error": repr(exc)[:300]})

    def _apply_pod(self, key: str, value: Pod | None) -> None:
        if value is None:
            self.remove_pod(key)
        else:
            self.upsert_pod(value)

    def _apply_node(self, key: str, value: Node | None) -> None:
        if value is None:
            self.nodes.pop(key, None)
        else:
            self.nodes[key] = value
        self._fire(m.KV_NODES)

    def _apply_config(self, key: str, value: m.ConfigEvent | None) -> None:
        if key != m.CONFIG_KEY_EKS:
            return
        self.config = value
        self._fire(m.KV_CONFIG)

    def _apply_zone(self, key: str, value: m.ZoneCooldown | None) -> None:
        if value is None:
            self.cooldowns.pop(key, None)
        else:
            self.cooldowns[value.zone or key] = value.until
        self._fire(m.KV_ZONES)

    def _apply_replicaset(self, key: str, value: ReplicaSet | None) -> None:
        if value is None:
            self.replicaset_owners.pop(key, None)
        else:
            self.replicaset_owners[key] = value.metadata.controller_ref()

    def _apply_pvc(self, key: str, value: PersistentVolumeClaim | None) -> None:
        if value is None:
            self.pvcs.pop(key, None)
        else:
            self.pvcs[key] = value

    def _apply_pv(self, key: str, value: PersistentVolume | None) -> None:
        if value is None:
            self.pvs.pop(key, None)
        else:
            self.pvs[key] = value

    def _fire(self, what: str) -> None:
        if self.synced.is_set():
            for trigger in self.triggers:
                trigger(what)
