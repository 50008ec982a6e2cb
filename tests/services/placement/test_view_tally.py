"""The view's incremental tallies give exactly what the pure definitions give, after any
sequence of pod changes (`count_local` for LOCAL_REPLICAS, occupancy for super-node load)."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from services.placement.view import ClusterView, occupies_node
from spillway.model.kube import PLACEMENT_GATE, Pod
from spillway.policy import count_local
from spillway.policy.local_count import InFlight

NODES = ["node-1", "eklet-a", "eklet-b"]
SUPER = {"eklet-a", "eklet-b"}
NAMES = [f"p{i}" for i in range(6)]
WORKLOADS = ["web", "db"]


def pod(name: str, workload: str, rv: int, node: str, gated: bool, terminating: bool, phase: str) -> Pod:
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": str(rv),
                     "ownerReferences": [{"kind": "StatefulSet", "name": workload, "uid": f"w-{workload}",
                                          "controller": True}]},
        "spec": {"nodeName": node, "schedulingGates": [{"name": PLACEMENT_GATE}] if gated else []},
        "status": {"phase": phase},
    }
    if terminating:
        body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return msgspec.convert(body, Pod)


changes = st.lists(st.tuples(
    st.sampled_from(NAMES), st.sampled_from(WORKLOADS), st.sampled_from(["", *NODES]), st.booleans(),
    st.booleans(), st.sampled_from(["Pending", "Running", "Succeeded"]), st.booleans()), max_size=40)
in_flights = st.dictionaries(st.sampled_from([f"uid-{n}" for n in NAMES]), st.sampled_from(["local", "cloud"]))


@settings(max_examples=300, deadline=None)
@given(changes, in_flights)
def test_tallies_match_the_pure_definitions(steps: list[tuple[Any, ...]], in_flight: dict[str, InFlight]) -> None:
    view = ClusterView()
    for rv, (name, workload, node, gated, terminating, phase, delete) in enumerate(steps, start=1):
        if delete:
            view.remove_pod(f"ns/{name}")
            view.deleted_uids.clear()  # allow the name to come back in this test
        else:
            view.upsert_pod(pod(name, workload, rv, node, gated, terminating, phase))
    for workload in {view.workloads[k] for k in view.pods}:
        expected = count_local(view.workload_pods(workload), SUPER, in_flight)
        assert view.local_count(workload, SUPER, in_flight) == expected
    for node in NODES:
        on_node = [p for p in view.pods.values() if p.spec.node_name == node]
        assert view.assigned(node) == sum(1 for p in on_node if occupies_node(p))

