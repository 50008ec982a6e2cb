"""Scheduling predicates: the taint/toleration matrix, nodeSelector, node-affinity operators, matchFields."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.model.kube import Node, NodeSelectorRequirement, Taint, Toleration, from_builtins
from spillway.policy.matching import (
    field_requirement_matches,
    node_selector_matches,
    pod_fits_node_selection,
    requirement_matches,
    tolerates,
    untolerated_taints,
)
from tests.policy.builders import local_node, pod


def tol(**kw: Any) -> Toleration:
    return Toleration(**kw)


TAINT = Taint(key="dedicated", value="gpu", effect="NoSchedule")


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        pytest.param(tol(key="dedicated", operator="Equal", value="gpu", effect="NoSchedule"), TAINT, True,
                     id="equal key value effect"),
        pytest.param(tol(key="dedicated", value="gpu", effect="NoSchedule"), TAINT, True, id="operator defaults Equal"),
        pytest.param(tol(key="dedicated", operator="Equal", value="cpu", effect="NoSchedule"), TAINT, False,
                     id="equal wrong value"),
        pytest.param(tol(key="dedicated", operator="Exists", effect="NoSchedule"), TAINT, True, id="exists any value"),
        pytest.param(tol(key="other", operator="Exists"), TAINT, False, id="exists wrong key"),
        pytest.param(tol(operator="Exists"), TAINT, True, id="empty key exists tolerates everything"),
        pytest.param(tol(operator="Exists", effect="NoExecute"), TAINT, False, id="empty key exists wrong effect"),
        pytest.param(tol(key="dedicated", operator="Equal", value="gpu"), TAINT, True, id="empty effect matches all"),
        pytest.param(tol(key="dedicated", operator="Equal", value="gpu", effect="NoExecute"), TAINT, False,
                     id="effect mismatch"),
        pytest.param(tol(key="k", operator="Equal"), Taint(key="k", effect="NoSchedule"), True,
                     id="equal empty values"),
        pytest.param(tol(key="k", operator="Gt", value="1"), Taint(key="k", value="1", effect="NoSchedule"), False,
                     id="unknown operator"),
        pytest.param(tol(key="k", operator="Exists", effect="PreferNoSchedule"),
                     Taint(key="k", effect="PreferNoSchedule"), True, id="prefer-no-schedule tolerated"),
    ],
)
def test_tolerates(toleration: Toleration, taint: Taint, expected: bool) -> None:
    assert tolerates(toleration, taint) is expected


@pytest.mark.parametrize(
    ("taints", "tolerations", "untolerated"),
    [
        pytest.param([Taint(key="a", effect="NoSchedule")], [], ["a"], id="noschedule blocks"),
        pytest.param([Taint(key="a", effect="NoExecute")], [], ["a"], id="noexecute blocks"),
        pytest.param([Taint(key="a", effect="PreferNoSchedule")], [], [], id="prefernoschedule does not block"),
        pytest.param([Taint(key="a", effect="NoSchedule"), Taint(key="b", effect="NoExecute")],
                     [tol(key="a", operator="Exists")], ["b"], id="one of two tolerated"),
        pytest.param([Taint(key="a", effect="NoSchedule")], [tol(operator="Exists")], [], id="wildcard"),
    ],
)
def test_untolerated_taints(taints: list[Taint], tolerations: list[Toleration], untolerated: list[str]) -> None:
    assert [t.key for t in untolerated_taints(tolerations, taints)] == untolerated


def req(key: str, operator: str, *values: str) -> NodeSelectorRequirement:
    return NodeSelectorRequirement(key=key, operator=operator, values=list(values))


LABELS = {"zone": "gz-3", "gen": "5", "ssd": ""}


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        pytest.param(req("zone", "In", "gz-3", "gz-4"), True, id="In hit"),
        pytest.param(req("zone", "In", "gz-4"), False, id="In miss"),
        pytest.param(req("missing", "In", "x"), False, id="In absent key"),
        pytest.param(req("zone", "NotIn", "gz-4"), True, id="NotIn hit"),
        pytest.param(req("zone", "NotIn", "gz-3"), False, id="NotIn miss"),
        pytest.param(req("missing", "NotIn", "x"), True, id="NotIn absent key matches"),
        pytest.param(req("ssd", "Exists"), True, id="Exists empty value"),
        pytest.param(req("missing", "Exists"), False, id="Exists absent"),
        pytest.param(req("missing", "DoesNotExist"), True, id="DoesNotExist absent"),
        pytest.param(req("zone", "DoesNotExist"), False, id="DoesNotExist present"),
        pytest.param(req("gen", "Gt", "4"), True, id="Gt true"),
        pytest.param(req("gen", "Gt", "5"), False, id="Gt equal false"),
        pytest.param(req("gen", "Lt", "6"), True, id="Lt true"),
        pytest.param(req("gen", "Lt", "-1"), False, id="Lt negative"),
        pytest.param(req("zone", "Gt", "1"), False, id="Gt non-integer label"),
        pytest.param(req("gen", "Gt", "x"), False, id="Gt non-integer value"),
        pytest.param(req("gen", "Gt", "1", "2"), False, id="Gt two values"),
        pytest.param(req("missing", "Lt", "9"), False, id="Lt absent key"),
        pytest.param(req("zone", "Bogus", "gz-3"), False, id="unknown operator"),
    ],
)
def test_requirement_matches(requirement: NodeSelectorRequirement, expected: bool) -> None:
    assert requirement_matches(requirement, LABELS) is expected


NODE = local_node("node-a", {"zone": "gz-3"})


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        pytest.param(req("metadata.name", "In", "node-a"), True, id="name In"),
        pytest.param(req("metadata.name", "In", "node-b"), False, id="name In miss"),
        pytest.param(req("metadata.name", "NotIn", "node-b"), True, id="name NotIn"),
        pytest.param(req("metadata.name", "NotIn", "node-a"), False, id="name NotIn miss"),
        pytest.param(req("metadata.uid", "In", "node-a"), False, id="other fields unsupported"),
        pytest.param(req("metadata.name", "Exists"), False, id="Exists unsupported for fields"),
    ],
)
def test_field_requirement(requirement: NodeSelectorRequirement, expected: bool) -> None:
    assert field_requirement_matches(requirement, NODE) is expected


def affinity(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}}


def expr(key: str, op: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": op, "values": list(values)}


@pytest.mark.parametrize(
    ("spec", "node", "expected"),
    [
        pytest.param({}, NODE, True, id="no constraints"),
        pytest.param({"nodeSelector": {"zone": "gz-3"}}, NODE, True, id="nodeSelector hit"),
        pytest.param({"nodeSelector": {"zone": "gz-3", "x": "y"}}, NODE, False, id="nodeSelector partial"),
        pytest.param(affinity({"matchExpressions": [expr("zone", "In", "gz-9")]},
                              {"matchExpressions": [expr("zone", "In", "gz-3")]}), NODE, True, id="terms ORed"),
        pytest.param(affinity({"matchExpressions": [expr("zone", "In", "gz-3"), expr("gpu", "Exists")]}), NODE, False,
                     id="expressions ANDed"),
        pytest.param(affinity({"matchExpressions": [expr("zone", "In", "gz-3")],
                               "matchFields": [expr("metadata.name", "In", "node-b")]}), NODE, False,
                     id="expressions and fields ANDed"),
        pytest.param(affinity({"matchFields": [expr("metadata.name", "In", "node-a")]}), NODE, True, id="fields only"),
        pytest.param(affinity({}), NODE, False, id="empty term matches nothing"),
        pytest.param(affinity(), NODE, False, id="no terms matches nothing"),
        pytest.param({"nodeSelector": {"zone": "gz-3"},
                      **affinity({"matchExpressions": [expr("zone", "NotIn", "gz-3")]})},
                     NODE, False, id="nodeSelector AND affinity"),
    ],
)
def test_pod_fits_node_selection(spec: dict[str, Any], node: Node, expected: bool) -> None:
    assert pod_fits_node_selection(pod(spec=spec), node) is expected


def test_node_selector_matches_empty_selector() -> None:
    assert node_selector_matches({}, {})
    assert not node_selector_matches({"a": "b"}, {})
    assert from_builtins({"metadata": {"name": "x"}}, Node).metadata.labels == {}
