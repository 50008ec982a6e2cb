"""Node matching where a reimplementation could plausibly part from Kubernetes: requirements
that `labels.NewRequirement` refuses (their term matches nothing, the other terms still count),
matchFields as upstream's field selector reads it, a node without a name. The expected answers
are kube-scheduler's (component-helpers `nodeaffinity`); every "False" here once read "True" and
would have pinned the pod to a super node kube-scheduler never binds it to."""

from __future__ import annotations

import pytest

from spillway.model.kube import Node, Pod, from_builtins
from spillway.policy.decision import Outcome, Trigger
from spillway.policy.engine import PlacementInput, decide
from spillway.policy.matching import pod_fits_node_selection
from spillway.policy.nodes import SuperNodeState
from spillway.policy.rules import affinity as affinity_rule
from spillway.policy.rules.base import RuleContext
from spillway.policy.status import Code
from spillway.policy.workload import WorkloadKey
from tests.fixtures.affinity import Obj, affinity, expr, exprs, field
from tests.policy.builders import pod_dict, super_node

NODE = from_builtins({"metadata": {"name": "node-1", "labels": {"zone": "a", "disk": "ssd", "cores": "8"}}}, Node)






def fits(spec: Obj, node: Node = NODE) -> bool:
    return pod_fits_node_selection(from_builtins({"spec": spec}, Pod), node)


SELECTION = [
    # a requirement labels.NewRequirement refuses sinks its term
    ("bad key", affinity(exprs(expr("bad key", "DoesNotExist"))), False),
    ("a trailing newline makes a bad key", affinity(exprs(expr("gpu\n", "DoesNotExist"))), False),
    ("key with an empty prefix", affinity(exprs(expr("/gpu", "DoesNotExist"))), False),
    ("key name longer than 63", affinity(exprs(expr("g" * 64, "DoesNotExist"))), False),
    ("NotIn with a value that is no label value", affinity(exprs(expr("zone", "NotIn", "not a label value"))),
     False),
    ("NotIn with a value longer than 63", affinity(exprs(expr("gpu", "NotIn", "v" * 64))),
     False),
    ("Exists with values", affinity(exprs(expr("zone", "Exists", "a"))), False),
    ("DoesNotExist with values", affinity(exprs(expr("gpu", "DoesNotExist", "x"))), False),
    ("NotIn without values", affinity(exprs(expr("zone", "NotIn"))), False),
    ("Gt -1: an int64 but no label value", affinity(exprs(expr("cores", "Gt", "-1"))), False),
    ("Gt +1: an int64 but no label value", affinity(exprs(expr("cores", "Gt", "+1"))), False),
    ("Lt -1: no label value either", affinity(exprs(expr("cores", "Lt", "-1"))), False),
    ("Gt with two values", affinity(exprs(expr("cores", "Gt", "1", "2"))), False),
    ("unparsable requirement in a term that would match", affinity(exprs(expr("zone", "In", "a"),
                                                                         expr("disk", "NotIn"))), False),
    ("unparsable term beside a matching one", affinity(exprs(expr("zone", "Exists", "a")),
                                                       exprs(expr("zone", "In", "a"))), True),
    # the valid neighbours still match
    ("prefixed key", affinity(exprs(expr("example.com/gpu", "DoesNotExist"))), True),
    ("NotIn an empty value", affinity(exprs(expr("zone", "NotIn", ""))), True),
    ("Gt with leading zeros", affinity(exprs(expr("cores", "Gt", "007"))), True),
    # matchFields: In/NotIn with exactly one value; other fields read as ""
    ("matchFields In with two values", affinity({"matchFields": [field("In", "node-1", "node-2")]}), False),
    ("matchFields NotIn without values", affinity({"matchFields": [field("NotIn")]}), False),
    ("matchFields another field NotIn", affinity({"matchFields": [field("NotIn", "x", key="spec.x")]}), True),
    ("matchFields another field In empty", affinity({"matchFields": [field("In", "", key="spec.x")]}), True),
    ("matchFields another field In a value", affinity({"matchFields": [field("In", "node-1", key="spec.x")]}),
     False),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in SELECTION], ids=[c[0] for c in SELECTION])
def test_fits_node_selection_like_kubernetes(spec: Obj, expected: bool) -> None:
    assert fits(spec) is expected


def test_a_node_without_name_has_no_fields() -> None:
    nameless = from_builtins({"metadata": {"labels": {"zone": "a"}}}, Node)
    spec = affinity({"matchFields": [field("In", "node-1")], "matchExpressions": [expr("zone", "In", "a")]})
    assert fits(spec, nameless)
    assert not fits(affinity({"matchFields": [field("In", "node-1", "node-2")]}), nameless)


# ---- what the affinity rule and the decision make of it -------------------------------------

ZONE = "topology.kubernetes.io/zone"
SUPER_NODES = [super_node("eklet-a", zone="gz-3"), super_node("eklet-b", zone="gz-4")]
NEVER_MATCHING = [
    pytest.param(affinity(exprs(expr(ZONE, "NotIn", "no such zone"))), id="NotIn no label value"),
    pytest.param(affinity(exprs(expr(ZONE, "Exists", "gz-3"))), id="Exists with values"),
    pytest.param(affinity(exprs(expr(ZONE, "In", "gz-3"), expr("gpu", "NotIn"))), id="one unparsable requirement"),
    pytest.param(affinity({"matchFields": [field("NotIn", "a", "b")]}), id="matchFields NotIn two values"),
]


@pytest.mark.parametrize("spec", NEVER_MATCHING)
def test_affinity_rule_refuses_a_term_kubernetes_drops(spec: Obj) -> None:
    pod = from_builtins(pod_dict(spec=spec), Pod)
    result = affinity_rule.check(pod, RuleContext(super_nodes=SUPER_NODES))
    assert (result.code, result.reason) == (Code.NEVER_POSSIBLE, "NodeAffinityMismatch")


@pytest.mark.parametrize("spec", NEVER_MATCHING)
def test_gated_pod_with_such_affinity_stays_local_with_its_reason(spec: Obj) -> None:
    pod = from_builtins(pod_dict(annotations={"LOCAL_REPLICAS": "0"}, gated=True, spec=spec), Pod)
    decision = decide(PlacementInput(
        pod=pod, workload=WorkloadKey("Deployment", "default", "web"), trigger=Trigger.GATED,
        super_nodes=[SuperNodeState(n, 0) for n in SUPER_NODES], now=100.0,
    ))
    assert (decision.outcome, decision.node, decision.reason) == (Outcome.LOCAL, None, "NodeAffinityMismatch")
    assert (decision.event.type, decision.event.reason) == ("Warning", "NodeAffinityMismatch")


def test_a_valid_term_beside_a_dropped_one_still_bursts() -> None:
    spec = affinity(exprs(expr(ZONE, "NotIn", "no such zone")), exprs(expr(ZONE, "In", "gz-4")))
    pod = from_builtins(pod_dict(annotations={"LOCAL_REPLICAS": "0"}, gated=True, spec=spec), Pod)
    decision = decide(PlacementInput(
        pod=pod, workload=WorkloadKey("Deployment", "default", "web"), trigger=Trigger.GATED,
        super_nodes=[SuperNodeState(n, 0) for n in SUPER_NODES], now=100.0,
    ))
    assert (decision.outcome, decision.node) == (Outcome.CLOUD, "eklet-b")
