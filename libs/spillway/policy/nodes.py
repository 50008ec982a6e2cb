"""Choosing the super node a pod bursts to: filters like kube-scheduler's, then least loaded.

Why not leave it to kube-scheduler: placement binds the pod itself (the gated path must name the
node in the same patch that lifts the gate), and it knows things the scheduler does not: zones
in a sold-out cool-down and its own in-flight bindings. When nothing qualifies, the answer says
why in kube-scheduler's words ("0/3 super nodes are available: ..."), so users recognise it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from spillway.model.kube import LABEL_TOPOLOGY_ZONE, LABEL_ZONE_NAME, SUPER_NODE_TAINT_KEY, Node, Pod, Toleration
from spillway.model.specs import QuantityError, parse_quantity
from spillway.policy.matching import NO_SCHEDULE, pod_fits_node_selection, untolerated_taints

SUPER_NODE_TOLERATION = Toleration(key=SUPER_NODE_TAINT_KEY, operator="Exists", effect=NO_SCHEDULE)
"""Added to every pod placement sends to a super node."""


class NodeChoiceReason(StrEnum):
    """Why a super node was, or could not be, chosen (documented in docs/reference.md)."""

    CHOSEN = "SuperNodeChosen"
    NO_SUPER_NODE = "NoSuperNode"
    NO_READY_SUPER_NODE = "NoReadySuperNode"
    SUPER_NODES_CORDONED = "SuperNodesCordoned"
    ZONES_SOLD_OUT = "ZonesSoldOut"
    SUPER_NODE_TAINTS = "SuperNodeTaintsNotTolerated"
    SUPER_NODE_AFFINITY = "SuperNodeAffinityMismatch"
    SUPER_NODES_FULL = "SuperNodesFull"
    NO_ELIGIBLE_SUPER_NODE = "NoEligibleSuperNode"


# Filter order (a node is counted under the first filter it fails) and the phrase for each.
_FILTER_TEXT: dict[NodeChoiceReason, str] = {
    NodeChoiceReason.NO_READY_SUPER_NODE: "node(s) were not ready",
    NodeChoiceReason.SUPER_NODES_CORDONED: "node(s) were unschedulable (cordoned)",
    NodeChoiceReason.ZONES_SOLD_OUT: "node(s) were in a zone in sold-out cool-down",
    NodeChoiceReason.SUPER_NODE_TAINTS: "node(s) had untolerated taint(s)",
    NodeChoiceReason.SUPER_NODE_AFFINITY: "node(s) didn't match the pod's node affinity/selector",
    NodeChoiceReason.SUPER_NODES_FULL: "node(s) had too many pods",
}


@dataclass(frozen=True, slots=True)
class SuperNodeState:
    """A super node and how many pods are assigned to it, counting the caller's in-flight
    bindings (bound but not yet observed)."""

    node: Node
    assigned: int = 0


@dataclass(frozen=True, slots=True)
class NodeChoice:
    """The chosen node (None when none qualifies), a reason code, a one-line message, and how
    many nodes each filter rejected."""

    node: str | None
    reason: NodeChoiceReason
    message: str
    rejected: Mapping[str, int]


def is_managed_super_node(node: Node, managed: Collection[str]) -> bool:
    """A super node Spillway runs: labelled as one AND named after a configured subnet
    (`PolicyOptions.managed_super_nodes()`). Only these are candidates: a pod bound to any other
    `eklet` node would wait forever, since nothing of ours creates its instance."""
    return node.is_super_node() and node.metadata.name in managed


def foreign_super_nodes(nodes: Iterable[Node], managed: Collection[str]) -> list[Node]:
    """Nodes labelled as super nodes that Spillway does not run (another product's, a subnet
    removed from the config), by name."""
    return sorted((n for n in nodes if n.is_super_node() and n.metadata.name not in managed),
                  key=lambda n: n.metadata.name)


def node_zone(node: Node) -> str:
    labels = node.metadata.labels
    return labels.get(LABEL_ZONE_NAME) or labels.get(LABEL_TOPOLOGY_ZONE) or ""


def allocatable_pods(node: Node) -> int:
    """status.allocatable.pods; missing or malformed counts as 0, as kube-scheduler does."""
    try:
        return int(parse_quantity(node.status.allocatable.get("pods", "0")))
    except QuantityError:
        return 0


def _rejection(
    pod: Pod, state: SuperNodeState, tolerations: list[Toleration], cooldowns: Mapping[str, float], now: float
) -> NodeChoiceReason | None:
    node = state.node
    if not node.is_ready():
        return NodeChoiceReason.NO_READY_SUPER_NODE
    if node.spec.unschedulable:
        return NodeChoiceReason.SUPER_NODES_CORDONED
    zone = node_zone(node)
    if zone and cooldowns.get(zone, float("-inf")) > now:
        return NodeChoiceReason.ZONES_SOLD_OUT
    if untolerated_taints(tolerations, node.spec.taints):
        return NodeChoiceReason.SUPER_NODE_TAINTS
    if not pod_fits_node_selection(pod, node):
        return NodeChoiceReason.SUPER_NODE_AFFINITY
    if state.assigned >= allocatable_pods(node):
        return NodeChoiceReason.SUPER_NODES_FULL
    return None


def none_available_message(total: int, rejected: Mapping[str, int]) -> str:
    """kube-scheduler's summary: "0/3 super nodes are available: 1 node(s) were not ready, ..."."""
    if total == 0:
        return "0/0 super nodes are available: no super node is registered"
    parts = sorted(f"{count} {_FILTER_TEXT[NodeChoiceReason(reason)]}" for reason, count in rejected.items())
    return f"0/{total} super nodes are available: {', '.join(parts)}"


def choose_super_node(
    pod: Pod, super_nodes: Sequence[SuperNodeState], cooldowns: Mapping[str, float], now: float
) -> NodeChoice:
    """The least loaded qualifying super node (assigned / allocatable pods; ties by name).

    A node qualifies when it is Ready, not cordoned, not in a zone whose cool-down (`cooldowns`:
    zone → until, epoch seconds) is later than `now`, has no NoSchedule/NoExecute taint the pod
    would not tolerate once the super-node toleration is added, matches the pod's nodeSelector
    and required node affinity, and has room (assigned < allocatable pods).
    """
    if not super_nodes:
        return NodeChoice(None, NodeChoiceReason.NO_SUPER_NODE, none_available_message(0, {}), {})
    tolerations = [*pod.spec.tolerations, SUPER_NODE_TOLERATION]
    rejected: Counter[str] = Counter()
    best: tuple[Fraction, str] | None = None
    for state in super_nodes:
        reason = _rejection(pod, state, tolerations, cooldowns, now)
        if reason is not None:
            rejected[reason] += 1
            continue
        rank = (Fraction(state.assigned, allocatable_pods(state.node)), state.node.metadata.name)
        if best is None or rank < best:
            best = rank
    if best is not None:
        name = best[1]
        return NodeChoice(name, NodeChoiceReason.CHOSEN, f"least loaded super node {name}", dict(rejected))
    reason = NodeChoiceReason(next(iter(rejected))) if len(rejected) == 1 else NodeChoiceReason.NO_ELIGIBLE_SUPER_NODE
    return NodeChoice(None, reason, none_available_message(len(super_nodes), rejected), dict(rejected))
