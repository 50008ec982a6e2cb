"""A super node's name, labels, annotations and taint: what node-status registers for a subnet.

Why one home: node-status writes these on the real Node, and the affinity rule judges pods
against a picture of that Node before any is registered; built apart, the two drift, and a pod
selecting a label only one of them carries is refused before registration and allowed after.
"""

from __future__ import annotations

from collections.abc import Iterable

from spillway.model.kube import (
    ANNOTATION_SUBNET_ID,
    LABEL_EKS_VERSION,
    LABEL_INSTANCE_TYPE,
    LABEL_TOPOLOGY_ZONE,
    LABEL_ZONE_NAME,
    SUPER_NODE_INSTANCE_TYPE,
    SUPER_NODE_TAINT_KEY,
    Node,
    NodeSpec,
    ObjectMeta,
    Taint,
)

SUPER_NODE_NAME_PREFIX = "eklet-"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_OS = "kubernetes.io/os"
LABEL_ARCH = "kubernetes.io/arch"
LABEL_TYPE = "type"
SUPER_NODE_OS = "linux"
SUPER_NODE_ARCH = "amd64"
SUPER_NODE_TYPE = "virtual-kubelet"
SUPER_NODE_EKS_VERSION = "v2"


def super_node_name(subnet_id: str) -> str:
    """`eklet-<subnetId>`, as the original names its super nodes."""
    return f"{SUPER_NODE_NAME_PREFIX}{subnet_id}"


def managed_super_node_names(subnet_ids: Iterable[str]) -> frozenset[str]:
    """The names of the super nodes Spillway runs: one per configured subnet."""
    return frozenset(super_node_name(subnet_id) for subnet_id in subnet_ids)


def super_node_labels(name: str, zone: str) -> dict[str, str]:
    """The labels a super node carries; the hostname and zone labels only when known (a picture
    of a super node for no configured subnet has neither)."""
    labels = {
        LABEL_INSTANCE_TYPE: SUPER_NODE_INSTANCE_TYPE, LABEL_EKS_VERSION: SUPER_NODE_EKS_VERSION,
        LABEL_OS: SUPER_NODE_OS, LABEL_ARCH: SUPER_NODE_ARCH, LABEL_TYPE: SUPER_NODE_TYPE,
    }
    if name:
        labels[LABEL_HOSTNAME] = name
    if zone:
        labels[LABEL_ZONE_NAME] = zone
        labels[LABEL_TOPOLOGY_ZONE] = zone
    return labels


def super_node_annotations(subnet_id: str) -> dict[str, str]:
    return {ANNOTATION_SUBNET_ID: subnet_id} if subnet_id else {}


def super_node_taint() -> Taint:
    """Keeps every pod off a super node unless placement (or the user) tolerates it."""
    return Taint(key=SUPER_NODE_TAINT_KEY, effect="NoSchedule")


def super_node(subnet_id: str = "", zone: str = "") -> Node:
    """The Node registered for a subnet, without status: name, labels, annotations and taint.
    With no subnet, a nameless picture carrying only the labels every super node has."""
    name = super_node_name(subnet_id) if subnet_id else ""
    return Node(
        metadata=ObjectMeta(name=name, labels=super_node_labels(name, zone),
                            annotations=super_node_annotations(subnet_id)),
        spec=NodeSpec(taints=[super_node_taint()]),
    )
