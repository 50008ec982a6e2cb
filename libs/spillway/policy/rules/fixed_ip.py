"""Fixed-IP pods (annotation tke.cloud.tencent.com/vpc-ip-claim-delete-policy) stay local: the
IP claim belongs to the local VPC-CNI and cannot follow the pod into a cloud instance."""

from __future__ import annotations

from spillway.model.kube import ANNOTATION_FIXED_IP, Pod
from spillway.policy.rules.base import Rule, RuleContext
from spillway.policy.status import Code, RuleResult, allowed

NAME = "fixed-ip"
REASON = "FixedIPForbidden"


def message() -> str:
    return f"pod has annotation {ANNOTATION_FIXED_IP} (fixed IP); fixed-IP pods never run on super nodes"


def check(pod: Pod, ctx: RuleContext) -> RuleResult:
    if ANNOTATION_FIXED_IP in pod.metadata.annotations:
        return RuleResult(NAME, Code.NEVER_POSSIBLE, REASON, message())
    return allowed(NAME)


RULE = Rule(NAME, REASON, check)
