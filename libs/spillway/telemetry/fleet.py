"""The fleet at a glance: each workload's pods (local, cloud, pending), the super nodes, the cost.

Why one pure function: placement's metrics (the dashboard) and `spillway status` (the terminal)
must count alike, so both tally the same objects here: pods and nodes as the API shows them
(`spillway status` reads the API, placement its view of the watcher's buckets, which mirror it).

- A pod bound to a super node is a cloud pod: its instance is the spec the translation picks for
  it (docs/design.md §6), which is what the cloud bills; bound elsewhere it is local; not bound, it
  is pending, and awaiting a decision when it carries the placement gate or the scheduler marked it
  Unschedulable. Terminating and finished pods are not counted.
- Cost per hour is an estimate: spec cores * `vcpu_hour` + spec GiB * `memory_gib_hour`.
- Metric labels stay bounded: `bounded_workloads` keeps the workloads Spillway acts on (cloud or
  pending pods, or a LOCAL_REPLICAS annotation), the busiest `limit` of them, and folds
  the rest into one `_other` row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from spillway.model.kube import (
    ANNOTATION_LOCAL_REPLICAS,
    LABEL_TOPOLOGY_ZONE,
    LABEL_ZONE_NAME,
    PLACEMENT_GATE,
    Node,
    Pod,
)
from spillway.model.sizing import SizeAnnotationError, pod_size
from spillway.model.specs import QuantityError
from spillway.policy import WorkloadKey, parse_local_replicas

GIB = 1 << 30
OTHER = "_other"
"""The label value of the row that folds the workloads beyond the cap."""
OTHER_WORKLOAD = WorkloadKey(OTHER, OTHER, OTHER)


class PriceTable(Protocol):
    """What instances cost per hour (`spillway.config.Prices` is one)."""

    @property
    def vcpu_hour(self) -> float: ...

    @property
    def memory_gib_hour(self) -> float: ...


@dataclass
class WorkloadTally:
    workload: WorkloadKey
    local: int = 0
    cloud: int = 0
    pending: int = 0
    local_replicas: int | None = None
    """LOCAL_REPLICAS of its pods (None: unset or malformed)."""
    cloud_cpu_cores: float = 0.0
    cloud_memory_bytes: float = 0.0
    cost_per_hour: float = 0.0

    @property
    def spillway_acts_on(self) -> bool:
        """It has pods in the cloud or pending, or asks for LOCAL_REPLICAS: Spillway's concern."""
        return bool(self.cloud or self.pending or self.local_replicas is not None)

    def add(self, other: WorkloadTally) -> None:
        self.local += other.local
        self.cloud += other.cloud
        self.pending += other.pending
        self.cloud_cpu_cores += other.cloud_cpu_cores
        self.cloud_memory_bytes += other.cloud_memory_bytes
        self.cost_per_hour += other.cost_per_hour


@dataclass
class SuperNodeTally:
    name: str
    zone: str
    ready: bool
    pod_capacity: int | None = None
    pods: int = 0
    cpu_cores: float = 0.0
    memory_bytes: float = 0.0
    cost_per_hour: float = 0.0


@dataclass
class Fleet:
    workloads: dict[WorkloadKey, WorkloadTally] = field(default_factory=dict)
    super_nodes: dict[str, SuperNodeTally] = field(default_factory=dict)
    awaiting_decision: int = 0
    """Unbound pods placement has to decide: gated, or marked Unschedulable."""
    oldest_awaiting_seconds: float = 0.0
    """Age (since creation) of the oldest of them; 0 when there is none."""

    @property
    def cost_per_hour(self) -> float:
        return sum(n.cost_per_hour for n in self.super_nodes.values())

    def bounded_workloads(self, limit: int) -> list[WorkloadTally]:
        """The workloads Spillway acts on, at most `limit` rows: the ones with most cloud, then
        pending, then local pods (name breaks ties), and one `_other` row summing the rest."""
        acted_on = sorted((t for t in self.workloads.values() if t.spillway_acts_on),
                          key=lambda t: (-t.cloud, -t.pending, -t.local, t.workload))
        if len(acted_on) <= limit:
            return acted_on
        kept, folded = acted_on[: max(0, limit - 1)], acted_on[max(0, limit - 1):]
        other = WorkloadTally(OTHER_WORKLOAD)
        for tally_ in folded:
            other.add(tally_)
        return [*kept, other]


class PodSizes:
    """The instance spec of each cloud pod as (cores, bytes), by pod uid: sizing parses quantities,
    so each pod is sized once (`forget` drops a pod that is gone)."""

    def __init__(self) -> None:
        self._by_uid: dict[str, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self._by_uid)

    def of(self, pod: Pod) -> tuple[float, float]:
        uid = pod.metadata.uid
        known = self._by_uid.get(uid)
        if known is None:
            known = instance_size(pod)
            if uid:
                self._by_uid[uid] = known
        return known

    def forget(self, uid: str) -> None:
        self._by_uid.pop(uid, None)


def instance_size(pod: Pod) -> tuple[float, float]:
    """(cores, bytes) of the spec the pod runs on in the cloud; what it asks for when no spec fits
    (such a pod was refused, or bound by someone else) or its quantities do not parse: zero."""
    try:
        try:
            size = pod_size(pod)
        except SizeAnnotationError:  # the translation ignores bad override annotations too
            size = pod_size(pod, honour_annotations=False)
    except (QuantityError, ValueError):
        return 0.0, 0.0
    if size.spec is not None:
        return size.spec.cpu_float, size.spec.memory_float * GIB
    return float(size.cpu), float(size.memory_gib) * GIB


def parse_timestamp(text: str | None) -> float | None:
    """An API timestamp (RFC 3339) as epoch seconds; None when absent or unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def node_zone(node: Node) -> str:
    labels = node.metadata.labels
    return labels.get(LABEL_TOPOLOGY_ZONE) or labels.get(LABEL_ZONE_NAME) or ""


def _pod_capacity(node: Node) -> int | None:
    text = node.status.capacity.get("pods", "")
    return int(text) if text.isdigit() else None


class FleetCounter:
    """`tally` one pod at a time, so a caller on an event loop can pause between pods."""

    def __init__(self, nodes: Iterable[Node], workload_of: Callable[[Pod], WorkloadKey], prices: PriceTable,
                 sizes: PodSizes | None = None) -> None:
        self.workload_of = workload_of
        self.prices = prices
        self.sizes = sizes if sizes is not None else PodSizes()
        self.fleet = Fleet()
        self.oldest: float | None = None
        for node in nodes:
            if node.is_super_node():
                name = node.metadata.name
                self.fleet.super_nodes[name] = SuperNodeTally(name, node_zone(node), node.is_ready(),
                                                              _pod_capacity(node))

    def add(self, pod: Pod) -> None:
        if pod.is_terminating() or pod.is_finished():
            return
        fleet = self.fleet
        workload = self.workload_of(pod)
        entry = fleet.workloads.get(workload)
        if entry is None:
            entry = fleet.workloads[workload] = WorkloadTally(workload)
            entry.local_replicas = parse_local_replicas(pod.metadata.annotations.get(ANNOTATION_LOCAL_REPLICAS)).value
        node_name = pod.spec.node_name
        super_node = fleet.super_nodes.get(node_name) if node_name else None
        if super_node is not None:
            cores, memory = self.sizes.of(pod)
            cost = cores * self.prices.vcpu_hour + memory / GIB * self.prices.memory_gib_hour
            entry.cloud += 1
            entry.cloud_cpu_cores += cores
            entry.cloud_memory_bytes += memory
            entry.cost_per_hour += cost
            super_node.pods += 1
            super_node.cpu_cores += cores
            super_node.memory_bytes += memory
            super_node.cost_per_hour += cost
        elif node_name:
            entry.local += 1
        else:
            entry.pending += 1
            if pod.is_gated_by(PLACEMENT_GATE) or pod.awaiting_decision():
                fleet.awaiting_decision += 1
                created = parse_timestamp(pod.metadata.creation_timestamp)
                if created is not None and (self.oldest is None or created < self.oldest):
                    self.oldest = created

    def result(self, now: float) -> Fleet:
        """The fleet counted so far; `now` (epoch seconds) ages the pending pods."""
        self.fleet.oldest_awaiting_seconds = max(0.0, now - self.oldest) if self.oldest is not None else 0.0
        return self.fleet


def tally(
    pods: Iterable[Pod], nodes: Iterable[Node], workload_of: Callable[[Pod], WorkloadKey], prices: PriceTable,
    now: float, sizes: PodSizes | None = None,
) -> Fleet:
    """Count `pods` by workload and super node (`nodes`: any nodes; the super nodes are picked
    out); `workload_of` names a pod's workload; `now` (epoch seconds) ages the pending pods."""
    counter = FleetCounter(nodes, workload_of, prices, sizes)
    for pod in pods:
        counter.add(pod)
    return counter.result(now)
