"""KubeClient's status helpers and accessors against the sandbox: a pod status patch names the
pod incarnation it is for (its uid), and one for a pod deleted and re-created under the same name
is NotFound and never lands on the new pod."""

from __future__ import annotations

from pathlib import Path

import pytest

from spillway.kube import KubeClient, NotFound, node_path, pod_path
from spillway.kube.client import collection_path
from spillway.model.kube import Node, Pod
from tests.fixtures.sandbox import SandboxFactory

FAILED = {"status": {"phase": "Failed", "reason": "InstanceLost", "message": "gone"}}


async def create_pod(kube: KubeClient, name: str) -> Pod:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    await kube.request("POST", collection_path("v1", "pods", "default"), body=body)
    return await kube.get_as(pod_path("default", name), Pod)


async def test_the_pods_own_uid_patches_its_status(kube: KubeClient) -> None:
    pod = await create_pod(kube, "a")
    await kube.patch_pod_status("default", "a", FAILED, uid=pod.metadata.uid)
    after = await kube.get_as(pod_path("default", "a"), Pod)
    assert (after.status.phase, after.status.reason, after.status.message) == ("Failed", "InstanceLost", "gone")


async def test_a_recreated_pod_is_never_patched_with_the_old_ones_status(kube: KubeClient) -> None:
    old = await create_pod(kube, "a")
    await kube.delete(pod_path("default", "a"), grace_seconds=0)
    new = await create_pod(kube, "a")
    with pytest.raises(NotFound) as gone:
        await kube.patch_pod_status("default", "a", FAILED, uid=old.metadata.uid)
    assert old.metadata.uid in gone.value.message
    after = await kube.get_as(pod_path("default", "a"), Pod)
    assert after.metadata.uid == new.metadata.uid and after.status.phase == "Pending"


async def test_a_deleted_pod_is_not_found_with_or_without_a_uid(kube: KubeClient) -> None:
    pod = await create_pod(kube, "a")
    await kube.delete(pod_path("default", "a"), grace_seconds=0)
    with pytest.raises(NotFound):
        await kube.patch_pod_status("default", "a", FAILED, uid=pod.metadata.uid)
    with pytest.raises(NotFound):
        await kube.patch_pod_status("default", "a", FAILED)


async def test_node_status_patch(kube: KubeClient) -> None:
    await kube.request("POST", collection_path("v1", "nodes"),
                       body={"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    ready = {"type": "Ready", "status": "True", "reason": "KubeletReady"}
    await kube.patch_node_status("n1", {"status": {"conditions": [ready]}})
    node = await kube.get_as(node_path("n1"), Node)
    assert [(c.type, c.status) for c in node.status.conditions] == [("Ready", "True")]
    with pytest.raises(NotFound):
        await kube.patch_node_status("missing", {"status": {"conditions": [ready]}})


def same_bytes(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


async def test_ca_file_is_the_kubeconfigs_ca(make_sandbox: SandboxFactory) -> None:
    plain = await make_sandbox(tls=False)
    async with await KubeClient.connect(str(plain.kubeconfig_path)) as client:
        assert client.ca_file is None
    tls = await make_sandbox(tls=True)
    async with await KubeClient.connect(str(tls.kubeconfig_path)) as client:
        assert client.ca_file is not None
        assert same_bytes(Path(client.ca_file), tls.pki.ca_path)
