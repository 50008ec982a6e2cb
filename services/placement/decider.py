"""Decide one pending pod and carry the decision out through the API, exactly once.

Why per-workload locks and in-flight decisions: when 100 replicas of one workload arrive at once,
the API (and so our view) shows none of our decisions for a while; deciding them one after the
other under the workload's lock, counting our own in-flight decisions, keeps LOCAL_REPLICAS exact.
Different workloads decide concurrently. An in-flight entry is recorded before the patch and
dropped once the view shows the result (gate gone for local, nodeName for cloud); the bookkeeping
is `services.placement.ledger`.

Guards make redelivery harmless: a pod already bound, terminating, deleted, no longer gated or no
longer unschedulable, or already decided and in flight, is skipped (`skip_reason`). A 422 on the
patch means the view was stale (its `test` ops failed): re-read the pod and decide again. Any
other refusal of the cloud patch (a webhook's 403, a 400, a 5xx after retries) falls back to
local: a gated pod is never left gated because the API refused the toleration or the affinity.

Trust: only the super nodes of the configured subnets are candidates (another product's `eklet`
node gets one Warning, and so does each pod bound to it). A bind a dead leader owed is finished
only for a pod carrying Spillway's own record of it (`spillway.io/cloud-bind` with the pod's uid),
and only when deciding the pod again still sends it to that node. A workload whose cloud pods
keep failing is backed off (`services.placement.backoff`), with one Warning on the workload.

API writes per pod: one JSON patch, one binding (cloud), one Event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import msgspec
from opentelemetry import trace

from services.placement.backoff import WorkloadBackoffs
from services.placement.ledger import Ledger, WorkloadLocks
from services.placement.metrics import PENDING_SINCE, observe_decision
from services.placement.record import OUTCOMES, decision_record, span_attributes
from services.placement.view import ClusterView, is_newer_than
from spillway.bus import Bus, TemporaryError
from spillway.kube import Invalid, KubeClient, KubeError, NotFound, pod_path
from spillway.kube.client import JSON_PATCH, PAGE_SIZE, ContinueExpired
from spillway.kube.events import EventRecorder, ObjectRef
from spillway.loops import SYSTEM_CLOCK, Backoff, Clock, call_with_retry
from spillway.model import messages as m
from spillway.model.kube import PLACEMENT_GATE, SUPER_NODE_TAINT_KEY, Node, Pod, decode_pod
from spillway.policy import (
    Decision,
    DecisionReason,
    EventReason,
    Outcome,
    PlacementEvent,
    PlacementInput,
    PolicyOptions,
    SuperNodeState,
    Trigger,
    cloud_patch,
    decide,
    local_patch,
)
from spillway.policy.decision import one_line
from spillway.policy.nodes import foreign_super_nodes, is_managed_super_node
from spillway.policy.patches import JsonPatch, owed_bind_node
from spillway.policy.rules.backoff import REASON as CLOUD_FAILURE_BACKOFF
from spillway.policy.workload import BARE_POD, JOB, WorkloadKey
from spillway.telemetry import get_tracer, pod_trace_context

log = logging.getLogger("spillway.placement")
STALE_RETRIES = 3
BUS_CATCH_UP_ROUND = 0.5
BUS_PATIENCE = 2.0
BUS_CATCH_UP_LIMIT = 60.0
"""How a new leader waits for the bus to bring the pods it lists (`Decider.refresh_pods`): a look
every half second, until two seconds bring none of them, for at most a minute."""
READ_ONE_BY_ONE = 100
"""Pods still behind the API after that wait: up to this many are read one by one, more in one list."""
READ_CONCURRENCY = 8
BIND_BACKOFF = Backoff(initial=0.1, factor=2.0, cap=0.2, jitter=0.0, max_attempts=3)
"""3 tries, 0.1 s then 0.2 s apart."""
PATCH_BACKOFF = Backoff(initial=0.2, factor=2.0, cap=0.4, jitter=0.0, max_attempts=3)
"""3 tries, 0.2 s then 0.4 s apart; only for answers worth repeating (`_patch_retry`)."""
API_ANSWER_LIMIT = 300
"""Characters of an API refusal quoted in an event: enough to act on, never a flood."""
APPS_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"})


class _Meta(msgspec.Struct):
    namespace: str = ""
    name: str = ""
    uid: str = ""
    resourceVersion: str = ""


class _Named(msgspec.Struct):
    """Just enough of an undecodable pod to name it in a log line and keep it in the view."""

    metadata: _Meta = msgspec.field(default_factory=_Meta)


_named_decoder = msgspec.json.Decoder(_Named)


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
    undecodable: int = 0
    patch_refused: int = 0
    owed_binds_refused: int = 0


class Decider:
    def __init__(
        self, view: ClusterView, client: KubeClient, bus: Bus, recorder: EventRecorder, options: PolicyOptions,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.view = view
        self.client = client
        self.bus = bus
        self.recorder = recorder
        self.options = options
        self.clock = clock
        self.ledger = Ledger(gone=view.deleted_uids)
        self.locks = WorkloadLocks()
        self.backoffs = WorkloadBackoffs()
        self.managed = options.managed_super_nodes()
        self.stats = Stats()
        view.pod_listeners.append(self.observe)

    # ---- the view tells us what the API did ---------------------------------------------------

    def observe(self, pod: Pod, deleted: bool) -> None:
        """Drop in-flight entries whose result the view now shows; forget a deleted pod."""
        if deleted:
            self.ledger.forget(pod.metadata.uid)
        else:
            self.ledger.observed(pod)

    # ---- entry points ---------------------------------------------------------------------------

    async def on_event(self, event: m.PodEvent) -> None:
        """A pending-gated or pending-unschedulable event from the watcher."""
        pod = self.view.upsert_pod(event.pod)
        PENDING_SINCE.set(event.observed_at)
        trigger = Trigger.GATED if event.change == "gated" else Trigger.UNSCHEDULABLE
        await self.decide_pod(pod.key, trigger)

    async def refresh_pods(self) -> None:
        """Bring the view's pods up to the API's own state (a new leader's first step): every pod
        the API lists is held at its listed version or newer, pods it no longer has are dropped.

        Cheap first: the API lists only the pods' metadata (a fraction of their bytes), and a pod
        the view holds at that version or newer needs nothing more. A pod the view lacks or holds
        older is nearly always on its way through the watcher (at a cold start, all of them): the
        bus is given the time to bring them while it keeps doing so, and what is still behind is
        read from the API — pod by pod when few, else in one whole paged list, a local pod kept as
        the bus keeps it (`local_pod_view`)."""
        listed, snapshot = await self._listed_versions()
        # a pod the bus brought in while the pages were read is newer than the list, not gone
        for key in [k for k, pod in self.view.pods.items() if k not in listed and not is_newer_than(pod, snapshot)]:
            self.view.remove_pod(key)
        behind = await self._await_bus(listed)
        if len(behind) <= READ_ONE_BY_ONE:
            await self._read_each(behind)
        else:
            await self._read_listed(behind)
        log.info("view refreshed from the API", extra={"pods": len(listed), "read_from_the_api": len(behind)})

    async def _listed_versions(self) -> tuple[dict[str, tuple[str, str]], str]:
        """Every pod's (uid, resourceVersion) by key, and the list's resourceVersion. Page by page;
        when the snapshot expires before the last page, listed again in one piece, as the reflector does."""
        try:
            return await self._list_versions(PAGE_SIZE)
        except ContinueExpired:
            return await self._list_versions(0)

    async def _list_versions(self, page_size: int) -> tuple[dict[str, tuple[str, str]], str]:
        listed: dict[str, tuple[str, str]] = {}
        snapshot = ""
        async for page in self.client.list_pages("/api/v1/pods", page_size=page_size, metadata_only=True):
            snapshot = page.metadata.resourceVersion
            for item in page.items:
                try:
                    meta = _named_decoder.decode(item).metadata
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    self.stats.undecodable += 1
                    log.warning("undecodable pod metadata skipped", extra={"error": str(exc)[:API_ANSWER_LIMIT]})
                    continue
                listed[f"{meta.namespace}/{meta.name}"] = (meta.uid, meta.resourceVersion)
        return listed, snapshot

    def _behind(self, listed: Mapping[str, tuple[str, str]], keys: Collection[str]) -> list[str]:
        """The pods of `keys` the view lacks, holds as another incarnation, or holds older than listed."""
        out = []
        for key in keys:
            uid, version = listed[key]
            held = self.view.pods.get(key)
            if held is None or held.metadata.uid != uid or not (
                    held.metadata.resource_version == version or is_newer_than(held, version)):
                out.append(key)
        return out

    async def _await_bus(self, listed: Mapping[str, tuple[str, str]]) -> list[str]:
        """The listed pods still behind once the bus stops catching up: a look every
        BUS_CATCH_UP_ROUND seconds until none is behind, or none came for BUS_PATIENCE seconds,
        or BUS_CATCH_UP_LIMIT seconds have passed."""
        behind = self._behind(listed, listed.keys())
        waited = idle = 0.0
        while behind and waited < BUS_CATCH_UP_LIMIT and idle < BUS_PATIENCE:
            await self.clock.sleep(BUS_CATCH_UP_ROUND)
            waited += BUS_CATCH_UP_ROUND
            still = self._behind(listed, behind)
            idle = idle + BUS_CATCH_UP_ROUND if len(still) == len(behind) else 0.0
            behind = still
        return behind

    async def _read_each(self, keys: Collection[str]) -> None:
        """GET each pod (a few at a time): the API's own version replaces the view's."""
        slots = asyncio.Semaphore(READ_CONCURRENCY)

        async def read(key: str) -> None:
            namespace, _, name = key.partition("/")
            async with slots:
                try:
                    raw = await self.client.request("GET", pod_path(namespace, name))
                except NotFound:
                    self.view.remove_pod(key)
                    return
            self._take(key, msgspec.Raw(raw))

        await asyncio.gather(*(read(key) for key in keys))

    async def _read_listed(self, keys: Collection[str]) -> None:
        """The whole pods in one paged list (memory: one page), taking only those of `keys`; when
        the list's snapshot expires before the last page, listed again in one piece."""
        wanted = set(keys)
        try:
            await self._take_from_list(PAGE_SIZE, wanted)
        except ContinueExpired:
            await self._take_from_list(0, wanted)

    async def _take_from_list(self, page_size: int, wanted: set[str]) -> None:
        async for page in self.client.list_pages("/api/v1/pods", page_size=page_size):
            for item in page.items:
                try:
                    meta = _named_decoder.decode(item).metadata
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue  # counted when its metadata was listed
                key = f"{meta.namespace}/{meta.name}"
                if key in wanted:
                    self._take(key, item)

    def _take(self, key: str, item: msgspec.Raw) -> None:
        """The pod as the API has it, unless the bus brought a newer version meanwhile."""
        try:
            pod = decode_pod(bytes(item))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._undecodable(item, exc)
            return
        held = self.view.pods.get(key)
        if held is not None and held.metadata.uid == pod.metadata.uid and is_newer_than(
                held, pod.metadata.resource_version):
            return
        self.view.upsert_pod(self.view.as_stored(pod))

    def _undecodable(self, item: msgspec.Raw, exc: Exception) -> None:
        """Skip a pod we cannot read (logged, counted); the view keeps what it had for it."""
        self.stats.undecodable += 1
        try:
            meta = _named_decoder.decode(item).metadata
            key = f"{meta.namespace}/{meta.name}"
        except (msgspec.DecodeError, msgspec.ValidationError):
            key = "?"
        log.warning("undecodable pod skipped", extra={"pod": key, "error": str(exc)[:API_ANSWER_LIMIT]})

    def pending(self) -> list[tuple[str, Trigger]]:
        """Pods still waiting for placement in the view (for a resync after a switch, node or
        zone change, or a take-over), including pods whose cloud bind is owed."""
        out: list[tuple[str, Trigger]] = []
        for key in list(self.view.unbound):  # not every pod: a big IDC's pods are nearly all bound
            pod = self.view.pods[key]
            try:
                if pod.spec.node_name or pod.is_terminating() or self.ledger.is_in_flight(pod.metadata.uid):
                    continue
                if pod.is_gated_by(PLACEMENT_GATE):
                    out.append((key, Trigger.GATED))
                elif pod.awaiting_decision() or owed_bind(pod, self.view.nodes, self.managed):
                    out.append((key, Trigger.UNSCHEDULABLE))
            except Exception as exc:  # one odd pod must not hide every other pending pod
                log.warning("pod not considered", extra={"pod": key, "error": repr(exc)})
        return out

    async def decide_pod(self, key: str, trigger: Trigger) -> None:
        """Decide under the workload's lock (pure and quick, in-flight recorded before release),
        then act outside it, so one workload's API round trips overlap instead of queueing."""
        for attempt in range(STALE_RETRIES + 1):
            pod = self.view.pods.get(key)
            if pod is None:
                return
            async with self.locks.hold(str(self.view.workload(pod))):
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

    def _inputs(self, pod: Pod, trigger: Trigger) -> PlacementInput:
        view = self.view
        workload = view.workload(pod)
        labelled = view.super_nodes()
        super_nodes = [n for n in labelled if is_managed_super_node(n, self.managed)]
        names = {n.metadata.name for n in labelled}  # a pod on anybody's super node is not local
        local = view.local_count(workload, names, self.ledger.in_flight)
        now = self.clock.time()
        pending_binds = self.ledger.pending_binds()
        states = [SuperNodeState(n, view.assigned(n.metadata.name) + pending_binds.get(n.metadata.name, 0))
                  for n in super_nodes]
        return PlacementInput(
            pod=pod, workload=workload, trigger=trigger, global_switch=view.global_switch(), options=self.options,
            local_count=local, super_nodes=states, cooldowns=dict(view.cooldowns), now=now,
            pvc_lookup=view.pvc, pv_lookup=view.pv, cloud_backoff=self.backoffs.current(workload, now),
        )

    def _plan(self, pod: Pod, trigger: Trigger) -> _Plan | None:
        """The decision, with its in-flight entry recorded (call under the workload's lock)."""
        uid = pod.metadata.uid
        owed = owed_bind(pod, self.view.nodes, self.managed)
        skip = skip_reason(pod, trigger, self.ledger, owed)
        if skip is not None:
            self.stats.skipped += 1
            log.debug("skipped", extra={"pod": pod.key, "why": skip})
            return None
        unbound = self.ledger.owed(uid)
        if unbound is not None:  # patched for the cloud earlier, the bind failed: finish it
            return _Plan(bind_only=unbound)
        if owed is not None:  # patched by a decider that died before binding: decide again first
            trigger = Trigger.UNSCHEDULABLE
        # under the message's span when an event brought us here, else (resync, take-over) in
        # the pod's own trace: either way the pod's trace
        current = trace.get_current_span().get_span_context()
        span = get_tracer().start_span("placement decide",
                                       context=None if current.is_valid else pod_trace_context(uid))
        with trace.use_span(span, end_on_exit=False):
            inputs = self._inputs(pod, trigger)
            decision = decide(inputs)
            if owed is not None and not (decision.outcome is Outcome.CLOUD and decision.node == owed):
                decision = self._owed_bind_refused(decision, owed)
            trace_id = format(span.get_span_context().trace_id, "032x")
            record = decision_record(pod, inputs.workload, decision, global_switch=inputs.global_switch,
                                     trace_id=trace_id, now=self.clock.time())
            span.set_attributes(span_attributes(record))
        if decision.outcome is Outcome.LOCAL and local_patch(pod):
            self.ledger.began(uid, "local")
        elif decision.outcome is Outcome.CLOUD:
            assert decision.node is not None
            self.ledger.began(uid, "cloud", decision.node)
        return _Plan(decision=decision, record=record, span=span,
                     bind_only=owed if decision.outcome is Outcome.CLOUD else None)

    def _owed_bind_refused(self, recheck: Decision, node: str) -> Decision:
        """Deciding the pod again no longer sends it to `node`: the owed bind is not finished."""
        self.stats.owed_binds_refused += 1
        why = f"{recheck.reason}: {recheck.event.message}"
        if recheck.outcome is Outcome.CLOUD:
            why = f"it would now go to {recheck.node}, not {node}"
        message = (f"not finishing the bind to super node {node} that an earlier placement decision owed: "
                   f"deciding the pod again refuses it ({why}); the pod stays Pending")
        return _replaced(recheck, Outcome.STAY_PENDING, DecisionReason.OWED_BIND_REFUSED, message)

    async def _execute(self, pod: Pod, plan: _Plan) -> None:
        if plan.decision is None:
            assert plan.bind_only is not None
            await self._bind(pod, plan.bind_only)
            return
        assert plan.record is not None and plan.span is not None
        with trace.use_span(plan.span, end_on_exit=True):
            if plan.bind_only is not None:
                await self._bind(pod, plan.bind_only)
                done = plan.decision
            else:
                done = await self._act(pod, plan.decision)
            record = plan.record
            if done is not plan.decision:  # the API refused it: what was done instead
                record = msgspec.structs.replace(record, outcome=OUTCOMES[done.outcome], node=done.node or "",
                                                 reason=done.reason, message=done.event.message)
                plan.span.set_attributes(span_attributes(record))
            if done.outcome is Outcome.STAY_PENDING:
                plan.span.set_status(trace.StatusCode.OK, done.reason)
            await self._report(pod, done, record)

    async def _act(self, pod: Pod, decision: Decision) -> Decision:
        """Carry out a decision whose in-flight entry `_plan` recorded; forget it on failure.
        Returns what was done: the decision, or the fallback when the API refused it."""
        uid, meta = pod.metadata.uid, pod.metadata
        path = pod_path(meta.namespace, meta.name)
        if decision.outcome is Outcome.LOCAL:
            patch = local_patch(pod)
            if not patch:
                return decision
            try:
                await self._patch(path, patch)
            except (Invalid, NotFound):
                self.ledger.settled(uid)
                raise
            except KubeError as exc:
                self.ledger.settled(uid)
                return self._gate_lift_refused(decision, exc)
            except BaseException:
                self.ledger.settled(uid)
                raise
        elif decision.outcome is Outcome.CLOUD:
            assert decision.node is not None
            try:
                await self._patch(path, cloud_patch(pod, decision))
            except (Invalid, NotFound):
                self.ledger.settled(uid)
                raise
            except KubeError as exc:
                self.ledger.settled(uid)
                return await self._cloud_patch_refused(pod, decision, exc)
            except BaseException:
                self.ledger.settled(uid)
                raise
            await self._bind(pod, decision.node)
        return decision

    async def _patch(self, path: str, patch: JsonPatch) -> None:
        """One JSON patch; a 429 or 5xx is tried again a few times before it counts as refused."""
        await call_with_retry(lambda: self.client.patch(path, patch, content_type=JSON_PATCH), _patch_retry,
                              retry_on=(KubeError,), clock=self.clock)
        self.stats.api_writes += 1

    async def _cloud_patch_refused(self, pod: Pod, decision: Decision, exc: KubeError) -> Decision:
        """Anything but success or a stale view: never leave the pod gated for it. Lift the gate
        with the minimal patch (gated path); on the unschedulable path the pod stays Pending."""
        self.stats.patch_refused += 1
        answer = _api_answer(exc)
        log.warning("cloud patch refused", extra={"pod": pod.key, "node": decision.node, "error": answer})
        refused = f"the API refused the patch sending the pod to super node {decision.node} ({answer})"
        lift = local_patch(pod)
        if not lift:
            return _replaced(decision, Outcome.STAY_PENDING, DecisionReason.CLOUD_PATCH_REFUSED,
                             f"{refused}; the pod stays Pending and placement tries again at its next resync")
        try:
            await self._patch(pod_path(pod.metadata.namespace, pod.metadata.name), lift)
        except (Invalid, NotFound):
            raise  # stale or gone: re-read and decide again
        except KubeError as lift_exc:
            log.warning("gate lift refused", extra={"pod": pod.key, "error": _api_answer(lift_exc)})
            return _replaced(decision, Outcome.STAY_PENDING, DecisionReason.GATE_LIFT_REFUSED,
                             f"{refused}, and refused lifting the scheduling gate {PLACEMENT_GATE} too "
                             f"({_api_answer(lift_exc)}); the pod stays gated until a later attempt succeeds")
        return _replaced(decision, Outcome.LOCAL, DecisionReason.CLOUD_PATCH_REFUSED,
                         f"{refused}; the scheduling gate is lifted and the pod runs locally")

    def _gate_lift_refused(self, decision: Decision, exc: KubeError) -> Decision:
        self.stats.patch_refused += 1
        answer = _api_answer(exc)
        return _replaced(decision, Outcome.STAY_PENDING, DecisionReason.GATE_LIFT_REFUSED,
                         f"the API refused lifting the scheduling gate {PLACEMENT_GATE} ({answer}); the pod stays "
                         "gated until a later attempt succeeds")

    async def _bind(self, pod: Pod, node: str) -> None:
        """Bind, trying again on any refusal but a 404 (the pod is gone) or a 409 (bound elsewhere
        or being deleted); still refused after the last try, it is a TemporaryError."""
        meta = pod.metadata
        self.ledger.owe_bind(meta.uid, node)

        async def bind() -> None:
            try:
                await self.client.bind_pod(meta.namespace, meta.name, node)
            except NotFound:
                self.ledger.settled(meta.uid)
                return
            except KubeError as exc:
                if exc.status != 409:
                    raise
                # bound elsewhere meanwhile, or being deleted: not ours any more
                log.warning("bind refused", extra={"pod": pod.key, "node": node, "error": exc.message})
                self.ledger.settled(meta.uid)
                return
            self.stats.api_writes += 1
            self.ledger.bound(meta.uid)

        try:
            await call_with_retry(bind, BIND_BACKOFF, retry_on=(KubeError,), clock=self.clock)
        except KubeError as exc:
            raise TemporaryError(f"bind {pod.key} to {node}: {exc}", 1.0) from exc

    async def _record_once(self, ref: ObjectRef, event_type: str, reason: str, message: str) -> None:
        """One Event per (pod, reason, message) while we remember the pod; a failure to record is
        worth a log line, never a retry of the decision (the pod's next decision tries again)."""
        if not self.ledger.should_record_event(ref.uid, reason, message):
            return
        if not await self._record(ref, event_type, reason, message):
            self.ledger.event_not_recorded(ref.uid, reason, message)

    async def _record(self, ref: ObjectRef, event_type: str, reason: str, message: str) -> bool:
        """True when the Event was recorded; a refusal (False from the recorder) or an error is logged."""
        try:
            recorded = await self.recorder.record(ref, event_type, reason, message)
        except KubeError as exc:
            log.warning("event not recorded", extra={"object": f"{ref.kind}/{ref.namespace}/{ref.name}",
                                                     "reason": reason, "error": str(exc)})
            return False
        if recorded:
            self.stats.api_writes += 1
        return recorded

    async def _report(self, pod: Pod, decision: Decision, record: m.PlacementDecision) -> None:
        """The Event(s), the KV record and the bus message; refusals repeat, their reports do not."""
        meta = pod.metadata
        self.stats.decided += 1
        setattr(self.stats, record.outcome, getattr(self.stats, record.outcome) + 1)
        ref = ObjectRef("Pod", meta.namespace, meta.name, meta.uid)
        for event in decision.events():
            await self._record_once(ref, event.type, event.reason, event.message)
        if decision.reason == CLOUD_FAILURE_BACKOFF:
            await self._announce_backoff(pod, decision)
        if not self.ledger.should_publish(meta.uid, (record.outcome, record.reason, record.node)):
            return
        observe_decision(record, meta.creation_timestamp)
        decisions = await self.bus.kv(m.KV_DECISIONS)
        await decisions.put(m.kv_key(meta.namespace, meta.name), m.encode(record))
        await self.bus.publish(record, msg_id=f"{meta.uid}:decision:{record.outcome}:{record.reason}:{record.node}")
        log.info("decided", extra={"pod": pod.key, "decision": record.outcome, "reason": record.reason,
                                   "node": record.node, "workload": record.workload,
                                   "local_replicas": record.local_replicas, "local_count": record.local_count})

    async def _announce_backoff(self, pod: Pod, decision: Decision) -> None:
        """One Warning on the workload per back-off (its pods each carry their own)."""
        workload = self.view.workload(pod)
        if not self.backoffs.first_announcement(workload):
            return
        rule = next((r for r in decision.rules if r.reason == CLOUD_FAILURE_BACKOFF), None)
        message = rule.message if rule is not None else decision.event.message
        if not await self._record(workload_ref(pod, workload), "Warning", CLOUD_FAILURE_BACKOFF, message):
            self.backoffs.announcement_failed(workload)

    # ---- super nodes that are not ours ----------------------------------------------------------

    async def warn_unmanaged(self) -> None:
        """One Warning on each `eklet` node Spillway does not run, and one on each pod bound to
        it: nothing of ours creates their instances, so they would wait forever unexplained."""
        foreign = foreign_super_nodes(list(self.view.nodes.values()), self.managed)
        self.ledger.foreign_nodes({n.metadata.name for n in foreign})
        for node in foreign:
            name = node.metadata.name
            if self.ledger.should_warn_about(name):
                message = (f"node {name} is labelled as a super node but is not one Spillway runs (its super "
                           f"nodes are eklet-<subnetId> of the configured subnets: "
                           f"{', '.join(sorted(self.managed)) or 'none configured'}); placement never sends pods "
                           "to it")
                if await self._record(node_ref(node), "Warning", EventReason.UNMANAGED_SUPER_NODE, message):
                    self.ledger.warned_about(name)
            for key in list(self.view.on_node.get(name, ())):
                pod = self.view.pods.get(key)
                if pod is None or pod.spec.node_name != name:
                    continue
                meta = pod.metadata
                message = (f"the pod is bound to node {name}, a super node Spillway does not run: no Spillway "
                           "service will create its cloud instance, report its status or finish its deletion; "
                           "delete the pod so its controller recreates it elsewhere")
                await self._record_once(ObjectRef("Pod", meta.namespace, meta.name, meta.uid),
                                        "Warning", EventReason.UNMANAGED_SUPER_NODE, message)


def skip_reason(pod: Pod, trigger: Trigger, ledger: Ledger, owed: str | None) -> str | None:
    """Why the pod is not decided now, or None to decide it. `owed` is the bind a dead decider
    left it (`owed_bind`): such a pod, or one whose bind this decider owes, is decided even though
    no longer gated or unschedulable."""
    uid = pod.metadata.uid
    if pod.is_terminating():
        return "terminating"
    if pod.spec.node_name:
        return "already bound"
    in_flight = ledger.is_in_flight(uid)
    if ledger.owed(uid) is not None or (not in_flight and owed is not None):
        return None
    if in_flight:
        return "decided, in flight"
    if trigger is Trigger.GATED and not pod.is_gated_by(PLACEMENT_GATE):
        return "no longer gated"
    if trigger is Trigger.UNSCHEDULABLE and not pod.awaiting_decision():
        return "no longer unschedulable"
    return None


def owed_bind(pod: Pod, nodes: Mapping[str, Node], managed: Collection[str]) -> str | None:
    """The super node a pod was patched for but never bound to (its decider died between
    the patch and the bind): ungated, unbound, tolerating super nodes, pinned to one managed
    super node (of `nodes`), AND carrying our record of that bind with its own uid (a copied
    manifest carries another pod's uid). Still re-decided before the bind (`Decider._plan`)."""
    if pod.spec.node_name or pod.is_terminating() or pod.is_gated_by(PLACEMENT_GATE):
        return None
    recorded = owed_bind_node(pod)
    if recorded is None:
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
    known = nodes.get(node)
    if node != recorded or known is None or not is_managed_super_node(known, managed):
        return None
    return node


def _patch_retry(attempt: int, error: BaseException) -> float | None:
    """PATCH_BACKOFF for a 429 or a 5xx; any other refusal is final at once."""
    if isinstance(error, KubeError) and (error.status == 429 or error.status >= 500):
        return PATCH_BACKOFF(attempt, error)
    return None


def _replaced(decision: Decision, outcome: Outcome, reason: str, message: str) -> Decision:
    """`decision` turned into a Warning refusal (or a plain local release) with its own reason."""
    return dataclasses.replace(
        decision, outcome=outcome, node=None, reason=reason,
        event=PlacementEvent("Warning", reason, one_line(message)),
        toleration=None, deletion_cost=None, narrowed_affinity=None,
    )


def _api_answer(exc: KubeError) -> str:
    text = f"{exc.status} {exc.reason}: {exc.message}"
    return text if len(text) <= API_ANSWER_LIMIT else text[: API_ANSWER_LIMIT - 1] + "…"


def node_ref(node: Node) -> ObjectRef:
    """Events about a cluster-scoped object live in `default`, as kubectl and the kubelet put them."""
    return ObjectRef("Node", "default", node.metadata.name, node.metadata.uid)


def workload_ref(pod: Pod, workload: WorkloadKey) -> ObjectRef:
    """The workload object itself (with its uid when the pod names it as its controller)."""
    if workload.kind == BARE_POD:
        return ObjectRef("Pod", pod.metadata.namespace, pod.metadata.name, pod.metadata.uid)
    default_api = "apps/v1" if workload.kind in APPS_KINDS else "batch/v1" if workload.kind == JOB else "v1"
    owner = pod.metadata.controller_ref()
    if owner is not None and owner.kind == workload.kind and owner.name == workload.name:
        return ObjectRef(workload.kind, workload.namespace, workload.name, owner.uid, owner.api_version or default_api)
    return ObjectRef(workload.kind, workload.namespace, workload.name, "", default_api)
