"""The scheduler's pure decisions: filters in the real order, reason strings, FitError format."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spillway.sandbox.nodematch import named_nodes
from spillway.sandbox.scheduling import NodeInfo, filter_node, least_allocated_score, pod_requests, quantity, schedule

SUPER_TAINT = {"key": "eks.tke.cloud.tencent.com/eklet", "effect": "NoSchedule"}


def node(name: str, cpu: str = "2", memory: str = "4Gi", pods: str = "110", *, taints: list[Any] | None = None,
         labels: dict[str, str] | None = None, unschedulable: bool = False) -> NodeInfo:
    spec: dict[str, Any] = {"taints": taints or []}
    if unschedulable:
        spec["unschedulable"] = True
    return NodeInfo.from_node({"metadata": {"name": name, "labels": labels or {}}, "spec": spec,
                               "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods}}})


def pod_spec(cpu: str | None = None, memory: str | None = None, **extra: Any) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return {"containers": [{"name": "c", "image": "i", "resources": {"requests": requests}}], **extra}


def run(spec: dict[str, Any], *nodes: NodeInfo) -> tuple[str | None, str]:
    placement = schedule(spec, {n.name: n for n in nodes})
    return placement.node, placement.message


def test_brief_example_message() -> None:
    full = node("node-1", cpu="1")
    supers = [node(f"eklet-{i}", cpu="100", taints=[SUPER_TAINT]) for i in (1, 2)]
    assert run(pod_spec(cpu="2"), full, *supers) == (None, (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
        "{eks.tke.cloud.tencent.com/eklet: }. preemption: 0/3 nodes are available: "
        "1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."))


AFFINITY = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}]}}}
CASES = [
    ("fits least allocated", pod_spec(cpu="500m"), [node("a", cpu="1"), node("b", cpu="4")], "b", ""),
    ("unschedulable node", pod_spec(), [node("a", unschedulable=True)], None,
     "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: "
     "1 Preemption is not helpful for scheduling."),
    ("taint with value", pod_spec(), [node("a", taints=[{"key": "k", "value": "v", "effect": "NoExecute"}])], None,
     "0/1 nodes are available: 1 node(s) had untolerated taint {k: v}. preemption: 0/1 nodes are available: "
     "1 Preemption is not helpful for scheduling."),
    ("tolerated taint", pod_spec(tolerations=[{"operator": "Exists"}]), [node("a", taints=[SUPER_TAINT])], "a", ""),
    ("PreferNoSchedule does not filter", pod_spec(), [node("a", taints=[{"key": "k", "effect": "PreferNoSchedule"}])],
     "a", ""),
    ("node selector", pod_spec(nodeSelector={"disk": "ssd"}), [node("a"), node("b", labels={"disk": "ssd"})], "b", ""),
    ("affinity matchFields", pod_spec(affinity=AFFINITY), [node("a"), node("b")], "b", ""),
    ("affinity mismatch", pod_spec(nodeSelector={"x": "y"}), [node("a")], None,
     "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are "
     "available: 1 Preemption is not helpful for scheduling."),
    ("cpu and memory", pod_spec(cpu="3", memory="8Gi"), [node("a")], None,
     "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. preemption: 0/1 nodes are available: "
     "1 No preemption victims found for incoming pod."),
    ("too many pods", pod_spec(), [node("a", pods="0")], None,
     "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: "
     "1 No preemption victims found for incoming pod."),
    ("extended resource", {"containers": [{"name": "c", "resources": {"requests": {"nvidia.com/gpu": "1"}}}]},
     [node("a")], None, "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are "
     "available: 1 No preemption victims found for incoming pod."),
    ("no nodes", pod_spec(), [], None, "no nodes available to schedule pods"),
]


@pytest.mark.parametrize(("spec", "nodes", "chosen", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_schedule(spec: dict[str, Any], nodes: list[NodeInfo], chosen: str | None, message: str) -> None:
    assert run(spec, *nodes) == (chosen, message)


def test_host_ports_and_accounting() -> None:
    a = node("a", cpu="1")
    a.add({"cpu": 800}, [("0.0.0.0", "TCP", 80)])
    spec = pod_spec(cpu="100m")
    spec["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 80}]
    assert run(spec, a)[1].startswith("0/1 nodes are available: 1 node(s) didn't have free ports for the "
                                      "requested pod ports.")
    assert run(pod_spec(cpu="300m"), a)[1].startswith("0/1 nodes are available: 1 Insufficient cpu.")
    a.add({"cpu": 800}, [("0.0.0.0", "TCP", 80)], -1)
    assert run(spec, a)[0] == "a"


@pytest.mark.parametrize(("name", "raw", "counted"), [
    ("cpu", "250m", 250), ("cpu", "1", 1000), ("cpu", "100u", 1), ("cpu", 0.5, 500), ("memory", "1.5", 2),
    ("memory", "1Gi", 2**30), ("pods", "110", 110), ("cpu", "-1", 0), ("memory", "lots", 0), ("cpu", True, 0),
])
def test_quantities_count_rounded_up(name: str, raw: Any, counted: int) -> None:
    assert quantity(name, raw) == counted


def test_init_container_max_rule() -> None:
    spec = pod_spec(cpu="200m", memory="1Gi", initContainers=[
        {"name": "i", "resources": {"requests": {"cpu": "1", "memory": "100Mi"}}}])
    assert pod_requests(spec) == {"cpu": 1000, "memory": 2**30}


def name_in(*names: str) -> dict[str, Any]:
    return {"key": "metadata.name", "operator": "In", "values": list(names)}


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


@pytest.mark.parametrize(("affinity", "named"), [
    (None, None),
    (required({"matchFields": [name_in("b")]}), {"b"}),
    (required({"matchFields": [name_in("b")]}, {"matchFields": [name_in("c")]}), {"b", "c"}),
    (required({"matchFields": [name_in("b", "c"), name_in("c")]}), {"c"}),  # ANDed within a term
    (required({"matchFields": [name_in("b")]}, {"matchExpressions": [{"key": "x", "operator": "Exists"}]}), None),
    (required({"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["b"]}]}), None),
    # a string where the list belongs: the term matches nothing, and the bound still holds
    (required({"matchFields": [{"key": "metadata.name", "operator": "In", "values": "b"}]}), {"b"}),
    (required(), None),
    ({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": "x"}}}, None),
    ({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": ["x"]}}}, None),
])
def test_named_nodes_are_the_prefilter_of_node_affinity(affinity: Any, named: set[str] | None) -> None:
    spec = pod_spec() if affinity is None else pod_spec(affinity=affinity)
    assert named_nodes(spec) == (None if named is None else frozenset(named))


def test_a_pod_whose_named_node_does_not_fit_gets_the_message_over_every_node() -> None:
    nodes = [node("a"), node("b", cpu="1"), node("c")]
    assert run(pod_spec(cpu="2", affinity=required({"matchFields": [name_in("b")]})), *nodes) == (None, (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, "
        "2 Preemption is not helpful for scheduling."))
    assert run(pod_spec(affinity=required({"matchFields": [name_in("gone")]})), *nodes)[0] is None


NODE_NAMES = ["a", "b", "c", "d"]
TERM = st.one_of(
    st.builds(lambda names: {"matchFields": [name_in(*names)]}, st.lists(st.sampled_from([*NODE_NAMES, "gone"]),
                                                                          min_size=1, max_size=2)),
    st.builds(lambda value: {"matchExpressions": [{"key": "zone", "operator": "In", "values": [value]}]},
              st.sampled_from(["z1", "z2"])),
    st.builds(lambda name, value: {"matchFields": [name_in(name)],
                                   "matchExpressions": [{"key": "zone", "operator": "In", "values": [value]}]},
              st.sampled_from(NODE_NAMES), st.sampled_from(["z1", "z2"])),
)


@given(terms=st.lists(TERM, min_size=1, max_size=3), cpus=st.lists(st.sampled_from(["1", "2", "4"]),
                                                                  min_size=4, max_size=4),
       zones=st.lists(st.sampled_from(["z1", "z2"]), min_size=4, max_size=4), want=st.sampled_from(["500m", "3"]))
def test_the_prefilter_never_changes_the_choice(terms: list[dict[str, Any]], cpus: list[str], zones: list[str],
                                                 want: str) -> None:
    """Against filtering every node, as the scheduler did before it narrowed to the named nodes."""
    nodes = {n: node(n, cpu=cpu, labels={"zone": zone}) for n, cpu, zone in zip(NODE_NAMES, cpus, zones, strict=True)}
    spec = pod_spec(cpu=want, affinity=required(*terms))
    feasible = [(least_allocated_score(pod_requests(spec), info), name) for name, info in sorted(nodes.items())
                if filter_node(spec, pod_requests(spec), [], info) is None]
    best = max(feasible, key=lambda pair: pair[0], default=None)  # max keeps the first of equal scores
    assert schedule(spec, nodes).node == (best[1] if best else None)
