"""A super node's name, labels, annotations and taint, built in one place."""

from __future__ import annotations

from spillway.model.supernode import managed_super_node_names, super_node, super_node_name


def test_super_node_for_a_subnet() -> None:
    node = super_node("subnet-a", "ap-guangzhou-3")
    assert node.metadata.name == "eklet-subnet-a" == super_node_name("subnet-a")
    assert node.is_super_node()
    assert node.metadata.labels == {
        "node.kubernetes.io/instance-type": "eklet", "eks.tke.cloud.tencent.com/version": "v2",
        "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "virtual-kubelet",
        "kubernetes.io/hostname": "eklet-subnet-a", "eks.tke.cloud.tencent.com/zone-name": "ap-guangzhou-3",
        "topology.kubernetes.io/zone": "ap-guangzhou-3",
    }
    assert node.metadata.annotations == {"eks.tke.cloud.tencent.com/subnet-id": "subnet-a"}
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [
        ("eks.tke.cloud.tencent.com/eklet", None, "NoSchedule")]


def test_nameless_picture_has_only_what_every_super_node_has() -> None:
    node = super_node()
    assert node.metadata.name == ""
    assert node.metadata.annotations == {}
    assert "kubernetes.io/hostname" not in node.metadata.labels
    assert "topology.kubernetes.io/zone" not in node.metadata.labels
    assert node.metadata.labels["kubernetes.io/os"] == "linux"


def test_managed_names_one_per_subnet() -> None:
    assert managed_super_node_names(["subnet-a", "subnet-b", "subnet-a"]) == frozenset(
        {"eklet-subnet-a", "eklet-subnet-b"})
    assert managed_super_node_names([]) == frozenset()
