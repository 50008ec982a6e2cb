"""The default scheduler's decisions as pure functions: filter plugins in the real order
(NodeUnschedulable, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit), the
least-allocated score, and the FitError message in the real format
(pkg/scheduler/framework/types.go `FitError.Error`, the plugins' reason strings, and the
DefaultPreemption post-filter summary).

Resources are integers: cpu in millicores, everything else in base units (rounded up).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spillway.sandbox import nodematch
from spillway.sandbox import quantity as quantities

Obj = dict[str, Any]
Port = tuple[str, str, int]  # (hostIP, protocol, hostPort)

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_PORTS = "node(s) didn't have free ports for the requested pod ports"
REASON_TOO_MANY_PODS = "Too many pods"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
GATED_REASON = "SchedulingGated"
GATED_MESSAGE = "Scheduling is blocked due to non-empty scheduling gates"
NO_NODES = "no nodes available to schedule pods"
DEFAULT_MILLI_CPU = 100  # scoring only (schedutil.DefaultMilliCPURequest)
DEFAULT_MEMORY = 200 * 1024 * 1024


def quantity(name: str, raw: Any) -> int:
    """MilliValue() for cpu, Value() for the rest: rounded up; a negative or malformed one counts 0."""
    try:
        value = quantities.decode(raw)
    except quantities.QuantityError:
        return 0
    return max(0, quantities.ceil_scaled(value, -3 if name == "cpu" else 0))


def _add(total: dict[str, int], items: Mapping[str, Any]) -> None:
    for name, raw in items.items():
        total[name] = total.get(name, 0) + quantity(name, raw)


def pod_requests(spec: Obj) -> dict[str, int]:
    """max(sum of containers, each init container) per resource, plus overhead
    (resourcehelper.PodRequests without sidecar accounting)."""
    total: dict[str, int] = {}
    for c in spec.get("containers") or []:
        _add(total, (c.get("resources") or {}).get("requests") or {})
    for c in spec.get("initContainers") or []:
        one: dict[str, int] = {}
        _add(one, (c.get("resources") or {}).get("requests") or {})
        for name, value in one.items():
            total[name] = max(total.get(name, 0), value)
    _add(total, spec.get("overhead") or {})
    return total


def host_ports(spec: Obj) -> list[Port]:
    out = []
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(p["hostPort"])))
    return out


def ports_conflict(wanted: Iterable[Port], used: Iterable[Port]) -> bool:
    used_list = list(used)
    for ip, proto, port in wanted:
        for uip, uproto, uport in used_list:
            if port == uport and proto == uproto and (ip == uip or "0.0.0.0" in (ip, uip)):
                return True
    return False


@dataclass
class NodeInfo:
    """A node plus what the pods bound to it use (kept incrementally by the scheduler)."""

    name: str
    node: Obj  # what the filters read: name, labels, taints, unschedulable
    allocatable: dict[str, int]
    requested: dict[str, int] = field(default_factory=dict)
    pods: int = 0
    ports: Counter[Port] = field(default_factory=Counter)

    @classmethod
    def from_node(cls, node: Obj) -> NodeInfo:
        allocatable: dict[str, int] = {}
        _add(allocatable, (node.get("status") or {}).get("allocatable") or {})
        meta, spec = node["metadata"], node.get("spec") or {}
        view = {"metadata": {"name": meta["name"], "labels": dict(meta.get("labels") or {})},
                "spec": {"unschedulable": bool(spec.get("unschedulable")),
                         "taints": [dict(t) for t in spec.get("taints") or []]}}
        return cls(meta["name"], view, allocatable)

    def add(self, requests: Mapping[str, int], ports: Iterable[Port], sign: int = 1) -> None:
        for name, value in requests.items():
            self.requested[name] = self.requested.get(name, 0) + sign * value
        self.pods += sign
        for port in ports:
            self.ports[port] += sign
            if self.ports[port] <= 0:
                del self.ports[port]


@dataclass(frozen=True)
class Verdict:
    reasons: tuple[str, ...]
    resolvable: bool  # Unschedulable (preemption might help) vs UnschedulableAndUnresolvable


def filter_node(spec: Obj, requests: Mapping[str, int], ports: list[Port], info: NodeInfo) -> Verdict | None:
    """None when the pod fits; else the first failing plugin's reasons."""
    node = info.node
    tolerations = spec.get("tolerations") or []
    if node["spec"]["unschedulable"] and not any(
            nodematch.tolerates(t, {"key": UNSCHEDULABLE_TAINT, "effect": nodematch.NO_SCHEDULE})
            for t in tolerations):
        return Verdict((REASON_UNSCHEDULABLE,), False)
    taint = nodematch.first_untolerated(tolerations, node["spec"]["taints"])
    if taint is not None:
        return Verdict((f"node(s) had untolerated taint {{{taint.get('key') or ''}: {taint.get('value') or ''}}}",),
                       False)
    if not nodematch.fits_node_selection(spec, node):
        return Verdict((REASON_AFFINITY,), False)
    if ports and ports_conflict(ports, info.ports):
        return Verdict((REASON_PORTS,), True)
    reasons = []
    if info.pods + 1 > info.allocatable.get("pods", 0):
        reasons.append(REASON_TOO_MANY_PODS)
    for name in ("cpu", "memory", "ephemeral-storage", *sorted(set(requests) - {"cpu", "memory",
                                                                                 "ephemeral-storage", "pods"})):
        want = requests.get(name, 0)
        if want > 0 and want > info.allocatable.get(name, 0) - info.requested.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return Verdict(tuple(reasons), True) if reasons else None


def least_allocated_score(requests: Mapping[str, int], info: NodeInfo) -> float:
    """NodeResourcesFit LeastAllocated over cpu and memory (weights 1), non-zero defaults."""
    total = 0.0
    for name, default in (("cpu", DEFAULT_MILLI_CPU), ("memory", DEFAULT_MEMORY)):
        capacity = info.allocatable.get(name, 0)
        used = info.requested.get(name, 0) + (requests.get(name) or default)
        total += 0.0 if capacity == 0 or used > capacity else (capacity - used) * 100 / capacity
    return total / 2


def fit_error(total_nodes: int, verdicts: Iterable[Verdict]) -> str:
    """FitError.Error(): the sorted reason histogram, then the preemption summary."""
    if total_nodes == 0:
        return NO_NODES
    reasons: Counter[str] = Counter()
    preemption: Counter[str] = Counter()
    for verdict in verdicts:
        reasons.update(verdict.reasons)
        preemption[NO_VICTIMS if verdict.resolvable else NOT_HELPFUL] += 1
    histogram = ", ".join(sorted(f"{n} {r}" for r, n in reasons.items()))
    post = ", ".join(sorted(f"{n} {r}" for r, n in preemption.items()))
    head = f"0/{total_nodes} nodes are available: {histogram}."
    return f"{head} preemption: 0/{total_nodes} nodes are available: {post}."


@dataclass(frozen=True)
class Placement:
    node: str | None
    message: str


def schedule(spec: Obj, nodes: Mapping[str, NodeInfo]) -> Placement:
    """Filter every node, score the feasible ones, pick the best (ties: by name).

    A pod whose required affinity names its nodes (a super node's pods, a DaemonSet's) is filtered
    on those nodes only, as kube-scheduler's NodeAffinity PreFilter does; no other node could pass
    the filter, so the choice is the same. Only when none of them fits are all nodes filtered,
    for the full reason histogram of the message."""
    requests = pod_requests(spec)
    ports = host_ports(spec)
    named = nodematch.named_nodes(spec)
    if named is not None:
        best, _ = _filter_and_score(spec, requests, ports, nodes, sorted(n for n in named if n in nodes))
        if best is not None:
            return Placement(best, "")
    best, failures = _filter_and_score(spec, requests, ports, nodes, sorted(nodes))
    if best is not None:
        return Placement(best, "")
    return Placement(None, fit_error(len(nodes), failures))


def _filter_and_score(spec: Obj, requests: Mapping[str, int], ports: list[Port], nodes: Mapping[str, NodeInfo],
                      names: Iterable[str]) -> tuple[str | None, list[Verdict]]:
    """The best-scoring feasible node of `names` (in order; ties keep the first), and the verdicts
    of the nodes that failed."""
    best: tuple[float, str] | None = None
    failures: list[Verdict] = []
    for name in names:
        info = nodes[name]
        verdict = filter_node(spec, requests, ports, info)
        if verdict is not None:
            failures.append(verdict)
            continue
        score = least_allocated_score(requests, info)
        if best is None or score > best[0]:
            best = (score, name)
    return (best[1] if best is not None else None), failures
