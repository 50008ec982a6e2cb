"""Pictures of the super nodes Spillway registers, for judging affinity before any exists.

Why: the affinity rule asks "could this pod ever match a super node?". Before node-status has
registered one (or while all are deleted), the answer comes from what node-status will create:
one node per configured subnet, built by the same `spillway.model.supernode` node-status uses,
so the picture carries the same name, labels and taint as the real node.
"""

from __future__ import annotations

from collections.abc import Sequence

from spillway.model.kube import Node
from spillway.model.supernode import super_node


def template_super_nodes(subnets: Sequence[tuple[str, str]]) -> list[Node]:
    """One picture per configured (subnet id, zone); a single nameless one when none."""
    if not subnets:
        return [super_node()]
    return [super_node(subnet_id, zone) for subnet_id, zone in subnets]
