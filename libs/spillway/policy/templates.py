"""Pictures of the super nodes Spillway registers (docs/design.md §2), for judging affinity before any exists.

Why: the affinity rule asks "could this pod ever match a super node?". Before node-status has
registered one (or while all are deleted), the answer comes from what node-status will create:
one node per configured subnet, with the same name, labels and taint.
"""

from __future__ import annotations

from collections.abc import Sequence

from spillway.model.kube import (
    ANNOTATION_SUBNET_ID,
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


def super_node_name(subnet_id: str) -> str:
    """`eklet-<subnetId>`, as the original names its super nodes."""
    return f"{SUPER_NODE_NAME_PREFIX}{subnet_id}"


def template_super_node(subnet_id: str = "", zone: str = "") -> Node:
    """The node node-status registers for a subnet (no zone labels when the zone is unknown)."""
    labels = {LABEL_INSTANCE_TYPE: SUPER_NODE_INSTANCE_TYPE}
    if zone:
        labels[LABEL_ZONE_NAME] = zone
        labels[LABEL_TOPOLOGY_ZONE] = zone
    annotations = {ANNOTATION_SUBNET_ID: subnet_id} if subnet_id else {}
    name = super_node_name(subnet_id) if subnet_id else ""
    return Node(
        metadata=ObjectMeta(name=name, labels=labels, annotations=annotations),
        spec=NodeSpec(taints=[Taint(key=SUPER_NODE_TAINT_KEY, effect="NoSchedule")]),
    )


def template_super_nodes(subnets: Sequence[tuple[str, str]]) -> list[Node]:
    """One template per configured (subnet id, zone); a single label-only template when none."""
    if not subnets:
        return [template_super_node()]
    return [template_super_node(subnet_id, zone) for subnet_id, zone in subnets]
