"""A pod no cloud instance can run as written is refused: the translation's own answer.

Why not our own list: the translation knows what `CreateEKSContainerInstances` accepts, and a pod
the policy lets through but the translation refuses is bound, failed, replaced by its controller
and bound again, in a loop. So this rule asks `spillway.translate.cloud_refusals` — the very
check the translation makes before it builds a request — with the PersistentVolumes the pod's
claims are bound to (claims not found or not bound yet are the `volumes` rule's to report).
"""

from __future__ import annotations

from spillway.model.kube import Pod
from spillway.policy.rules.base import Rule, RuleContext, bound_volumes
from spillway.policy.status import Code, RuleResult, allowed
from spillway.translate import REASON_INVALID_POD_SPEC, REFUSAL_REASONS, CloudRefusal, cloud_refusals

NAME = "cloud-instance"
REASON = REASON_INVALID_POD_SPEC
MAX_LISTED = 5
"""Refusals named in the message; a hostile pod may have thousands."""


def message(refusals: tuple[CloudRefusal, ...]) -> str:
    listed = "; ".join(r.message for r in refusals[:MAX_LISTED])
    more = f"; and {len(refusals) - MAX_LISTED} more" if len(refusals) > MAX_LISTED else ""
    return f"a cloud instance cannot run the pod as written: {listed}{more}"


def check(pod: Pod, ctx: RuleContext) -> RuleResult:
    refusals = cloud_refusals(pod, bound_volumes(pod, ctx))
    if not refusals:
        return allowed(NAME)
    return RuleResult(NAME, Code.NEVER_POSSIBLE, refusals[0].reason, message(refusals))


RULE = Rule(NAME, REASON, check, tuple(r for r in REFUSAL_REASONS if r != REASON))
