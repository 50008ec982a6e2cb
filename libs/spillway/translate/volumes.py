"""Pod volumes → the API's EksCiVolume, and which mounts survive.

The public API has exactly two volume kinds: NfsVolumes and CbsVolumes (checked against the
SDK's `EksCiVolume` model; nothing else exists). So:
- nfs, and a PVC bound to an nfs PV → NfsVolume;
- a PVC bound to a CBS disk (in-tree `qcloudCbs`, or CSI driver `com.tencent.cloud.csi.cbs`) → CbsVolume;
- configMap, secret, emptyDir, hostPath, downwardAPI and projected (which includes the
  service-account token volume every pod gets) cannot be expressed: dropped with their mounts,
  one warning each — the container sees its image's directory instead;
- any other persistent data (cephfs, iscsi, rbd, csi, a PVC of another kind) is refused with
  `UnsupportedVolume`: silently losing persistent data is worse than not starting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spillway.model.kube import PersistentVolume, Pod, Volume
from spillway.translate.errors import InvalidPod, MissingReference, UnsupportedVolume

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


def plan_volumes(pod: Pod, persistent_volumes: Mapping[str, PersistentVolume], warnings: list[str]) -> VolumePlan:
    plan = VolumePlan()
    seen: set[str] = set()
    for volume in pod.spec.volumes:
        if not volume.name or volume.name in seen:
            raise InvalidPod(f"volume name {volume.name!r} is empty or repeated")
        seen.add(volume.name)
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
        elif kind in _REFUSED_KINDS:
            raise UnsupportedVolume(f"volume {volume.name}: {kind_label(kind)} volumes are not supported by the API")
        else:
            raise UnsupportedVolume(f"volume {volume.name}: unknown volume source")
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
    if not server or not path:
        raise InvalidPod(f"volume {name}: nfs needs a server and a path")
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
    else:
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
