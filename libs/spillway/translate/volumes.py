"""Pod volumes → the API's EksCiVolume, and which mounts survive.

The public API has exactly two volume kinds: NfsVolumes and CbsVolumes (checked against the
SDK's `EksCiVolume` model; nothing else exists). So:
- nfs, and a PVC bound to an nfs PV → NfsVolume;
- a PVC bound to a CBS disk (in-tree `qcloudCbs`, or CSI driver `com.tencent.cloud.csi.cbs`) → CbsVolume;
- configMap, secret, emptyDir, hostPath, downwardAPI and projected (which includes the
  service-account token volume every pod gets) cannot be expressed: dropped with their mounts,
  one warning each — the container sees its image's directory instead;
- a PVC bound to a hostPath PV is dropped the same way;
- any other persistent data (cephfs, iscsi, rbd, csi, a PVC of another kind) is refused with
  `UnsupportedVolume`: silently losing persistent data is worse than not starting.
`volume_refusals` is that judgement on its own: the placement policy asks it before binding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spillway.model.kube import PersistentVolume, Pod, Volume
from spillway.translate.errors import MissingReference, UnsupportedVolume
from spillway.translate.refusal import REASON_INVALID_POD_SPEC, REASON_UNSUPPORTED_VOLUME, CloudRefusal

CBS_CSI_DRIVER = "com.tencent.cloud.csi.cbs"
_DROPPED_KINDS = ("config_map", "secret", "empty_dir", "host_path", "downward_api", "projected")
_REFUSED_KINDS = ("cephfs", "csi", "iscsi", "rbd", "aws_elastic_block_store", "flex_volume")


@dataclass(slots=True)
class VolumePlan:
    """The EksCiVolume content, which volume names can be mounted, and read-only overrides."""

    nfs: list[dict[str, Any]] = field(default_factory=list)
    cbs: list[dict[str, Any]] = field(default_factory=list)
    mountable: set[str] = field(default_factory=set)
    read_only: set[str] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)

    def to_api(self) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        if self.cbs:
            out["CbsVolumes"] = sorted(self.cbs, key=lambda v: v["Name"])
        if self.nfs:
            out["NfsVolumes"] = sorted(self.nfs, key=lambda v: v["Name"])
        return out or None


def _kind(volume: Volume) -> str | None:
    for name in ("nfs", "persistent_volume_claim", *_DROPPED_KINDS, *_REFUSED_KINDS):
        if getattr(volume, name) is not None:
            return name
    return None


def volume_refusals(pod: Pod, persistent_volumes: Mapping[str, PersistentVolume]) -> list[CloudRefusal]:
    """Every volume of the pod the API cannot provide. A claim missing from `persistent_volumes`
    is not judged: whether it exists or is bound yet is the caller's to say."""
    out: list[CloudRefusal] = []
    seen: set[str] = set()
    for volume in pod.spec.volumes:
        if not volume.name or volume.name in seen:
            out.append(CloudRefusal(REASON_INVALID_POD_SPEC, f"volume name {volume.name!r} is empty or repeated"))
            continue
        seen.add(volume.name)
        refusal = _volume_refusal(volume, persistent_volumes)
        if refusal is not None:
            out.append(refusal)
    return out


def _volume_refusal(volume: Volume, persistent_volumes: Mapping[str, PersistentVolume]) -> CloudRefusal | None:
    kind = _kind(volume)
    if volume.nfs is not None:
        return _nfs_refusal(volume.name, volume.nfs.server, volume.nfs.path)
    if volume.persistent_volume_claim is not None:
        claim = volume.persistent_volume_claim.claim_name
        pv = persistent_volumes.get(claim)
        return None if pv is None else _claim_refusal(volume.name, claim, pv)
    if kind in _DROPPED_KINDS:
        return None
    if kind in _REFUSED_KINDS:
        return CloudRefusal(
            REASON_UNSUPPORTED_VOLUME, f"volume {volume.name}: {kind_label(kind)} volumes are not supported by the API"
        )
    return CloudRefusal(REASON_UNSUPPORTED_VOLUME, f"volume {volume.name}: unknown volume source")


def _nfs_refusal(name: str, server: str, path: str) -> CloudRefusal | None:
    if server and path:
        return None
    return CloudRefusal(REASON_INVALID_POD_SPEC, f"volume {name}: nfs needs a server and a path")


def _claim_refusal(name: str, claim: str, pv: PersistentVolume) -> CloudRefusal | None:
    spec = pv.spec
    if cbs_disk_id(pv) is not None or spec.host_path is not None:
        return None
    if spec.nfs is not None:
        return _nfs_refusal(name, spec.nfs.server, spec.nfs.path)
    if spec.qcloud_cbs is not None or (spec.csi is not None and spec.csi.get("driver") == CBS_CSI_DRIVER):
        return CloudRefusal(REASON_UNSUPPORTED_VOLUME, f"volume {name}: claim {claim!r} is bound to a CBS volume "
                                                       "without a disk id")
    return CloudRefusal(
        REASON_UNSUPPORTED_VOLUME, f"volume {name}: claim {claim!r} is bound to a volume that is neither nfs nor CBS"
    )


def plan_volumes(pod: Pod, persistent_volumes: Mapping[str, PersistentVolume], warnings: list[str]) -> VolumePlan:
    for refusal in volume_refusals(pod, persistent_volumes):
        raise refusal.error()
    plan = VolumePlan()
    for volume in pod.spec.volumes:
        kind = _kind(volume)
        if volume.nfs is not None:
            _add_nfs(plan, volume.name, volume.nfs.server, volume.nfs.path, bool(volume.nfs.read_only))
        elif volume.persistent_volume_claim is not None:
            claim = volume.persistent_volume_claim
            pv = persistent_volumes.get(claim.claim_name)
            if pv is None:
                raise MissingReference(
                    f"volume {volume.name}: claim {claim.claim_name!r} has no resolved PersistentVolume"
                )
            _add_claim(plan, volume.name, claim.claim_name, pv, bool(claim.read_only), warnings)
        elif kind in _DROPPED_KINDS:
            plan.dropped.add(volume.name)
            what = "projected (service-account token)" if _is_token(volume) else kind_label(kind)
            warnings.append(f"volume {volume.name}: {what} volumes are not expressible by the API; dropped with mounts")
        else:  # volume_refusals refuses every other kind; never carry a volume it did not judge
            raise UnsupportedVolume(f"volume {volume.name}: {kind_label(kind)} volumes are not supported by the API")
    return plan


def kind_label(kind: str | None) -> str:
    """snake_case field name → the camelCase the user wrote."""
    if kind == "downward_api":
        return "downwardAPI"
    head, *rest = (kind or "unknown").split("_")
    return head + "".join(part.capitalize() for part in rest)


def _is_token(volume: Volume) -> bool:
    sources = (volume.projected or {}).get("sources") or []
    return any(isinstance(s, dict) and "serviceAccountToken" in s for s in sources)


def _add_nfs(plan: VolumePlan, name: str, server: str, path: str, read_only: bool) -> None:
    plan.nfs.append({"Name": name, "Server": server, "Path": path, "ReadOnly": read_only})
    plan.mountable.add(name)


def _add_claim(
    plan: VolumePlan, name: str, claim: str, pv: PersistentVolume, read_only: bool, warnings: list[str]
) -> None:
    spec = pv.spec
    disk = cbs_disk_id(pv)
    if disk is not None:
        plan.cbs.append({"Name": name, "CbsDiskId": disk})
        plan.mountable.add(name)
        if read_only:
            plan.read_only.add(name)
    elif spec.nfs is not None:
        _add_nfs(plan, name, spec.nfs.server, spec.nfs.path, read_only or bool(spec.nfs.read_only))
    elif spec.host_path is not None:
        plan.dropped.add(name)
        warnings.append(f"volume {name}: claim {claim!r} is a hostPath volume, not expressible; dropped with mounts")
    else:  # volume_refusals refused it already
        raise UnsupportedVolume(f"volume {name}: claim {claim!r} is bound to a volume that is neither nfs nor CBS")


def cbs_disk_id(pv: PersistentVolume) -> str | None:
    """The CBS disk behind a PV, in-tree (`qcloudCbs.cbsDiskId`) or CSI (`volumeHandle`)."""
    spec = pv.spec
    if spec.qcloud_cbs is not None:
        disk = spec.qcloud_cbs.get("cbsDiskId")
        return disk if isinstance(disk, str) and disk else None
    if spec.csi is not None and spec.csi.get("driver") == CBS_CSI_DRIVER:
        disk = spec.csi.get("volumeHandle")
        return disk if isinstance(disk, str) and disk else None
    return None


DROPPED_VOLUME_SOURCES: tuple[str, ...] = tuple(kind_label(k) for k in _DROPPED_KINDS)
"""Volume sources dropped with a warning (as users write them)."""
REFUSED_VOLUME_SOURCES: tuple[str, ...] = tuple(kind_label(k) for k in _REFUSED_KINDS)
"""Volume sources this view models that the API refuses (any source it does not model is refused too)."""
