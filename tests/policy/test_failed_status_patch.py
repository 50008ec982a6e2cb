"""The one status patch that fails a pod no super node will run (provisioner and node-status)."""

from __future__ import annotations

from spillway.model.kube import Pod, from_builtins
from spillway.policy.patches import failed_status_patch


def test_failed_status_patch_is_what_kubelet_writes_for_a_failed_pod() -> None:
    patch = failed_status_patch("InstanceLost", "the cloud container instance is gone")
    status = from_builtins(patch, Pod).status
    assert (status.phase, status.reason, status.message) == ("Failed", "InstanceLost",
                                                              "the cloud container instance is gone")
    assert [(c.type, c.status, c.reason) for c in status.conditions] == [
        ("Ready", "False", "PodFailed"), ("ContainersReady", "False", "PodFailed")]
    assert from_builtins(patch, Pod).is_finished()


def test_only_the_status_is_patched() -> None:
    assert set(failed_status_patch("DaemonsetForbidden", "no")) == {"status"}
