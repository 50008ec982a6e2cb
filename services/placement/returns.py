"""Return to the IDC: while leading, send burst pods home once local room frees, safely.

Why a loop over the view, and an eviction: the cloud bills by the second and the IDC is paid for,
but a pod cannot be moved — only replaced. The Eviction API deletes the cloud pod only when its
PodDisruptionBudget allows it; its controller then creates a replacement that takes the normal
path (gated or not) and lands locally. So a return is safe only when that path ends locally; the
pure rules (`spillway.policy.returns`, `spillway.policy.local_fit`) say when, this module gathers
their facts every `check_seconds` and acts.

A round:
1. settle the returns in flight: each ends when its replacement (a pod of the workload it did not
   have at the eviction) is Ready on a local node (success), is bound to a super node, or has not
   run locally within `settle_seconds` (then the workload cools down for `cooldown_seconds`, with
   one Warning `ReturnBounced` on the workload: no ping-pong);
2. the local nodes' usage from the view, plus the room reserved for replacements on their way;
3. each pod on a managed super node, longest in the cloud first: the rules before the room, the
   room and how long it has lasted without a break, the rules after; an allowed pod is evicted
   (uid precondition), its room reserved, and reported: a `ReturnedToLocal` event on the pod and
   on the workload, a decision record (`spillway explain`), a span in the pod's trace, metrics.
A 429 (the budget allows no disruption now, or the server throttles) postpones the pod by the
wait the server named (at most a minute) and at least a round; any other refusal is logged and
counted, and the next round looks again.

The state (returns in flight, cool-downs, when each pod's room began, the last minute's
evictions) is kept in memory and starts empty at each term as leader: a new leader measures the
room's stability again before it returns anything. What guards capacity across a take-over is in
the view, not in memory: a workload with a replica not ready or terminating is not touched.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry import trace

from services.placement.decider import Decider, workload_ref
from services.placement.metrics import (
    RETURN_BOUNCES,
    RETURN_REFUSALS,
    RETURN_SECONDS_SAVED,
    RETURN_WAITING,
    RETURNS,
    RETURNS_IN_FLIGHT,
)
from services.placement.record import return_record
from services.placement.view import ClusterView
from spillway.bus import Bus
from spillway.kube import Conflict, KubeClient, KubeError, NotFound
from spillway.kube.client import TooManyRequests
from spillway.kube.events import EventRecorder, ObjectRef
from spillway.loops import SYSTEM_CLOCK, Clock, Liveness, every
from spillway.model import messages as m
from spillway.model.kube import ANNOTATION_AUTO_SCALE, ANNOTATION_LOCAL_REPLICAS, Pod
from spillway.policy import WorkloadKey
from spillway.policy.decision import EventReason
from spillway.policy.local_fit import (
    LocalNode,
    Resources,
    UnreadableRequest,
    find_room,
    host_ports,
    local_node,
    pod_requests,
    replacement_view,
)
from spillway.policy.returns import (
    REASONS,
    ReturnFacts,
    ReturnReason,
    ReturnSettings,
    ReturnVerdict,
    cloud_since,
    is_ready,
    judge,
    precheck,
    room_since,
    workload_busy,
)
from spillway.policy.switches import parse_local_replicas
from spillway.telemetry import get_tracer, pod_trace_context

log = logging.getLogger("spillway.placement.returns")
MINUTE = 60.0
MAX_TRACKED = 10_000
"""Replacements whose local run time is counted as saved cloud time; the oldest are dropped first."""
WAITING_REASONS: tuple[str, ...] = tuple(REASONS)


@dataclass
class Flight:
    """A return whose replacement has not run locally yet."""

    workload: WorkloadKey
    pod: str
    uid: str
    node: str
    requests: Resources
    ports: frozenset[int]
    known: frozenset[str]
    """The workload's pod uids at the eviction: any other is the replacement."""
    evicted_at: float
    landed: bool = False
    """The replacement is bound locally: the view counts its room, the reservation is dropped."""


@dataclass
class ReturnStats:
    evictions: int = 0
    refused_by_budget: int = 0
    refused_otherwise: int = 0
    landed: int = 0
    bounced: int = 0
    rounds: int = 0
    waiting: dict[str, int] = field(default_factory=dict)
    """The last round's cloud pods not returned, by reason."""


class Returns:
    """The leader's return loop (see the module doc); `lead()` runs one term."""

    def __init__(self, view: ClusterView, decider: Decider, client: KubeClient, bus: Bus, recorder: EventRecorder,
                 settings: ReturnSettings, *, clock: Clock = SYSTEM_CLOCK, liveness: Liveness | None = None) -> None:
        self.view = view
        self.decider = decider
        self.client = client
        self.bus = bus
        self.recorder = recorder
        self.settings = settings
        self.clock = clock
        self.liveness = liveness
        self.stats = ReturnStats()
        self._shown: set[str] = set(WAITING_REASONS)
        """Reasons the waiting gauge has shown: each is set every round, to 0 when no pod has it."""
        self._reset()

    def _reset(self) -> None:
        self.flights: dict[WorkloadKey, Flight] = {}
        self.cooldowns: dict[WorkloadKey, float] = {}
        self.room_since: dict[str, float] = {}
        self.budget_until: dict[str, float] = {}
        self.evictions: deque[float] = deque()
        self.saving: dict[str, tuple[str, float]] = {}
        """pod key → (uid, when its local run time was last counted as saved)."""
        self.reasons: dict[str, str] = {}
        self.record_reasons: dict[str, str | None] = {}

    async def lead(self) -> None:
        """One term as leader: a fresh state, the view synced, then a round every `check_seconds`."""
        self._reset()
        try:
            await self.view.synced.wait()
            await every("placement returns", self.settings.check_seconds, self.round, clock=self.clock,
                        liveness=self.liveness)
        finally:
            for reason in self._shown:
                RETURN_WAITING.labels(reason).set(0)
            RETURNS_IN_FLIGHT.set(0)

    # ---- one round ---------------------------------------------------------------------------------

    async def round(self) -> None:
        now = self.clock.time()
        self.stats.rounds += 1
        while self.evictions and self.evictions[0] <= now - MINUTE:
            self.evictions.popleft()
        await self._settle(now)
        self._count_saved(now)
        # the local nodes' usage is O(every local pod): built once per round, and only when a pod
        # gets past the cheap rules (with the switch off everywhere, never)
        nodes = functools.cache(self._local_nodes)
        super_nodes = self.view.super_node_names()  # read once per round, as the local nodes are
        candidates = self._candidates()
        seen = {p.metadata.uid for p in candidates}
        for uid in [u for u in self.room_since if u not in seen]:
            del self.room_since[uid]
        for table in (self.budget_until, self.reasons, self.record_reasons):
            for uid in [u for u in table if u not in seen]:
                del table[uid]
        waiting: dict[str, int] = {}
        for pod in candidates:
            try:
                verdict = await self._consider(pod, nodes, super_nodes, now)
            except Exception as exc:  # one pod (or one failed read about it) never stops the others
                log.warning("return not judged", extra={"pod": pod.key, "error": repr(exc)[:300]})
                continue
            if verdict is not None and not verdict.allowed:
                waiting[verdict.reason] = waiting.get(verdict.reason, 0) + 1
        self.stats.waiting = waiting
        self._shown |= set(waiting)
        for reason in self._shown:
            RETURN_WAITING.labels(reason).set(waiting.get(reason, 0))
        RETURNS_IN_FLIGHT.set(len(self.flights))

    def _candidates(self) -> list[Pod]:
        """Running pods on a managed super node, longest in the cloud first."""
        pods: list[Pod] = []
        for name in self.decider.managed:
            for key in self.view.on_node.get(name, ()):
                pod = self.view.pods.get(key)
                if pod is None or pod.spec.node_name != name or pod.is_terminating() or pod.is_finished():
                    continue
                if pod.status.phase == "Running":
                    pods.append(pod)
        return sorted(pods, key=lambda p: (cloud_since(p) or 0.0, p.key))

    def _local_nodes(self) -> dict[str, LocalNode]:
        """Every local node with its pods' requests, plus the room reserved for replacements not bound yet."""
        nodes: dict[str, LocalNode] = {}
        for name, node in self.view.nodes.items():
            if node.is_super_node():
                continue
            pods = [p for k in self.view.on_node.get(name, ()) if (p := self.view.pods.get(k)) is not None
                    and p.spec.node_name == name]
            nodes[name] = local_node(node, pods)
        for flight in self.flights.values():
            if not flight.landed and flight.node in nodes:
                nodes[flight.node] = nodes[flight.node].plus(flight.requests, flight.ports)
        return nodes

    async def _consider(self, pod: Pod, nodes: Callable[[], dict[str, LocalNode]], super_nodes: set[str],
                        now: float) -> ReturnVerdict | None:
        """Judge one cloud pod and return it when allowed (under its workload's lock, so the local
        count agrees with the decisions in flight). None: it was judged no more (gone meanwhile)."""
        workload = self.view.workload(pod)
        async with self.decider.locks.hold(str(workload)):
            current = self.view.pods.get(pod.key)
            if current is None or current.metadata.uid != pod.metadata.uid or current.is_terminating():
                return None
            facts = await self._facts(current, workload, super_nodes, now)
            verdict = precheck(facts)
            uid = current.metadata.uid
            if verdict is None:
                facts = self._with_busy(facts, workload)
                room = find_room(replacement_view(current), list(nodes().values()))
                since = room_since(self.room_since.get(uid), room, now)
                if since is None:
                    self.room_since.pop(uid, None)
                else:
                    self.room_since[uid] = since
                verdict = judge(facts, room, since)
            else:
                self.room_since.pop(uid, None)
            await self._warn_malformed(current, verdict)
            if not verdict.allowed:
                self._refused(uid, verdict.reason)
                return verdict
            if await self._evict(current, workload, verdict, facts, nodes(), now):
                return verdict
            return ReturnVerdict(False, self.reasons.get(uid, ReturnReason.EVICTION_REFUSED), verdict.message)

    async def _facts(self, pod: Pod, workload: WorkloadKey, super_nodes: set[str], now: float) -> ReturnFacts:
        """What the rules before the room read (`busy`, O(workload), waits for `_with_busy`)."""
        view = self.view
        return ReturnFacts(
            pod=pod, workload=workload, global_config=view.config_data(), options=self.decider.options,
            settings=self.settings, local_count=view.local_count(workload, super_nodes, self.decider.ledger.in_flight),
            record_reason=await self._record_reason(pod), now=now,
            cooldown_until=self.cooldowns.get(workload), budget_until=self.budget_until.get(pod.metadata.uid),
            returns_last_minute=len(self.evictions),
        )

    def _with_busy(self, facts: ReturnFacts, workload: WorkloadKey) -> ReturnFacts:
        flight = self.flights.get(workload)
        returning = flight.pod if flight is not None else None
        return dataclasses.replace(facts, busy=workload_busy(self.view.workload_pods(workload), returning))

    async def _record_reason(self, pod: Pod) -> str | None:
        """The reason of the pod's own decision record (read once per pod; None: no record of it)."""
        uid = pod.metadata.uid
        if uid not in self.record_reasons:
            decisions = await self.bus.typed_kv(m.KV_DECISIONS, m.PlacementDecision)
            record = await decisions.get(m.kv_key(pod.metadata.namespace, pod.metadata.name))
            self.record_reasons[uid] = record.reason if record is not None and record.uid == uid else None
        return self.record_reasons[uid]

    def _refused(self, uid: str, reason: str, *, every_time: bool = False) -> None:
        """Count a refusal when the pod's reason changes (every time for a refused eviction)."""
        if every_time or self.reasons.get(uid) != reason:
            RETURN_REFUSALS.labels(reason).inc()
        self.reasons[uid] = reason

    # ---- acting ----------------------------------------------------------------------------------

    async def _evict(self, pod: Pod, workload: WorkloadKey, verdict: ReturnVerdict, facts: ReturnFacts,
                     nodes: dict[str, LocalNode], now: float) -> bool:
        meta = pod.metadata
        assert verdict.node is not None
        try:
            replacement = replacement_view(pod)
            requests, ports = pod_requests(replacement), host_ports(replacement)
        except UnreadableRequest:  # find_room already refused such a pod; kept for the type checker
            return False
        span = get_tracer().start_span("placement return", context=pod_trace_context(meta.uid))
        with trace.use_span(span, end_on_exit=True):
            span.set_attributes({"spillway.pod": pod.key, "spillway.workload": str(workload),
                                 "spillway.node": pod.spec.node_name,
                                 "spillway.return.local_node": verdict.node})
            try:
                await self.client.evict_pod(meta.namespace, meta.name, uid=meta.uid)
            except TooManyRequests as exc:
                wait = max(self.settings.check_seconds, exc.retry_after or 0.0)
                self.budget_until[meta.uid] = now + wait
                reason = ReturnReason.DISRUPTION_BUDGET if exc.disruption_budget else ReturnReason.EVICTION_REFUSED
                self._count_eviction_refusal(meta.uid, reason, exc.disruption_budget)
                span.set_attribute("spillway.reason", reason)
                log.info("eviction refused: waiting", extra={"pod": pod.key, "reason": reason, "wait": wait,
                                                            "error": exc.message[:300]})
                return False
            except (NotFound, Conflict):  # gone, or replaced under the same name, meanwhile
                return False
            except KubeError as exc:
                self._count_eviction_refusal(meta.uid, ReturnReason.EVICTION_REFUSED, False)
                span.set_attribute("spillway.reason", ReturnReason.EVICTION_REFUSED)
                log.warning("eviction refused", extra={"pod": pod.key, "error": str(exc)[:300]})
                return False
            span.set_attribute("spillway.reason", verdict.reason)
            trace_id = format(span.get_span_context().trace_id, "032x")
        self.stats.evictions += 1
        RETURNS.inc()
        self.evictions.append(now)
        self.reasons.pop(meta.uid, None)
        self.flights[workload] = Flight(workload, pod.key, meta.uid, verdict.node, requests, ports,
                                        frozenset(p.metadata.uid for p in self.view.workload_pods(workload)), now)
        nodes[verdict.node] = nodes[verdict.node].plus(requests, ports)
        log.info("returned to the IDC", extra={"pod": pod.key, "workload": str(workload), "node": verdict.node,
                                               "from": pod.spec.node_name})
        await self._report(pod, workload, verdict, facts, trace_id, now)
        return True

    def _count_eviction_refusal(self, uid: str, reason: str, budget: bool) -> None:
        if budget:
            self.stats.refused_by_budget += 1
        else:
            self.stats.refused_otherwise += 1
        self._refused(uid, reason, every_time=True)

    async def _report(self, pod: Pod, workload: WorkloadKey, verdict: ReturnVerdict, facts: ReturnFacts,
                      trace_id: str, now: float) -> None:
        """The events on the pod and its workload, the decision record and its message; a failure to
        report is logged, never undoes the return."""
        meta = pod.metadata
        await self._event(ObjectRef("Pod", meta.namespace, meta.name, meta.uid), "Normal", ReturnReason.RETURNED,
                          verdict.message)
        await self._event(workload_ref(pod, workload), "Normal", ReturnReason.RETURNED,
                          f"pod {meta.name} returned from super node {pod.spec.node_name}: room on local node "
                          f"{verdict.node}")
        quota = parse_local_replicas(meta.annotations.get(ANNOTATION_LOCAL_REPLICAS)).value
        record = return_record(pod, workload, verdict, global_switch=self.view.config_value(ANNOTATION_AUTO_SCALE),
                               local_replicas=quota, local_count=facts.local_count, trace_id=trace_id, now=now)
        if not self.decider.ledger.should_publish(meta.uid, (record.outcome, record.reason, record.node)):
            return
        try:
            decisions = await self.bus.kv(m.KV_DECISIONS)
            await decisions.put(m.kv_key(meta.namespace, meta.name), m.encode(record))
            await self.bus.publish(record, msg_id=f"{meta.uid}:decision:returned")
        except Exception as exc:  # the eviction happened: the record is a report of it
            log.warning("return record not written", extra={"pod": pod.key, "error": repr(exc)[:300]})

    async def _event(self, ref: ObjectRef, event_type: str, reason: str, message: str) -> bool:
        try:
            return await self.recorder.record(ref, event_type, reason, message)
        except KubeError as exc:
            log.warning("event not recorded", extra={"object": f"{ref.kind}/{ref.namespace}/{ref.name}",
                                                     "reason": reason, "error": str(exc)[:300]})
            return False

    async def _warn_malformed(self, pod: Pod, verdict: ReturnVerdict) -> None:
        """One MalformedAnnotation Warning per unreadable RETURN_TO_LOCAL value and pod."""
        meta = pod.metadata
        ledger = self.decider.ledger
        for warning in verdict.warnings:
            if ledger.should_record_event(meta.uid, EventReason.MALFORMED_ANNOTATION, warning):
                ref = ObjectRef("Pod", meta.namespace, meta.name, meta.uid)
                if not await self._event(ref, "Warning", EventReason.MALFORMED_ANNOTATION, warning):
                    ledger.event_not_recorded(meta.uid, EventReason.MALFORMED_ANNOTATION, warning)

    # ---- returns in flight -------------------------------------------------------------------------

    async def _settle(self, now: float) -> None:
        for workload, flight in list(self.flights.items()):
            outcome = self._outcome(flight, now)
            if outcome is None:
                continue
            del self.flights[workload]
            landed, why = outcome
            if landed:
                self.stats.landed += 1
                continue
            self.stats.bounced += 1
            RETURN_BOUNCES.inc()
            self.cooldowns[workload] = now + self.settings.cooldown_seconds
            message = (f"the return of {flight.pod} did not stay local ({why}): no return of this workload for "
                       f"{self.settings.cooldown_seconds:g} s")
            log.warning("return bounced: cooling down", extra={"workload": str(workload), "pod": flight.pod,
                                                              "why": why})
            pods = self.view.workload_pods(workload)
            if pods:
                await self._event(workload_ref(pods[0], workload), "Warning", ReturnReason.BOUNCED, message)
        for workload in [w for w, until in self.cooldowns.items() if until <= now]:
            del self.cooldowns[workload]

    def _outcome(self, flight: Flight, now: float) -> tuple[bool, str] | None:
        """(True, _) once the replacement is Ready on a local node; (False, why) once it is bound to a
        super node or the settle time is over; None while it is on its way."""
        managed = self.view.super_node_names()
        for pod in self.view.workload_pods(flight.workload):
            if pod.metadata.uid in flight.known or pod.is_terminating() or pod.is_finished():
                continue
            node = pod.spec.node_name
            if not node:
                continue
            if node in managed:
                return False, f"its replacement {pod.metadata.name} went to super node {node}"
            flight.landed = True
            if is_ready(pod):
                self._track_saving(pod, now)
                return True, ""
        if now - flight.evicted_at > self.settings.settle_seconds:
            return False, f"no replacement ran locally within {self.settings.settle_seconds:g} s"
        return None

    def _track_saving(self, pod: Pod, now: float) -> None:
        self.saving[pod.key] = (pod.metadata.uid, now)
        while len(self.saving) > MAX_TRACKED:
            del self.saving[next(iter(self.saving))]

    def _count_saved(self, now: float) -> None:
        """Add the time returned replicas ran locally since the last round to the saved cloud time."""
        for key, (uid, since) in list(self.saving.items()):
            pod = self.view.pods.get(key)
            if pod is None or pod.metadata.uid != uid or pod.is_terminating() or pod.is_finished():
                del self.saving[key]
                continue
            RETURN_SECONDS_SAVED.inc(max(0.0, now - since))
            self.saving[key] = (uid, now)
