"""`decide()`: one pod's placement, as a pure function of plain inputs (docs/design.md §2's two paths).

Why pure: placement replays decisions for `spillway explain`, and the tests walk every row of
the tables without a cluster; the service gathers the inputs (pod, counts, nodes, switch,
cool-downs, clock value) and performs the returned decision.

Gated path (the pod carries spillway.io/placement): never blocks the pod; every answer other
than CLOUD is LOCAL (lift the gate). Unschedulable path (the scheduler gave up locally): CLOUD or
STAY_PENDING.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from spillway.model.kube import (
    ANNOTATION_LOCAL_REPLICAS,
    PLACEMENT_GATE,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Pod,
)
from spillway.policy.decision import (
    EVENT_MESSAGE_LIMIT,
    Decision,
    DecisionReason,
    EventReason,
    EventType,
    Outcome,
    PlacementEvent,
    Trigger,
    one_line,
)
from spillway.policy.matching import FIELD_NODE_NAME, required_affinity
from spillway.policy.nodes import SUPER_NODE_TOLERATION, NodeChoice, SuperNodeState, choose_super_node
from spillway.policy.options import PolicyOptions
from spillway.policy.rules import evaluate_rules, first_failure
from spillway.policy.rules.backoff import CloudBackoff
from spillway.policy.rules.base import PVCLookup, PVLookup, RuleContext, no_pv, no_pvc
from spillway.policy.status import RuleResult
from spillway.policy.switches import SwitchReason, SwitchVerdict, evaluate_switches, parse_local_replicas
from spillway.policy.workload import WorkloadKey


@dataclass(frozen=True)
class PlacementInput:
    """Everything one decision depends on.

    pod            the pod as last observed.
    workload       its workload key (`workload_of`).
    trigger        Trigger.GATED or Trigger.UNSCHEDULABLE (plain strings accepted).
    global_switch  raw `AUTO_SCALE_EKS` from kube-system/eks-config; None when key or ConfigMap is absent.
    options        PolicyOptions.
    local_count    `count_local(...)` for the workload, including in-flight decisions.
    super_nodes    every registered super node with its assigned pod count (incl. in-flight bindings).
    cooldowns      zone → epoch seconds until which the zone is avoided (sold out).
    now            the clock value, epoch seconds.
    pvc_lookup / pv_lookup  PVC and PV views for the volume rule.
    cloud_backoff  the workload's cloud-failure back-off (None: none), for the back-off rule.
    """

    pod: Pod
    workload: WorkloadKey
    trigger: Trigger | str
    global_switch: str | None = None
    options: PolicyOptions = field(default_factory=PolicyOptions)
    local_count: int = 0
    super_nodes: Sequence[SuperNodeState] = ()
    cooldowns: Mapping[str, float] = field(default_factory=dict)
    now: float = 0.0
    pvc_lookup: PVCLookup = no_pvc
    pv_lookup: PVLookup = no_pv
    cloud_backoff: CloudBackoff | None = None


def narrow_affinity(pod: Pod, node: str) -> NodeSelector:
    """The pod's required node affinity with `metadata.name In [node]` ANDed into every term
    (a single such term when it has none): the only change the API allows while gated."""
    pin = NodeSelectorRequirement(key=FIELD_NODE_NAME, operator="In", values=[node])
    required = required_affinity(pod)
    if required is None or not required.node_selector_terms:
        return NodeSelector(node_selector_terms=[NodeSelectorTerm(match_fields=[pin])])
    return NodeSelector(
        node_selector_terms=[
            NodeSelectorTerm(match_expressions=list(t.match_expressions), match_fields=[*t.match_fields, pin])
            for t in required.node_selector_terms
        ]
    )


def _failures_text(failures: Sequence[RuleResult]) -> str:
    return "; ".join(f"{r.reason}: {r.message}" for r in failures)


@dataclass(frozen=True, slots=True)
class _Common:
    """The parts every outcome shares."""

    inputs: PlacementInput
    trigger: Trigger
    rules: tuple[RuleResult, ...]
    switch: SwitchVerdict
    local_replicas: int | None
    warnings: tuple[str, ...]

    @property
    def narrows(self) -> bool:
        return self.trigger is Trigger.GATED

    def decision(
        self,
        outcome: Outcome,
        reason: str,
        event: tuple[EventType, str, str],
        node_choice: NodeChoice | None = None,
    ) -> Decision:
        event_type, event_reason, message = event
        cloud = outcome is Outcome.CLOUD and node_choice is not None and node_choice.node is not None
        node = node_choice.node if cloud and node_choice else None
        return Decision(
            outcome=outcome,
            node=node,
            reason=reason,
            event=PlacementEvent(event_type, event_reason, one_line(message)),
            trigger=self.trigger,
            rules=self.rules,
            switch=self.switch,
            local_replicas=self.local_replicas,
            local_count=self.inputs.local_count,
            warnings=self.warnings,
            toleration=SUPER_NODE_TOLERATION if cloud else None,
            deletion_cost=self.inputs.options.deletion_cost if cloud else None,
            narrowed_affinity=narrow_affinity(self.inputs.pod, node) if node and self.narrows else None,
            node_choice=node_choice,
        )


def decide(inputs: PlacementInput) -> Decision:
    """The placement decision for one pod (see the module docstring for the two paths).

    Never raises: whatever a rule, a parser or the node choice throws on a pod nobody foresaw
    becomes an `InternalError` refusal for that pod alone (kept local on the gated path, left
    pending on the unschedulable path, with a Warning event), so one poison pod cannot stop the
    placement loop for every other pod. This is the only place that catches."""
    try:
        return _decide(inputs)
    except Exception as exc:  # the policy's one catch-all, see above
        return _internal_error(inputs, exc)


INTERNAL_ERROR_DETAIL_LIMIT = 200
"""Characters of the exception text kept in the event: enough to file a bug, never a flood."""


def _internal_error(inputs: PlacementInput, exc: Exception) -> Decision:
    """The refusal for a pod whose evaluation failed: built from nothing that could fail again."""
    try:
        detail = str(exc)[:INTERNAL_ERROR_DETAIL_LIMIT]
    except Exception:  # an exception whose __str__ raises still gets its type named
        detail = ""
    what = f"internal error while deciding ({type(exc).__name__}: {detail})"
    try:
        trigger = Trigger(inputs.trigger)
    except ValueError:
        trigger = Trigger.GATED if inputs.pod.is_gated_by(PLACEMENT_GATE) else Trigger.UNSCHEDULABLE
    try:
        switch, _ = evaluate_switches(
            inputs.global_switch, inputs.pod.metadata.annotations, inputs.options.switch_precedence
        )
    except Exception:  # the verdict is only informative here
        switch = SwitchVerdict(False, SwitchReason.GLOBAL_SWITCH_UNSET, "not evaluated", None, None)
    if trigger is Trigger.GATED:
        outcome, message = Outcome.LOCAL, f"kept local: {what}"
    else:
        outcome, message = Outcome.STAY_PENDING, f"unschedulable locally and not burst: {what}"
    reason = DecisionReason.INTERNAL_ERROR
    return Decision(
        outcome=outcome,
        node=None,
        reason=reason,
        event=PlacementEvent("Warning", reason, one_line(message)),
        trigger=trigger,
        rules=(),
        switch=switch,
        local_replicas=None,
        local_count=inputs.local_count,
    )


def _bounded(result: RuleResult) -> RuleResult:
    """A rule's message and warnings cut to one event line: a rule may quote a pod's value, and a
    1 MiB value must not grow the decision record past what the bus carries."""
    if len(result.message) <= EVENT_MESSAGE_LIMIT and all(len(w) <= EVENT_MESSAGE_LIMIT for w in result.warnings):
        return result
    return replace(result, message=one_line(result.message), warnings=tuple(one_line(w) for w in result.warnings))


def _decide(inputs: PlacementInput) -> Decision:
    pod, options = inputs.pod, inputs.options
    trigger = Trigger(inputs.trigger)
    annotations = pod.metadata.annotations
    switch, switch_warnings = evaluate_switches(inputs.global_switch, annotations, options.switch_precedence)
    quota = parse_local_replicas(pod.metadata.annotations.get(ANNOTATION_LOCAL_REPLICAS))
    ctx = RuleContext(options, [s.node for s in inputs.super_nodes], inputs.pvc_lookup, inputs.pv_lookup,
                      now=inputs.now, cloud_backoff=inputs.cloud_backoff)
    rules = tuple(_bounded(r) for r in evaluate_rules(pod, ctx))
    warnings = (*switch_warnings, *((quota.warning,) if quota.warning else ()), *(w for r in rules for w in r.warnings))
    common = _Common(inputs, trigger, rules, switch, quota.value, warnings)
    failed = first_failure(rules)
    failures = [r for r in rules if not r.allowed]
    if trigger is Trigger.GATED:
        return _decide_gated(common, inputs, failed, failures)
    return _decide_unschedulable(common, inputs, failed, failures)


def _decide_gated(
    common: _Common, inputs: PlacementInput, failed: RuleResult | None, failures: list[RuleResult]
) -> Decision:
    switch, n, local = common.switch, common.local_replicas, inputs.local_count
    kept = EventReason.KEPT_LOCAL
    if not switch.allowed:
        message = f"kept local: {switch.reason}: {switch.message}"
        return common.decision(Outcome.LOCAL, switch.reason, ("Normal", kept, message))
    if n is None:
        return common.decision(
            Outcome.LOCAL,
            DecisionReason.LOCAL_REPLICAS_UNSET,
            ("Normal", kept, f"kept local: {ANNOTATION_LOCAL_REPLICAS} is unset or malformed"),
        )
    if local < n:
        message = f"replica {local + 1} of {n} local ({ANNOTATION_LOCAL_REPLICAS}={n}, {local} already local)"
        return common.decision(Outcome.LOCAL, DecisionReason.LOCAL_REPLICAS_BELOW_QUOTA, ("Normal", kept, message))
    if failed is not None:
        message = f"kept local, cannot burst: {_failures_text(failures)}"
        return common.decision(Outcome.LOCAL, failed.reason, ("Warning", failed.reason, message))
    choice = choose_super_node(inputs.pod, inputs.super_nodes, inputs.cooldowns, inputs.now)
    if choice.node is None:
        message = f"kept local, cannot burst: {choice.message}"
        return common.decision(Outcome.LOCAL, choice.reason, ("Warning", choice.reason, message), choice)
    return common.decision(
        Outcome.CLOUD,
        DecisionReason.LOCAL_QUOTA_REACHED,
        (
            "Normal",
            EventReason.BURST_TO_CLOUD,
            f"{ANNOTATION_LOCAL_REPLICAS}={n} reached ({local} local); bursting to super node {choice.node}",
        ),
        choice,
    )


def _decide_unschedulable(
    common: _Common, inputs: PlacementInput, failed: RuleResult | None, failures: list[RuleResult]
) -> Decision:
    switch = common.switch
    pending = Outcome.STAY_PENDING
    if not switch.allowed:
        return common.decision(
            pending, switch.reason, ("Warning", switch.reason, f"unschedulable locally; {switch.message}")
        )
    if failed is not None:
        return common.decision(
            pending,
            failed.reason,
            ("Warning", failed.reason, f"unschedulable locally and cannot burst: {_failures_text(failures)}"),
        )
    choice = choose_super_node(inputs.pod, inputs.super_nodes, inputs.cooldowns, inputs.now)
    if choice.node is None:
        return common.decision(
            pending, choice.reason, ("Warning", choice.reason, f"unschedulable locally; {choice.message}"), choice
        )
    return common.decision(
        Outcome.CLOUD,
        DecisionReason.UNSCHEDULABLE_LOCALLY,
        ("Normal", EventReason.BURST_TO_CLOUD, f"unschedulable locally; bursting to super node {choice.node}"),
        choice,
    )
