"""Volumes: nfs and CBS map; configMap/secret/emptyDir/hostPath/projected drop; the rest is refused."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.model.kube import PersistentVolume, from_builtins
from spillway.translate import MissingReference, UnsupportedVolume, translate_pod
from tests.translate.builders import container, ctx, pod

PVS = {
    "data-intree": from_builtins({"spec": {"qcloudCbs": {"cbsDiskId": "disk-111", "fsType": "ext4"}}},
                                 PersistentVolume),
    "data-csi": from_builtins({"spec": {"csi": {"driver": "com.tencent.cloud.csi.cbs", "volumeHandle": "disk-222"}}},
                              PersistentVolume),
    "shared": from_builtins({"spec": {"nfs": {"server": "10.0.1.5", "path": "/exports/s"}}}, PersistentVolume),
    "local": from_builtins({"spec": {"hostPath": {"path": "/mnt/x"}}}, PersistentVolume),
    "ceph": from_builtins({"spec": {"cephfs": {"monitors": ["10.0.0.9"]}}}, PersistentVolume),
    "other-csi": from_builtins({"spec": {"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"}}},
                               PersistentVolume),
}
TOKEN = {"projected": {"sources": [{"serviceAccountToken": {"path": "token"}},
                                   {"configMap": {"name": "kube-root-ca.crt"}}]}}


def translate_volume(volume: dict[str, Any], mount: dict[str, Any] | None = None) -> tuple[Any, Any, list[str]]:
    mounts = [{"name": "v", "mountPath": "/data", **(mount or {})}]
    result = translate_pod(pod(container(volumeMounts=mounts), volumes=[{"name": "v", **volume}]),
                           ctx(persistent_volumes=PVS))
    body = result.request["Containers"][0]
    return result.request.get("EksCiVolume"), body.get("VolumeMounts"), list(result.warnings)


@pytest.mark.parametrize(
    ("volume", "mount", "eks_volume", "mounts"),
    [
        pytest.param({"nfs": {"server": "nfs.idc", "path": "/srv"}}, {},
                     {"NfsVolumes": [{"Name": "v", "Server": "nfs.idc", "Path": "/srv", "ReadOnly": False}]},
                     [{"Name": "v", "MountPath": "/data"}], id="nfs"),
        pytest.param({"nfs": {"server": "nfs.idc", "path": "/srv", "readOnly": True}},
                     {"readOnly": True, "subPath": "a"},
                     {"NfsVolumes": [{"Name": "v", "Server": "nfs.idc", "Path": "/srv", "ReadOnly": True}]},
                     [{"Name": "v", "MountPath": "/data", "ReadOnly": True, "SubPath": "a"}], id="nfs read-only"),
        pytest.param({"persistentVolumeClaim": {"claimName": "data-intree"}}, {},
                     {"CbsVolumes": [{"Name": "v", "CbsDiskId": "disk-111"}]},
                     [{"Name": "v", "MountPath": "/data"}], id="PVC on in-tree qcloudCbs"),
        pytest.param({"persistentVolumeClaim": {"claimName": "data-csi", "readOnly": True}},
                     {"subPathExpr": "$(POD)"},
                     {"CbsVolumes": [{"Name": "v", "CbsDiskId": "disk-222"}]},
                     [{"Name": "v", "MountPath": "/data", "ReadOnly": True, "SubPathExpr": "$(POD)"}],
                     id="PVC on CBS CSI, claim read-only"),
        pytest.param({"persistentVolumeClaim": {"claimName": "shared"}}, {},
                     {"NfsVolumes": [{"Name": "v", "Server": "10.0.1.5", "Path": "/exports/s", "ReadOnly": False}]},
                     [{"Name": "v", "MountPath": "/data"}], id="PVC on nfs"),
    ],
)
def test_volumes_that_map(volume: dict[str, Any], mount: dict[str, Any], eks_volume: Any, mounts: Any) -> None:
    assert translate_volume(volume, mount) == (eks_volume, mounts, [])


@pytest.mark.parametrize(
    ("volume", "warning"),
    [
        pytest.param({"emptyDir": {}}, "volume v: emptyDir volumes are not expressible", id="emptyDir"),
        pytest.param({"configMap": {"name": "c"}}, "volume v: configMap volumes are not expressible", id="configMap"),
        pytest.param({"secret": {"secretName": "s"}}, "volume v: secret volumes are not expressible", id="secret"),
        pytest.param({"hostPath": {"path": "/x"}}, "volume v: hostPath volumes are not expressible", id="hostPath"),
        pytest.param({"downwardAPI": {"items": []}}, "volume v: downwardAPI volumes are not", id="downwardAPI"),
        pytest.param(TOKEN, "volume v: projected (service-account token) volumes are not", id="sa token"),
        pytest.param({"persistentVolumeClaim": {"claimName": "local"}}, "volume v: claim 'local' is a hostPath",
                     id="PVC on hostPath"),
    ],
)
def test_volumes_dropped_with_warning(volume: dict[str, Any], warning: str) -> None:
    eks_volume, mounts, warnings = translate_volume(volume)
    assert (eks_volume, mounts) == (None, None)
    assert len(warnings) == 1
    assert warnings[0].startswith(warning)


@pytest.mark.parametrize(
    ("volume", "error", "message"),
    [
        pytest.param({"cephfs": {"monitors": ["m"]}}, UnsupportedVolume, "volume v: cephfs volumes are not supported",
                     id="cephfs"),
        pytest.param({"iscsi": {}}, UnsupportedVolume, "volume v: iscsi", id="iscsi"),
        pytest.param({"csi": {"driver": "x"}}, UnsupportedVolume, "volume v: csi", id="inline csi"),
        pytest.param({"persistentVolumeClaim": {"claimName": "ceph"}}, UnsupportedVolume, "neither nfs nor CBS",
                     id="PVC on cephfs"),
        pytest.param({"persistentVolumeClaim": {"claimName": "other-csi"}}, UnsupportedVolume, "neither nfs nor CBS",
                     id="PVC on another CSI driver"),
        pytest.param({"persistentVolumeClaim": {"claimName": "unbound"}}, MissingReference,
                     "claim 'unbound' has no resolved PersistentVolume", id="unresolved claim"),
        pytest.param({}, UnsupportedVolume, "unknown volume source", id="no source"),
    ],
)
def test_volumes_refused(volume: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        translate_volume(volume)


def test_volumes_sorted_by_name() -> None:
    volumes = [{"name": n, "nfs": {"server": "s", "path": "/" + n}} for n in ("b", "a", "c")]
    result = translate_pod(pod(volumes=volumes), ctx())
    assert [v["Name"] for v in result.request["EksCiVolume"]["NfsVolumes"]] == ["a", "b", "c"]
