"""Claims that cannot be resolved yet keep a pod off the super nodes for now.

A PersistentVolumeClaim that does not exist, is not bound yet, or whose PersistentVolume cannot
be found says nothing yet about whether a cloud instance could mount it, so the pod is refused
for now (it may change without touching the pod) under its own reason code. Which volumes a
cloud instance can run is not judged here but by the translation itself (the `cloud-instance`
rule): nfs and Tencent CBS are mounted; configMap, secret, emptyDir, hostPath, downwardAPI and
projected are dropped with a warning; everything else is refused as `UnsupportedVolume`.
"""

from __future__ import annotations

from spillway.model.kube import Pod, Volume
from spillway.policy.rules.base import Rule, RuleContext
from spillway.policy.status import Code, RuleResult, allowed

NAME = "volumes"
REASON_PVC_NOT_FOUND = "PVCNotFound"
REASON_PVC_NOT_BOUND = "PVCNotBound"
REASON_PV_NOT_FOUND = "PVNotFound"
REASON = REASON_PVC_NOT_FOUND


def message(problems: list[str]) -> str:
    return "volume claims not resolved yet: " + "; ".join(problems)


def _claim_problem(pod: Pod, volume: Volume, ctx: RuleContext) -> tuple[str, str] | None:
    source = volume.persistent_volume_claim
    if source is None:
        return None
    claim = source.claim_name
    pvc = ctx.pvc_lookup(pod.metadata.namespace, claim)
    if pvc is None:
        return REASON_PVC_NOT_FOUND, f"volume {volume.name!r}: PVC {claim!r} not found"
    if not pvc.spec.volume_name:
        return REASON_PVC_NOT_BOUND, f"volume {volume.name!r}: PVC {claim!r} is not bound to a PV yet"
    if ctx.pv_lookup(pvc.spec.volume_name) is None:
        return REASON_PV_NOT_FOUND, f"volume {volume.name!r}: PV {pvc.spec.volume_name!r} not found"
    return None


def check(pod: Pod, ctx: RuleContext) -> RuleResult:
    problems = [p for p in (_claim_problem(pod, v, ctx) for v in pod.spec.volumes) if p is not None]
    if not problems:
        return allowed(NAME)
    return RuleResult(NAME, Code.REFUSED, problems[0][0], message([text for _, text in problems]))


RULE = Rule(NAME, REASON, check, (REASON_PVC_NOT_BOUND, REASON_PV_NOT_FOUND))
