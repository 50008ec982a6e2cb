"""Super-node choice: filters, least loaded, deterministic tie-break, kube-scheduler-style reasons."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.policy.nodes import (
    NodeChoice,
    NodeChoiceReason,
    SuperNodeState,
    choose_super_node,
    foreign_super_nodes,
    is_managed_super_node,
)
from spillway.policy.options import PolicyOptions
from tests.policy.builders import pod, super_node

R = NodeChoiceReason
NOW = 1_000.0


def s(name: str, assigned: int = 0, **kw: Any) -> SuperNodeState:
    return SuperNodeState(super_node(name, **kw), assigned)


@pytest.mark.parametrize(
    ("nodes", "cooldowns", "expected"),
    [
        pytest.param([], {}, NodeChoice(None, R.NO_SUPER_NODE,
                                        "0/0 super nodes are available: no super node is registered", {}),
                     id="none registered"),
        pytest.param([s("eklet-a", 5), s("eklet-b", 2)], {}, NodeChoice(
            "eklet-b", R.CHOSEN, "least loaded super node eklet-b", {}), id="least loaded wins"),
        pytest.param([s("eklet-b", 2), s("eklet-a", 2)], {}, NodeChoice(
            "eklet-a", R.CHOSEN, "least loaded super node eklet-a", {}), id="tie broken by name"),
        pytest.param([s("eklet-a", 10, pods="20"), s("eklet-b", 6, pods="10")], {}, NodeChoice(
            "eklet-a", R.CHOSEN, "least loaded super node eklet-a", {}), id="load is a ratio of allocatable"),
        pytest.param([s("eklet-a", 0, ready=False), s("eklet-b", 9)], {}, NodeChoice(
            "eklet-b", R.CHOSEN, "least loaded super node eklet-b", {R.NO_READY_SUPER_NODE: 1}),
            id="NotReady skipped"),
        pytest.param([s("eklet-a", 0, cordoned=True), s("eklet-b", 9)], {}, NodeChoice(
            "eklet-b", R.CHOSEN, "least loaded super node eklet-b", {R.SUPER_NODES_CORDONED: 1}),
            id="cordoned skipped"),
        pytest.param([s("eklet-a", 0, zone="gz-3"), s("eklet-b", 9, zone="gz-4")], {"gz-3": NOW + 60}, NodeChoice(
            "eklet-b", R.CHOSEN, "least loaded super node eklet-b", {R.ZONES_SOLD_OUT: 1}),
            id="sold-out zone skipped"),
        pytest.param([s("eklet-a", 0, zone="gz-3"), s("eklet-b", 9, zone="gz-4")], {"gz-3": NOW}, NodeChoice(
            "eklet-a", R.CHOSEN, "least loaded super node eklet-a", {}), id="cool-down ending now is over"),
        pytest.param([s("eklet-a", 100, pods="100"), s("eklet-b", 9)], {}, NodeChoice(
            "eklet-b", R.CHOSEN, "least loaded super node eklet-b", {R.SUPER_NODES_FULL: 1}), id="full skipped"),
        pytest.param([s("eklet-a", 0, pods=None), s("eklet-b", 1)], {}, NodeChoice(
            "eklet-b", R.CHOSEN, "least loaded super node eklet-b", {R.SUPER_NODES_FULL: 1}),
            id="no allocatable pods counts as full"),
        pytest.param([s("eklet-a", 0, taints=[{"key": "maintenance", "effect": "NoExecute"}]), s("eklet-b", 3)], {},
                     NodeChoice("eklet-b", R.CHOSEN, "least loaded super node eklet-b", {R.SUPER_NODE_TAINTS: 1}),
                     id="untolerated taint skipped"),
        pytest.param([s("eklet-a", 0, taints=[{"key": "soft", "effect": "PreferNoSchedule"}])], {}, NodeChoice(
            "eklet-a", R.CHOSEN, "least loaded super node eklet-a", {}), id="PreferNoSchedule ignored"),
        pytest.param([s("eklet-a", ready=False), s("eklet-b", ready=False)], {}, NodeChoice(
            None, R.NO_READY_SUPER_NODE, "0/2 super nodes are available: 2 node(s) were not ready",
            {R.NO_READY_SUPER_NODE: 2}), id="all NotReady"),
        pytest.param([s("eklet-a", zone="gz-3")], {"gz-3": NOW + 1}, NodeChoice(
            None, R.ZONES_SOLD_OUT, "0/1 super nodes are available: 1 node(s) were in a zone in sold-out cool-down",
            {R.ZONES_SOLD_OUT: 1}), id="all sold out"),
        pytest.param([s("eklet-a", 5, pods="5"), s("eklet-b", 5, pods="5")], {}, NodeChoice(
            None, R.SUPER_NODES_FULL, "0/2 super nodes are available: 2 node(s) had too many pods",
            {R.SUPER_NODES_FULL: 2}), id="all full"),
        pytest.param([s("eklet-a", ready=False), s("eklet-b", cordoned=True), s("eklet-c", 1, pods="1")], {},
                     NodeChoice(None, R.NO_ELIGIBLE_SUPER_NODE,
                                "0/3 super nodes are available: 1 node(s) had too many pods, "
                                "1 node(s) were not ready, 1 node(s) were unschedulable (cordoned)",
                                {R.NO_READY_SUPER_NODE: 1, R.SUPER_NODES_CORDONED: 1, R.SUPER_NODES_FULL: 1}),
                     id="mixed reasons"),
    ],
)
def test_choose_super_node(nodes: list[SuperNodeState], cooldowns: dict[str, float], expected: NodeChoice) -> None:
    assert choose_super_node(pod(), nodes, cooldowns, NOW) == expected


def test_pod_toleration_admits_a_tainted_node() -> None:
    tolerant = pod(spec={"tolerations": [{"key": "maintenance", "operator": "Exists"}]})
    nodes = [s("eklet-a", 0, taints=[{"key": "maintenance", "effect": "NoExecute"}])]
    assert choose_super_node(tolerant, nodes, {}, NOW).node == "eklet-a"


def test_affinity_excludes_nodes() -> None:
    zoned = pod(spec={"nodeSelector": {"topology.kubernetes.io/zone": "gz-4"}})
    nodes = [s("eklet-a", 0, zone="gz-3"), s("eklet-b", 50, zone="gz-4")]
    assert choose_super_node(zoned, nodes, {}, NOW) == NodeChoice(
        "eklet-b", R.CHOSEN, "least loaded super node eklet-b", {R.SUPER_NODE_AFFINITY: 1})


def test_only_the_super_nodes_of_configured_subnets_are_managed() -> None:
    options = PolicyOptions(subnets=(("subnet-a", "gz-3"), ("subnet-b", "gz-4")))
    managed = options.managed_super_nodes()
    assert managed == {"eklet-subnet-a", "eklet-subnet-b"}
    ours, theirs = super_node("eklet-subnet-a"), super_node("eklet-subnet-legacy")
    impostor = super_node("eklet-subnet-b", labels={"node.kubernetes.io/instance-type": "cvm"})
    assert is_managed_super_node(ours, managed)
    assert not is_managed_super_node(theirs, managed)  # labelled eklet, not one of ours
    assert not is_managed_super_node(impostor, managed)  # our name, not a super node
    assert [n.metadata.name for n in foreign_super_nodes([impostor, theirs, ours], managed)] == ["eklet-subnet-legacy"]
    assert PolicyOptions().managed_super_nodes() == frozenset()
