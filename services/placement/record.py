"""The decision record: what `spillway explain`, the KV bucket, the bus and the span all show.

Why one function: the four views of a decision must agree field for field, so they are built
from one `PlacementDecision` (the bus message type, also the KV value).
"""

from __future__ import annotations

from collections.abc import Mapping

from spillway.model import messages as m
from spillway.model.kube import ANNOTATION_AUTO_SCALE, Pod
from spillway.policy import Decision, Outcome, WorkloadKey
from spillway.policy.returns import RETURN_PATH, ReturnVerdict
from spillway.policy.returns import RULE_NAMES as RETURN_RULE_NAMES

OUTCOMES: Mapping[Outcome, m.PlacementOutcome] = {
    Outcome.CLOUD: "cloud", Outcome.LOCAL: "local", Outcome.STAY_PENDING: "refused",
}


def decision_record(
    pod: Pod, workload: WorkloadKey, decision: Decision, *, global_switch: str | None, trace_id: str, now: float,
) -> m.PlacementDecision:
    meta = pod.metadata
    return m.PlacementDecision(
        namespace=meta.namespace,
        name=meta.name,
        uid=meta.uid,
        workload=str(workload),
        outcome=OUTCOMES[decision.outcome],
        node=decision.node or "",
        reason=decision.reason,
        message=decision.event.message,
        rules=[m.RuleResult(rule=r.name, code=str(r.code), reason=r.reason, message=r.message)
               for r in decision.rules],
        trace_id=trace_id,
        decided_at=now,
        trigger=str(decision.trigger),
        global_switch=global_switch,
        workload_switch=meta.annotations.get(ANNOTATION_AUTO_SCALE),
        switch_allowed=decision.switch.allowed,
        switch_reason=str(decision.switch.reason),
        local_replicas=decision.local_replicas,
        local_count=decision.local_count,
        warnings=list(decision.warnings),
    )


def return_record(pod: Pod, workload: WorkloadKey, verdict: ReturnVerdict, *, global_switch: str | None,
                  local_replicas: int | None, local_count: int, trace_id: str, now: float) -> m.PlacementDecision:
    """The record of a return: outcome local, reason ReturnedToLocal, path `return`, every return
    rule passed; the switch fields are AUTO_SCALE_EKS's (the way back to the cloud was open)."""
    meta = pod.metadata
    return m.PlacementDecision(
        namespace=meta.namespace,
        name=meta.name,
        uid=meta.uid,
        workload=str(workload),
        outcome="local",
        reason=verdict.reason,
        message=verdict.message,
        rules=[m.RuleResult(rule=name, code="Allowed") for name in RETURN_RULE_NAMES],
        trace_id=trace_id,
        decided_at=now,
        trigger=RETURN_PATH,
        global_switch=global_switch,
        workload_switch=meta.annotations.get(ANNOTATION_AUTO_SCALE),
        switch_allowed=True,
        local_replicas=local_replicas,
        local_count=local_count,
        warnings=list(verdict.warnings),
    )


def span_attributes(record: m.PlacementDecision) -> dict[str, str | int | bool]:
    """The decision as span attributes (same names as the record, under `spillway.`)."""
    attributes: dict[str, str | int | bool] = {
        "spillway.pod": f"{record.namespace}/{record.name}",
        "spillway.pod.uid": record.uid,
        "spillway.workload": record.workload,
        "spillway.decision": record.outcome,
        "spillway.reason": record.reason,
        "spillway.node": record.node,
        "spillway.trigger": record.trigger,
        "spillway.switch.allowed": record.switch_allowed,
        "spillway.switch.reason": record.switch_reason,
        "spillway.switch.global": "unset" if record.global_switch is None else record.global_switch,
        "spillway.switch.workload": "unset" if record.workload_switch is None else record.workload_switch,
        "spillway.local_replicas": -1 if record.local_replicas is None else record.local_replicas,
        "spillway.local_count": record.local_count,
    }
    failed = [f"{r.rule}={r.reason}" for r in record.rules if r.code != "Allowed"]
    if failed:
        attributes["spillway.rules.failed"] = ",".join(failed)
    return attributes
