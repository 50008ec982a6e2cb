"""Persistent volumes other than nfs, cephfs, hostPath and Tencent CBS are refused: a super node
can mount only those. PVCs are resolved to their PV through the caller's lookups; a claim that
does not exist or is not bound yet, or a PV that cannot be found, is refused for now (it may
change) under its own reason code. Non-persistent sources (emptyDir, secret, configMap,
projected, downwardAPI) are fine; a source this view does not model is treated as unsupported,
since we cannot show a super node could mount it."""

from __future__ import annotations

from dataclasses import dataclass

from spillway.model.kube import PersistentVolume, Pod, Volume
from spillway.policy.rules.base import Rule, RuleContext
from spillway.policy.status import Code, RuleResult, allowed

NAME = "volumes"
REASON = "UnsupportedVolume"
REASON_PVC_NOT_FOUND = "PVCNotFound"
REASON_PVC_NOT_BOUND = "PVCNotBound"
REASON_PV_NOT_FOUND = "PVNotFound"

_UNSUPPORTED_INLINE = (
    ("iscsi", "iscsi"),
    ("rbd", "rbd"),
    ("aws_elastic_block_store", "awsElasticBlockStore"),
    ("flex_volume", "flexVolume"),
)
_HARMLESS_INLINE = ("nfs", "host_path", "cephfs", "empty_dir", "secret", "config_map", "projected", "downward_api")


@dataclass(frozen=True, slots=True)
class _Problem:
    reason: str
    text: str


def message(problems: list[str]) -> str:
    return "volumes super nodes cannot mount: " + "; ".join(problems)


def _csi_driver(source: dict[str, object] | None) -> str:
    driver = (source or {}).get("driver")
    return driver if isinstance(driver, str) else ""


def _pv_problem(volume: Volume, claim: str, pv: PersistentVolume, ctx: RuleContext) -> _Problem | None:
    spec = pv.spec
    where = f"volume {volume.name!r}: PVC {claim!r} -> PV {pv.metadata.name!r}"
    if spec.nfs is not None or spec.cephfs is not None or spec.host_path is not None or spec.qcloud_cbs is not None:
        return None
    if spec.csi is not None:
        driver = _csi_driver(spec.csi)
        if driver in ctx.options.supported_csi_drivers:
            return None
        return _Problem(REASON, f"{where}: CSI driver {driver!r}")
    return _Problem(REASON, f"{where}: unsupported source")


def _volume_problem(pod: Pod, volume: Volume, ctx: RuleContext) -> _Problem | None:
    claim_source = volume.persistent_volume_claim
    if claim_source is not None:
        claim = claim_source.claim_name
        pvc = ctx.pvc_lookup(pod.metadata.namespace, claim)
        if pvc is None:
            return _Problem(REASON_PVC_NOT_FOUND, f"volume {volume.name!r}: PVC {claim!r} not found")
        if not pvc.spec.volume_name:
            return _Problem(REASON_PVC_NOT_BOUND, f"volume {volume.name!r}: PVC {claim!r} is not bound to a PV yet")
        pv = ctx.pv_lookup(pvc.spec.volume_name)
        if pv is None:
            return _Problem(REASON_PV_NOT_FOUND, f"volume {volume.name!r}: PV {pvc.spec.volume_name!r} not found")
        return _pv_problem(volume, claim, pv, ctx)
    if volume.csi is not None:
        driver = _csi_driver(volume.csi)
        if driver in ctx.options.supported_csi_drivers:
            return None
        return _Problem(REASON, f"volume {volume.name!r}: inline CSI driver {driver!r}")
    for attr, api_name in _UNSUPPORTED_INLINE:
        if getattr(volume, attr) is not None:
            return _Problem(REASON, f"volume {volume.name!r}: {api_name}")
    if any(getattr(volume, attr) is not None for attr in _HARMLESS_INLINE):
        return None
    return _Problem(REASON, f"volume {volume.name!r}: unsupported volume source")


def check(pod: Pod, ctx: RuleContext) -> RuleResult:
    problems = [p for p in (_volume_problem(pod, v, ctx) for v in pod.spec.volumes) if p is not None]
    if not problems:
        return allowed(NAME)
    unsupported = [p for p in problems if p.reason == REASON]
    text = message([p.text for p in problems])
    if unsupported:
        return RuleResult(NAME, Code.NEVER_POSSIBLE, REASON, text)
    return RuleResult(NAME, Code.REFUSED, problems[0].reason, text)


RULE = Rule(NAME, REASON, check, (REASON_PVC_NOT_FOUND, REASON_PVC_NOT_BOUND, REASON_PV_NOT_FOUND))
