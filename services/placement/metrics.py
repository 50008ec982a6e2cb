"""placement's Prometheus metrics: its decisions and how long pods waited for them, and, from the
leader, the fleet (`spillway.telemetry.fleet`): pods by workload and place, the super nodes, the
zones in cool-down, the pods still awaiting a decision and the estimated cost.

Why only the leader reports the fleet: every replica has the same view, and one set of series per
cluster keeps `sum()` right; a replica that loses the lease withdraws its series, and standbys
export none. The fleet is tallied every `FLEET_SECONDS`, not per event: the cost is bounded by the
interval whatever the burst rate. The running cost total integrates each workload's cost per hour
over the time between two rounds (a gap longer than `MAX_COST_GAP_SECONDS`, such as a take-over,
counts for that much only).

Label bounds: outcome, trigger and zone come from code and configuration; reason codes are
constants (capped all the same); workloads are capped at `MAX_WORKLOAD_ROWS` rows (the rest in one
`_other` row).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import ContextVar

from services.placement.view import ClusterView
from spillway.loops import SYSTEM_CLOCK, Clock, Liveness, every
from spillway.model import messages as m
from spillway.model.kube import ANNOTATION_LOCAL_REPLICAS, Pod
from spillway.policy import WorkloadKey
from spillway.policy.switches import parse_local_replicas
from spillway.telemetry.fleet import Fleet, FleetCounter, PodSizes, PriceTable, WorkloadTally, parse_timestamp
from spillway.telemetry.metrics import SLOW_BUCKETS, BoundedValues, counter, gauge, histogram

FLEET_SECONDS = 10.0
FLEET_SLICE = 200
MAX_WORKLOAD_ROWS = 100
MAX_COST_GAP_SECONDS = 60.0
TRIGGERS = ("gated", "unschedulable")
DECISION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, *SLOW_BUCKETS[4:])
WORKLOAD_LABELS = ("namespace", "workload_kind", "workload")
NODE_LABELS = ("node", "zone")

DECISIONS = counter("spillway_placement_decisions_total",
                    "Placement decisions, by outcome (cloud, local, refused), reason code and trigger "
                    "(gated, unschedulable); a decision repeated unchanged is counted once",
                    ["outcome", "reason", "trigger"])
DECISION_SINCE_CREATION = histogram("spillway_placement_decision_since_creation_seconds",
                                    "From a pod's creation to its placement decision", ["trigger"], DECISION_BUCKETS)
DECISION_SINCE_PENDING = histogram("spillway_placement_decision_since_pending_seconds",
                                   "From the watcher seeing a pod pending to its placement decision (decisions "
                                   "taken on a pending event; a resync's are not timed)", ["trigger"],
                                   DECISION_BUCKETS)
for _trigger in TRIGGERS:  # the latency series exist from the start, so rate() sees the first decision
    DECISION_SINCE_CREATION.labels(_trigger)
    DECISION_SINCE_PENDING.labels(_trigger)

WORKLOAD_PODS = gauge("spillway_workload_pods",
                      "Pods of a workload Spillway acts on, by location: local, cloud (on a super node) or "
                      "pending (not bound); from the placement leader", [*WORKLOAD_LABELS, "location"])
WORKLOAD_LOCAL_REPLICAS = gauge("spillway_workload_local_replicas",
                                "A workload's LOCAL_REPLICAS (absent when unset); from the placement leader",
                                WORKLOAD_LABELS)
WORKLOAD_CPU = gauge("spillway_workload_cloud_cpu_cores",
                     "vCPUs of the instances a workload's cloud pods run on; from the placement leader",
                     WORKLOAD_LABELS)
WORKLOAD_MEMORY = gauge("spillway_workload_cloud_memory_bytes",
                        "Memory of the instances a workload's cloud pods run on; from the placement leader",
                        WORKLOAD_LABELS)
COST_PER_HOUR = gauge("spillway_cloud_cost_per_hour",
                      "Estimated cost per hour of a workload's cloud instances, in cloud.prices.currency (an "
                      "estimate from cloud.prices); from the placement leader", WORKLOAD_LABELS)
COST_TOTAL = counter("spillway_cloud_cost_total",
                     "Estimated cost of a workload's cloud instances, in cloud.prices.currency, since the "
                     "placement leader took the lease or the workload came to the cloud (use increase())",
                     WORKLOAD_LABELS)
CLOUD_PODS = gauge("spillway_cloud_pods", "Pods bound to a super node; from the placement leader", NODE_LABELS)
CLOUD_CPU = gauge("spillway_cloud_cpu_cores", "vCPUs of the instances behind a super node; from the placement leader",
                  NODE_LABELS)
CLOUD_MEMORY = gauge("spillway_cloud_memory_bytes",
                     "Memory of the instances behind a super node; from the placement leader", NODE_LABELS)
SUPER_NODE_READY = gauge("spillway_super_node_ready",
                         "1 when the super node's Ready condition is True, else 0; from the placement leader",
                         NODE_LABELS)
ZONE_COOLDOWN = gauge("spillway_zone_cooldown_seconds",
                      "Seconds a zone stays avoided after it sold out (0: usable); from the placement leader",
                      ["zone"])
AWAITING = gauge("spillway_placement_awaiting_decision_pods",
                 "Unbound pods waiting for a placement decision (gated, or marked Unschedulable); from the "
                 "placement leader, 0 on standbys")
AWAITING_OLDEST = gauge("spillway_placement_awaiting_decision_oldest_seconds",
                        "Age since creation of the oldest pod waiting for a placement decision (0: none); from "
                        "the placement leader, 0 on standbys")
LABELLED = (WORKLOAD_PODS, WORKLOAD_LOCAL_REPLICAS, WORKLOAD_CPU, WORKLOAD_MEMORY, COST_PER_HOUR, CLOUD_PODS,
            CLOUD_CPU, CLOUD_MEMORY, SUPER_NODE_READY, ZONE_COOLDOWN)

PENDING_SINCE: ContextVar[float | None] = ContextVar("spillway_pending_since", default=None)
"""When the watcher saw the pod being decided pending (set by the pending-event handler; each
message is handled in its own task, so it never leaks to another pod's decision)."""
_reasons = BoundedValues(200)


def observe_decision(record: m.PlacementDecision, created: str | None) -> None:
    """Count one new decision and how long its pod waited (`created`: the pod's creationTimestamp)."""
    trigger = record.trigger if record.trigger in TRIGGERS else "unknown"
    DECISIONS.labels(record.outcome, _reasons(record.reason or "none"), trigger).inc()
    created_at = parse_timestamp(created)
    if created_at is not None:
        DECISION_SINCE_CREATION.labels(trigger).observe(max(0.0, record.decided_at - created_at))
    pending_since = PENDING_SINCE.get()
    if pending_since is not None:
        DECISION_SINCE_PENDING.labels(trigger).observe(max(0.0, record.decided_at - pending_since))


def workload_labels(row: WorkloadTally) -> tuple[str, str, str]:
    key = row.workload
    return key.namespace, key.kind, key.name


class FleetReporter:
    """The fleet gauges and the cost counter, from the view, on the leader (see the module doc)."""

    def __init__(self, view: ClusterView, leading: Callable[[], bool], prices: PriceTable, *,
                 clock: Clock = SYSTEM_CLOCK, limit: int = MAX_WORKLOAD_ROWS) -> None:
        self.view = view
        self.leading = leading
        self.prices = prices
        self.clock = clock
        self.limit = limit
        self.sizes = PodSizes()
        self._rates: dict[tuple[str, str, str], float] = {}
        self._counted: set[tuple[str, str, str]] = set()
        self._last: float | None = None
        self._reporting = False
        view.pod_listeners.append(self._track_size)

    def _track_size(self, pod: Pod, deleted: bool) -> None:
        """Size a cloud pod as the view learns of it and forget it when it goes: a round then
        sizes nothing (sizing every pod that came in 10 seconds at once paused placement for tens
        of milliseconds in a steady stream of cloud pods)."""
        if deleted:
            self.sizes.forget(pod.metadata.uid)
            return
        node = self.view.nodes.get(pod.spec.node_name) if pod.spec.node_name else None
        if node is not None and node.is_super_node():
            self.sizes.of(pod)

    async def run(self, liveness: Liveness | None = None) -> None:
        await every("fleet metrics", FLEET_SECONDS, self._round, clock=self.clock, liveness=liveness)

    async def _round(self) -> None:
        await self.report()

    async def fleet(self, now: float) -> Fleet:
        """`tally` of the view, at the cost of the workloads with pods in the cloud or pending: a
        workload whose pods are all local is a row only when it asks for LOCAL_REPLICAS, and that
        row is its local count from the view's tallies (a big IDC's local pods are most of its
        pods, and counting them every round paused placement for 100 ms at 50,000). The pods are
        counted FLEET_SLICE at a time, the event loop free in between: 3,000 cloud pods counted at
        once paused every decision for 20-60 ms."""
        view = self.view
        super_nodes = view.super_node_names()
        active: list[Pod] = []
        local_only: list[tuple[WorkloadKey, int, Pod]] = []
        for workload, counts in view.tallies.items():
            if counts.gated or counts.ungated or not super_nodes.isdisjoint(counts.bound_by_node):
                active.extend(view.workload_pods(workload))
                continue
            local = sum(counts.bound_by_node.values())
            pod = view.any_pod(workload)
            if local and pod is not None and ANNOTATION_LOCAL_REPLICAS in pod.metadata.annotations:
                local_only.append((workload, local, pod))
        counter = FleetCounter(list(view.nodes.values()), view.workload, self.prices, self.sizes)
        for index, pod in enumerate(active):
            counter.add(pod)
            if index % FLEET_SLICE == FLEET_SLICE - 1:
                await asyncio.sleep(0)
        fleet = counter.result(now)
        for workload, local, pod in local_only:
            fleet.workloads[workload] = WorkloadTally(workload, local=local, local_replicas=parse_local_replicas(
                pod.metadata.annotations.get(ANNOTATION_LOCAL_REPLICAS)).value)
        return fleet

    async def report(self) -> Fleet | None:
        """One round: the gauges from the view while leading (returns the fleet), else withdrawn."""
        if not (self.leading() and self.view.synced.is_set()):
            self._withdraw()
            return None
        now = self.clock.time()
        fleet = await self.fleet(now)
        if not self.leading():  # lost the lease while counting
            self._withdraw()
            return None
        rows = fleet.bounded_workloads(self.limit)
        self._accrue({workload_labels(row): row.cost_per_hour for row in rows})
        for metric in LABELLED:
            metric.clear()
        for row in rows:
            labels = workload_labels(row)
            for location, count in (("local", row.local), ("cloud", row.cloud), ("pending", row.pending)):
                WORKLOAD_PODS.labels(*labels, location).set(count)
            if row.local_replicas is not None:
                WORKLOAD_LOCAL_REPLICAS.labels(*labels).set(row.local_replicas)
            WORKLOAD_CPU.labels(*labels).set(row.cloud_cpu_cores)
            WORKLOAD_MEMORY.labels(*labels).set(row.cloud_memory_bytes)
            COST_PER_HOUR.labels(*labels).set(row.cost_per_hour)
        zones: dict[str, float] = {}
        for node in fleet.super_nodes.values():
            CLOUD_PODS.labels(node.name, node.zone).set(node.pods)
            CLOUD_CPU.labels(node.name, node.zone).set(node.cpu_cores)
            CLOUD_MEMORY.labels(node.name, node.zone).set(node.memory_bytes)
            SUPER_NODE_READY.labels(node.name, node.zone).set(1 if node.ready else 0)
            if node.zone:
                zones[node.zone] = 0.0
        for zone, until in self.view.cooldowns.items():
            zones[zone] = max(0.0, until - now)
        for zone, seconds in zones.items():
            ZONE_COOLDOWN.labels(zone).set(seconds)
        AWAITING.set(fleet.awaiting_decision)
        AWAITING_OLDEST.set(fleet.oldest_awaiting_seconds)
        self._reporting = True
        return fleet

    def _accrue(self, rates: dict[tuple[str, str, str], float]) -> None:
        """Add what each workload cost since the last round, at the rate it had then. A workload's
        series starts at 0 (so increase() sees its first cost) and is dropped one round after the
        workload left the rows (so its last increment is scraped): churn never piles up series."""
        now = self.clock.monotonic()
        previous = self._rates
        if self._last is not None:
            hours = min(now - self._last, MAX_COST_GAP_SECONDS) / 3600.0
            for labels, rate in previous.items():
                if rate > 0:
                    COST_TOTAL.labels(*labels).inc(rate * hours)
        for labels in rates:
            COST_TOTAL.labels(*labels)
        for labels in self._counted - rates.keys() - previous.keys():
            COST_TOTAL.remove(*labels)
        self._counted = set(rates) | set(previous)
        self._last = now
        self._rates = rates

    def _withdraw(self) -> None:
        self._last = None
        self._rates = {}
        for labels in self._counted:  # the next leader counts from here on
            COST_TOTAL.remove(*labels)
        self._counted = set()
        if not self._reporting:
            return
        for metric in LABELLED:
            metric.clear()
        AWAITING.set(0)
        AWAITING_OLDEST.set(0)
        self._reporting = False


# ---- return to the IDC (`services.placement.returns`) --------------------------------------------

RETURNS = counter("spillway_returns_total",
                  "Cloud pods evicted so that their controller's replacement runs on a local node")
RETURN_REFUSALS = counter("spillway_return_refusals_total",
                          "Cloud pods not returned, by reason code (docs/reference.md): a pod counts once each time "
                          "its reason changes; a refused eviction (ReturnDisruptionBudget, ReturnEvictionRefused) "
                          "counts every time", ["reason"])
RETURN_BOUNCES = counter("spillway_return_bounces_total",
                         "Returns whose replacement went to the cloud again, or did not run locally within "
                         "placement.returnToLocal.settleSeconds; the workload then cools down")
RETURN_SECONDS_SAVED = counter("spillway_return_cloud_pod_seconds_saved_total",
                               "Seconds returned replicas have run on local nodes since their return: cloud pod "
                               "time no longer billed")
RETURN_WAITING = gauge("spillway_return_waiting_pods",
                       "Cloud pods not returned at the placement leader's last look, by the reason code that keeps "
                       "them (0 on standbys)", ["reason"])
RETURNS_IN_FLIGHT = gauge("spillway_returns_in_flight",
                          "Returns whose replacement does not run locally yet (0 on standbys)")
