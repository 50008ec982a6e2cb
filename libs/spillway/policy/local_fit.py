"""Would the default scheduler find room for a pod on a local node? Its filters, over our view.

Why here: a cloud pod may only be sent home when its replacement lands locally, and that is the
default scheduler's call. This module answers the scheduler's question with the policy's own
predicates (`matching`: taints and tolerations, nodeSelector and required node affinity) and the
two filters the policy did not need before: resources (NodeResourcesFit) and host ports
(NodePorts). Every doubt answers "no room" — a node not Ready, a quantity that does not parse, a
host port on either side whatever its protocol: a return that does not happen costs a little
money, a return that should not have happened costs capacity.

The replacement comes from the controller's template, not from the cloud pod: `replacement_view`
strips what placement added to the pod (the pin to its super node) before the fit is judged.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import msgspec

from spillway.model.kube import Container, Node, NodeSelector, Pod, Taint, Toleration
from spillway.model.specs import QuantityError, parse_quantity
from spillway.policy.matching import FIELD_NODE_NAME, NO_SCHEDULE, pod_fits_node_selection, untolerated_taints

Resources = dict[str, Fraction]
UNSCHEDULABLE_TAINT = Taint(key="node.kubernetes.io/unschedulable", effect=NO_SCHEDULE)
"""What a cordoned node means to the scheduler (the NodeUnschedulable filter)."""
CPU = "cpu"
PODS = "pods"


class UnreadableRequest(ValueError):
    """A container's resource request that is not a quantity: the pod's size is unknown."""


def _rounded(name: str, value: Fraction) -> Fraction:
    """As the scheduler counts: cpu in whole millicores, everything else in whole units, up."""
    if name == CPU:
        return Fraction(math.ceil(value * 1000), 1000)
    return Fraction(math.ceil(value))


def _requests(container: Container) -> Resources:
    out: Resources = {}
    for name, raw in container.resources.requests.items():
        try:
            out[name] = _rounded(name, parse_quantity(raw))
        except QuantityError as exc:
            raise UnreadableRequest(f"container {container.name!r}: {name} request: {exc}") from None
    return out


def _add(total: Resources, extra: Mapping[str, Fraction]) -> Resources:
    out = dict(total)
    for name, value in extra.items():
        out[name] = out.get(name, Fraction(0)) + value
    return out


def _max(a: Mapping[str, Fraction], b: Mapping[str, Fraction]) -> Resources:
    return {name: max(a.get(name, Fraction(0)), b.get(name, Fraction(0))) for name in {*a, *b}}


def pod_requests(pod: Pod) -> Resources:
    """What the scheduler reserves for the pod (resourcehelper.PodRequests): the app containers
    and sidecar init containers (restartPolicy Always) add up; each regular init container runs
    beside the sidecars started before it; the larger of the two. UnreadableRequest when a
    request is not a quantity."""
    running: Resources = {}
    for container in pod.spec.containers:
        running = _add(running, _requests(container))
    sidecars: Resources = {}
    init_peak: Resources = {}
    for container in pod.spec.init_containers:
        own = _requests(container)
        if container.restart_policy == "Always":
            running = _add(running, own)
            sidecars = _add(sidecars, own)
            init_peak = _max(init_peak, sidecars)
        else:
            init_peak = _max(init_peak, _add(own, sidecars))
    return _max(running, init_peak)


def host_ports(pod: Pod) -> frozenset[int]:
    """Host ports the pod's containers and init containers bind (0 and unset bind none)."""
    return frozenset(p.host_port for c in (*pod.spec.containers, *pod.spec.init_containers)
                     for p in c.ports if p.host_port)


def allocatable(node: Node) -> Resources:
    """status.allocatable, rounded as the scheduler rounds; a value that does not parse is 0."""
    out: Resources = {}
    for name, raw in node.status.allocatable.items():
        try:
            out[name] = _rounded(name, parse_quantity(raw))
        except QuantityError:
            out[name] = Fraction(0)
    return out


@dataclass(frozen=True)
class LocalNode:
    """A local node and what the pods bound to it take (terminating ones too: the scheduler keeps
    counting a pod until it is gone)."""

    node: Node
    requested: Resources = field(default_factory=dict)
    pods: int = 0
    ports: frozenset[int] = frozenset()

    @property
    def name(self) -> str:
        return self.node.metadata.name

    def plus(self, requests: Mapping[str, Fraction], ports: Iterable[int] = ()) -> LocalNode:
        """The node with one more pod on it (a reservation for a replacement on its way)."""
        return LocalNode(self.node, _add(self.requested, requests), self.pods + 1, self.ports | frozenset(ports))


def local_node(node: Node, pods: Iterable[Pod]) -> LocalNode:
    """`node` with the usage of `pods` (those bound to it); finished pods take nothing, and a pod
    whose requests cannot be read is counted as a pod with no requests."""
    requested: Resources = {}
    count = 0
    ports: set[int] = set()
    for pod in pods:
        if pod.is_finished():
            continue
        count += 1
        ports |= host_ports(pod)
        try:
            requested = _add(requested, pod_requests(pod))
        except UnreadableRequest:
            continue
    return LocalNode(node, requested, count, frozenset(ports))


def _tolerates_cordon(tolerations: Sequence[Toleration]) -> bool:
    return not untolerated_taints(tolerations, [UNSCHEDULABLE_TAINT])


def misfit(pod: Pod, requests: Mapping[str, Fraction], ports: frozenset[int], node: LocalNode) -> str | None:
    """Why the scheduler would not put `pod` on `node` (a phrase of its FitError), or None."""
    spec = node.node.spec
    if not node.node.is_ready():
        return "node(s) were not ready"
    if spec.unschedulable and not _tolerates_cordon(pod.spec.tolerations):
        return "node(s) were unschedulable"
    if untolerated_taints(pod.spec.tolerations, spec.taints):
        return "node(s) had untolerated taint(s)"
    if not pod_fits_node_selection(pod, node.node):
        return "node(s) didn't match Pod's node affinity/selector"
    if ports & node.ports:
        return "node(s) didn't have free ports for the requested pod ports"
    free = allocatable(node.node)
    if node.pods + 1 > free.get(PODS, Fraction(0)):
        return "Too many pods"
    for name in sorted(requests):
        want = requests[name]
        if want > 0 and want > free.get(name, Fraction(0)) - node.requested.get(name, Fraction(0)):
            return f"Insufficient {name}"
    return None


def _score(requests: Mapping[str, Fraction], node: LocalNode) -> Fraction:
    """LeastAllocated over cpu and memory: the share left free once the pod is on the node."""
    free = allocatable(node.node)
    total = Fraction(0)
    for name in (CPU, "memory"):
        capacity = free.get(name, Fraction(0))
        used = node.requested.get(name, Fraction(0)) + requests.get(name, Fraction(0))
        total += 0 if capacity <= 0 or used > capacity else (capacity - used) / capacity
    return total


@dataclass(frozen=True, slots=True)
class Room:
    """The local node the scheduler would most likely pick (None: no room), and a one-line why."""

    node: str | None
    message: str


def find_room(pod: Pod, nodes: Sequence[LocalNode]) -> Room:
    """Room for `pod` on one of `nodes`: the node the scheduler would score best (ties by
    name), or None with kube-scheduler's summary ("0/3 local nodes have room: 2 Insufficient
    cpu, 1 node(s) were not ready")."""
    try:
        requests = pod_requests(pod)
    except UnreadableRequest as exc:
        return Room(None, f"the pod's size cannot be read ({exc})")
    ports = host_ports(pod)
    reasons: Counter[str] = Counter()
    best: tuple[Fraction, str] | None = None
    for node in nodes:
        why = misfit(pod, requests, ports, node)
        if why is not None:
            reasons[why] += 1
            continue
        rank = (-_score(requests, node), node.name)
        if best is None or rank < best:
            best = rank
    if best is not None:
        return Room(best[1], f"room on local node {best[1]}")
    if not nodes:
        return Room(None, "0/0 local nodes have room: no local node is registered")
    summary = ", ".join(sorted(f"{count} {why}" for why, count in reasons.items()))
    return Room(None, f"0/{len(nodes)} local nodes have room: {summary}")


def _unpinned(selector: NodeSelector, node: str) -> NodeSelector | None:
    """`selector` without the `metadata.name In [node]` requirement placement ANDed into each term;
    None when nothing else was there (placement then set the whole selector)."""
    terms = []
    for term in selector.node_selector_terms:
        fields = [f for f in term.match_fields
                  if not (f.key == FIELD_NODE_NAME and f.operator == "In" and list(f.values) == [node])]
        terms.append(msgspec.structs.replace(term, match_fields=fields))
    if all(not t.match_expressions and not t.match_fields for t in terms):
        return None
    return NodeSelector(node_selector_terms=terms)


def replacement_view(pod: Pod) -> Pod:
    """The pod as its controller's replacement will be: without the pin to its super node that
    placement narrowed its required node affinity with on the gated path."""
    affinity = pod.spec.affinity
    node_affinity = affinity.node_affinity if affinity else None
    required = node_affinity.required_during_scheduling_ignored_during_execution if node_affinity else None
    if affinity is None or node_affinity is None or required is None or not pod.spec.node_name:
        return pod
    unpinned = _unpinned(required, pod.spec.node_name)
    node_affinity = msgspec.structs.replace(node_affinity, required_during_scheduling_ignored_during_execution=unpinned)
    spec = msgspec.structs.replace(pod.spec, affinity=msgspec.structs.replace(affinity, node_affinity=node_affinity))
    return msgspec.structs.replace(pod, spec=spec)


def pinned_to_its_node(pod: Pod) -> bool:
    """Placement narrowed the pod's affinity to the super node it runs on (the gated path)."""
    affinity = pod.spec.affinity
    node_affinity = affinity.node_affinity if affinity else None
    required = node_affinity.required_during_scheduling_ignored_during_execution if node_affinity else None
    if required is None or not pod.spec.node_name:
        return False
    return bool(required.node_selector_terms) and all(
        any(f.key == FIELD_NODE_NAME and f.operator == "In" and list(f.values) == [pod.spec.node_name]
            for f in term.match_fields)
        for term in required.node_selector_terms)
