"""Decide one pending pod and carry the decision out through the API, exactly once.

Why per-workload locks and an in-flight map: when 100 replicas of one workload arrive at once,
the API (and so our view) shows none of our decisions for a while; deciding them one after the
other under the workload's lock, counting our own in-flight decisions, keeps LOCAL_REPLICAS exact.
Different workloads decide concurrently. An in-flight entry is recorded before the patch and
dropped once the view shows the result (gate gone for local, nodeName for cloud).

Guards make redelivery harmless: a pod already bound, terminating, deleted, no longer gated or no
longer unschedulable, or already decided and in flight, is skipped. A 422 on the patch means the
view was stale (its `test` ops failed): re-read the pod and decide again.

API writes per pod: one JSON patch, one binding (cloud), one Event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import msgspec
from opentelemetry import trace

from services.placement.record import decision_record, span_attributes
from services.placement.view import ClusterView
from spillway.bus import Bus, TemporaryError
from spillway.kube import Invalid, KubeClient, KubeError, NotFound, pod_path
from spillway.kube.client import JSON_PATCH
from spillway.kube.events import EventRecorder, ObjectRef
from spillway.model import messages as m
from spillway.model.kube import PLACEMENT_GATE, SUPER_NODE_TAINT_KEY, Pod, decode_pod
from spillway.policy import (
    Decision,
    Outcome,
    PlacementInput,
    PolicyOptions,
    SuperNodeState,
    Trigger,
    cloud_patch,
    decide,
    local_patch,
)
from spillway.telemetry import get_tracer, pod_trace_context

log = logging.getLogger("spillway.placement")
InFlight = Literal["local", "cloud"]
STALE_RETRIES = 3
BIND_RETRIES = 3


class _PodList(msgspec.Struct):
    items: list[Pod] = []


@dataclass
class _Plan:
    """What `_plan` decided under the lock, for `_execute` to carry out after it."""

    decision: Decision | None = None
    record: m.PlacementDecision | None = None
    span: trace.Span | None = None
    bind_only: str | None = None  # finish an earlier cloud decision whose bind failed


@dataclass
class Stats:
    decided: int = 0
    local: int = 0
    cloud: int = 0
    refused: int = 0
    skipped: int = 0
    stale_retries: int = 0
    api_writes: int = 0


class Decider:
    def __init__(
        self, view: ClusterView, client: KubeClient, bus: Bus, recorder: EventRecorder, options: PolicyOptions,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.view = view
        self.client = client
        self.bus = bus
        self.recorder = recorder
        self.options = options
        self.clock = clock
        self.in_flight: dict[str, InFlight] = {}
        self.in_flight_node: dict[str, str] = {}
        self.unbound: dict[str, str] = {}  # uid → node: patched for the cloud, bind still owed
        self.locks: dict[str, asyncio.Lock] = {}
        self.recorded_events: dict[str, set[tuple[str, str]]] = {}  # uid → (reason, message) sent
        self.last_records: dict[str, tuple[str, str, str]] = {}
        self.stats = Stats()
        view.pod_listeners.append(self.observe)

    # ---- the view tells us what the API did ---------------------------------------------------

    def observe(self, pod: Pod, deleted: bool) -> None:
        """Drop in-flight entries whose result the view now shows (or whose pod is gone)."""
        uid = pod.metadata.uid
        if deleted:
            self._forget(uid)
            self.recorded_events.pop(uid, None)  # what we remember about a pod goes with it
            self.last_records.pop(uid, None)
            return
        state = self.in_flight.get(uid)
        if state is None:
            return
        done = pod.is_terminating() or (state == "local" and not pod.is_gated_by(PLACEMENT_GATE)) or \
            (state == "cloud" and bool(pod.spec.node_name))
        if done:
            self._forget(uid)

    def _forget(self, uid: str) -> None:
        self.in_flight.pop(uid, None)
        self.in_flight_node.pop(uid, None)
        self.unbound.pop(uid, None)

    # ---- entry points ---------------------------------------------------------------------------

    async def on_event(self, event: m.PodEvent) -> None:
        """A pending-gated or pending-unschedulable event from the watcher."""
        pod = self.view.upsert_pod(event.pod)
        trigger = Trigger.GATED if event.change == "gated" else Trigger.UNSCHEDULABLE
        await self.decide_pod(pod.key, trigger)

    async def refresh_pods(self) -> None:
        """Bring the view's pods up to the API's own state (a new leader's first step): a
        pod's newer resourceVersion wins, pods the API no longer has are dropped."""
        raw = await self.client.request("GET", "/api/v1/pods")
        listed = msgspec.json.decode(raw, type=_PodList).items
        seen = {pod.key for pod in listed}
        for pod in listed:
            self.view.upsert_pod(pod)
        for key in [k for k in self.view.pods if k not in seen]:
            self.view.remove_pod(key)
        log.info("view refreshed from the API", extra={"pods": len(listed)})

    def pending(self) -> list[tuple[str, Trigger]]:
        """Pods still waiting for placement in the view (for a resync after a switch, node or
        zone change, or a take-over), including pods whose cloud bind is owed."""
        out: list[tuple[str, Trigger]] = []
        for key, pod in self.view.pods.items():
            if pod.spec.node_name or pod.is_terminating() or pod.metadata.uid in self.in_flight:
                continue
            if pod.is_gated_by(PLACEMENT_GATE):
                out.append((key, Trigger.GATED))
            elif (pod.is_unschedulable() and not pod.spec.scheduling_gates) or self.owed_bind(pod):
                out.append((key, Trigger.UNSCHEDULABLE))
        return out

    def owed_bind(self, pod: Pod) -> str | None:
        """The super node a pod was patched for but never bound to (its decider died between
        the patch and the bind): ungated, unbound, tolerating super nodes, pinned to one."""
        if pod.spec.node_name or pod.is_terminating() or pod.is_gated_by(PLACEMENT_GATE):
            return None
        if not any(t.key == SUPER_NODE_TAINT_KEY for t in pod.spec.tolerations):
            return None
        affinity = pod.spec.affinity.node_affinity if pod.spec.affinity else None
        required = affinity.required_during_scheduling_ignored_during_execution if affinity else None
        pinned = {value for term in (required.node_selector_terms if required else [])
                  for field in term.match_fields if field.key == "metadata.name" and field.operator == "In"
                  for value in field.values}
        if len(pinned) != 1:
            return None
        node = pinned.pop()
        known = self.view.nodes.get(node)
        return node if known is not None and known.is_super_node() else None

    async def decide_pod(self, key: str, trigger: Trigger) -> None:
        """Decide under the workload's lock (pure and quick, in-flight recorded before release),
        then act outside it, so one workload's API round trips overlap instead of queueing."""
        for attempt in range(STALE_RETRIES + 1):
            pod = self.view.pods.get(key)
            if pod is None:
                return
            async with self.locks.setdefault(str(self.view.workload(pod)), asyncio.Lock()):
                pod = self.view.pods.get(key)
                if pod is None:
                    return
                plan = self._plan(pod, trigger)
            if plan is None:
                return
            try:
                await self._execute(pod, plan)
                return
            except Invalid:
                self.stats.stale_retries += 1
                if attempt == STALE_RETRIES:
                    raise TemporaryError(f"{key}: view still stale after {STALE_RETRIES} re-reads", 1.0) from None
                try:
                    fresh = decode_pod(await self.client.request("GET", pod_path(pod.metadata.namespace,
                                                                                  pod.metadata.name)))
                except NotFound:
                    self.view.remove_pod(key)
                    return
                self.view.upsert_pod(fresh)

    # ---- one decision ---------------------------------------------------------------------------

    def _skip_reason(self, pod: Pod, trigger: Trigger) -> str | None:
        uid = pod.metadata.uid
        if pod.is_terminating():
            return "terminating"
        if pod.spec.node_name:
            return "already bound"
        if uid in self.unbound or (uid not in self.in_flight and self.owed_bind(pod)):
            return None
        if uid in self.in_flight:
            return "decided, in flight"
        if trigger is Trigger.GATED and not pod.is_gated_by(PLACEMENT_GATE):
            return "no longer gated"
        if trigger is Trigger.UNSCHEDULABLE and (pod.spec.scheduling_gates or not pod.is_unschedulable()):
            return "no longer unschedulable"
        return None

    def _inputs(self, pod: Pod, trigger: Trigger) -> PlacementInput:
        view = self.view
        workload = view.workload(pod)
        super_nodes = view.super_nodes()
        names = {n.metadata.name for n in super_nodes}
        local = view.local_count(workload, names, self.in_flight)
        pending_binds: dict[str, int] = {}
        for node in self.in_flight_node.values():
            pending_binds[node] = pending_binds.get(node, 0) + 1
        states = [SuperNodeState(n, view.assigned(n.metadata.name) + pending_binds.get(n.metadata.name, 0))
                  for n in super_nodes]
        return PlacementInput(
            pod=pod, workload=workload, trigger=trigger, global_switch=view.global_switch(), options=self.options,
            local_count=local, super_nodes=states, cooldowns=dict(view.cooldowns), now=self.clock(),
            pvc_lookup=view.pvc, pv_lookup=view.pv,
        )

    def _plan(self, pod: Pod, trigger: Trigger) -> _Plan | None:
        """The decision, with its in-flight entry recorded (call under the workload's lock)."""
        skip = self._skip_reason(pod, trigger)
        if skip is not None:
            self.stats.skipped += 1
            log.debug("skipped", extra={"pod": pod.key, "why": skip})
            return None
        uid = pod.metadata.uid
        if uid in self.unbound:  # patched for the cloud earlier, the bind failed: finish it
            return _Plan(bind_only=self.unbound[uid])
        owed = self.owed_bind(pod)
        if owed is not None:  # patched by a decider that died before binding: finish it
            return _Plan(bind_only=owed)
        # under the message's span when an event brought us here, else (resync, take-over) in
        # the pod's own trace: either way the pod's trace
        current = trace.get_current_span().get_span_context()
        span = get_tracer().start_span("placement decide",
                                       context=None if current.is_valid else pod_trace_context(uid))
        with trace.use_span(span, end_on_exit=False):
            inputs = self._inputs(pod, trigger)
            decision = decide(inputs)
            trace_id = format(span.get_span_context().trace_id, "032x")
            record = decision_record(pod, inputs.workload, decision, global_switch=inputs.global_switch,
                                     trace_id=trace_id, now=self.clock())
            span.set_attributes(span_attributes(record))
        if decision.outcome is Outcome.LOCAL and local_patch(pod):
            self.in_flight[uid] = "local"
        elif decision.outcome is Outcome.CLOUD:
            assert decision.node is not None
            self.in_flight[uid] = "cloud"
            self.in_flight_node[uid] = decision.node
        return _Plan(decision=decision, record=record, span=span)

    async def _execute(self, pod: Pod, plan: _Plan) -> None:
        if plan.bind_only is not None:
            await self._bind(pod, plan.bind_only)
            return
        assert plan.decision is not None and plan.record is not None and plan.span is not None
        with trace.use_span(plan.span, end_on_exit=True):
            await self._act(pod, plan.decision)
            if plan.decision.outcome is Outcome.STAY_PENDING:
                plan.span.set_status(trace.StatusCode.OK, plan.decision.reason)
            await self._report(pod, plan.decision, plan.record)

    async def _act(self, pod: Pod, decision: Decision) -> None:
        """Carry out a decision whose in-flight entry `_plan` recorded; forget it on failure."""
        uid, meta = pod.metadata.uid, pod.metadata
        path = pod_path(meta.namespace, meta.name)
        if decision.outcome is Outcome.LOCAL:
            patch = local_patch(pod)
            if not patch:
                return
            try:
                await self.client.patch(path, patch, content_type=JSON_PATCH)
            except BaseException:
                self._forget(uid)
                raise
            self.stats.api_writes += 1
        elif decision.outcome is Outcome.CLOUD:
            assert decision.node is not None
            try:
                await self.client.patch(path, cloud_patch(pod, decision), content_type=JSON_PATCH)
            except BaseException:
                self._forget(uid)
                raise
            self.stats.api_writes += 1
            await self._bind(pod, decision.node)

    async def _bind(self, pod: Pod, node: str) -> None:
        meta = pod.metadata
        self.unbound[meta.uid] = node
        for attempt in range(BIND_RETRIES):
            try:
                await self.client.bind_pod(meta.namespace, meta.name, node)
                self.stats.api_writes += 1
                self.unbound.pop(meta.uid, None)
                return
            except NotFound:
                self._forget(meta.uid)
                return
            except KubeError as exc:
                if exc.status == 409:  # bound elsewhere meanwhile, or being deleted: not ours any more
                    log.warning("bind refused", extra={"pod": pod.key, "node": node, "error": exc.message})
                    self._forget(meta.uid)
                    return
                if attempt == BIND_RETRIES - 1:
                    raise TemporaryError(f"bind {pod.key} to {node}: {exc}", 1.0) from exc
                await asyncio.sleep(0.1 * (attempt + 1))

    async def _report(self, pod: Pod, decision: Decision, record: m.PlacementDecision) -> None:
        """The Event(s), the KV record and the bus message; refusals repeat, their reports do not."""
        meta = pod.metadata
        self.stats.decided += 1
        setattr(self.stats, record.outcome, getattr(self.stats, record.outcome) + 1)
        ref = ObjectRef("Pod", meta.namespace, meta.name, meta.uid)
        for event in decision.events():
            seen = (event.reason, event.message)
            if seen in self.recorded_events.get(meta.uid, ()):
                continue
            try:
                await self.recorder.record(ref, event.type, event.reason, event.message)
                self.stats.api_writes += 1
                self.recorded_events.setdefault(meta.uid, set()).add(seen)
            except KubeError as exc:  # an event is worth a log line, never a retry of the decision
                log.warning("event not recorded", extra={"pod": pod.key, "error": str(exc)})
        summary = (record.outcome, record.reason, record.node)
        if self.last_records.get(meta.uid) == summary:
            return
        self.last_records[meta.uid] = summary
        decisions = await self.bus.kv(m.KV_DECISIONS)
        await decisions.put(m.kv_key(meta.namespace, meta.name), m.encode(record))
        await self.bus.publish(record, msg_id=f"{meta.uid}:decision:{record.outcome}:{record.reason}:{record.node}")
        log.info("decided", extra={"pod": pod.key, "decision": record.outcome, "reason": record.reason,
                                   "node": record.node, "workload": record.workload,
                                   "local_replicas": record.local_replicas, "local_count": record.local_count})
