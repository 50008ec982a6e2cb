"""The sandbox's node matching against Kubernetes' documented semantics (taints and
tolerations, nodeSelector, required node affinity) and the upstream helpers' corner cases,
including those where a reimplementation could plausibly answer otherwise (empty terms,
requirements that do not parse, matchFields on other fields, Go's integer parsing)."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.sandbox import nodematch
from spillway.sandbox.controllers.daemonset import should_run
from tests.fixtures.affinity import Obj, affinity, expr, exprs, field

TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}

TOLERATES = [
    ("equal: same key, value and effect", {"key": "dedicated", "operator": "Equal", "value": "gpu",
                                           "effect": "NoSchedule"}, TAINT, True),
    ("no operator means Equal", {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}, TAINT, True),
    ("equal: other value", {"key": "dedicated", "value": "cpu", "effect": "NoSchedule"}, TAINT, False),
    ("equal: empty value against a taint without value", {"key": "k", "operator": "Equal"},
     {"key": "k", "effect": "NoSchedule"}, True),
    ("equal: empty value against a valued taint", {"key": "dedicated", "operator": "Equal"}, TAINT, False),
    ("exists: any value of the key", {"key": "dedicated", "operator": "Exists"}, TAINT, True),
    ("exists: the value is ignored", {"key": "dedicated", "operator": "Exists", "value": "x"}, TAINT, True),
    ("exists: other key", {"key": "other", "operator": "Exists"}, TAINT, False),
    ("exists, empty key: every taint", {"operator": "Exists"}, {"key": "x", "value": "y", "effect": "NoExecute"},
     True),
    ("exists, empty key, an effect: only that effect", {"operator": "Exists", "effect": "NoExecute"}, TAINT, False),
    ("empty effect: every effect", {"key": "dedicated", "operator": "Exists"},
     {"key": "dedicated", "effect": "PreferNoSchedule"}, True),
    ("effect must match", {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}, TAINT, False),
    ("PreferNoSchedule toleration does not cover NoSchedule",
     {"key": "dedicated", "operator": "Exists", "effect": "PreferNoSchedule"}, TAINT, False),
    # The API refuses an empty key without Exists, but the matcher itself takes it as "any key".
    ("equal, empty key: any key with the same value", {"operator": "Equal", "value": "gpu"}, TAINT, True),
    ("unknown operator tolerates nothing", {"key": "dedicated", "operator": "Gt", "value": "1"},
     {"key": "dedicated", "value": "2", "effect": "NoSchedule"}, False),
    ("operators are case-sensitive", {"key": "dedicated", "operator": "exists"}, TAINT, False),
    ("null fields read as empty", {"key": None, "operator": None, "value": None, "effect": None},
     {"key": "k", "value": None, "effect": "NoSchedule"}, True),
]


@pytest.mark.parametrize(("toleration", "taint", "expected"), [c[1:] for c in TOLERATES],
                         ids=[c[0] for c in TOLERATES])
def test_tolerates(toleration: Obj, taint: Obj, expected: bool) -> None:
    assert nodematch.tolerates(toleration, taint) is expected


NO_SCHEDULE = {"key": "a", "effect": "NoSchedule"}
NO_EXECUTE = {"key": "b", "effect": "NoExecute"}
PREFER = {"key": "c", "effect": "PreferNoSchedule"}
UNTOLERATED = [
    ("no taints", [], [], None),
    ("null taints", [], None, None),
    ("PreferNoSchedule never filters", [], [PREFER], None),
    ("NoSchedule filters", [], [PREFER, NO_SCHEDULE], NO_SCHEDULE),
    ("NoExecute filters", [], [NO_EXECUTE], NO_EXECUTE),
    ("the first untolerated one", [{"key": "a", "operator": "Exists"}], [NO_SCHEDULE, NO_EXECUTE, NO_SCHEDULE],
     NO_EXECUTE),
    ("all tolerated", [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}],
     [NO_SCHEDULE, NO_EXECUTE], None),
    ("tolerate-everything", [{"operator": "Exists"}], [NO_SCHEDULE, NO_EXECUTE, PREFER], None),
]


@pytest.mark.parametrize(("tolerations", "taints", "expected"), [c[1:] for c in UNTOLERATED],
                         ids=[c[0] for c in UNTOLERATED])
def test_first_untolerated(tolerations: list[Obj], taints: list[Obj] | None, expected: Obj | None) -> None:
    assert nodematch.first_untolerated(tolerations, taints) == expected


def test_first_untolerated_other_effects() -> None:
    assert nodematch.first_untolerated([], [NO_SCHEDULE, PREFER], frozenset({"PreferNoSchedule"})) == PREFER


NODE = {"metadata": {"name": "node-1", "labels": {"zone": "a", "disk": "ssd", "cores": "8", "empty": "",
                                                 "big": "99999999999999999999"}}}






SELECTION = [
    ("no constraint", {}, True),
    # nodeSelector: every pair, exactly
    ("nodeSelector match", {"nodeSelector": {"zone": "a", "disk": "ssd"}}, True),
    ("nodeSelector one pair off", {"nodeSelector": {"zone": "a", "disk": "hdd"}}, False),
    ("nodeSelector empty value needs the label", {"nodeSelector": {"gpu": ""}}, False),
    ("nodeSelector empty value present", {"nodeSelector": {"empty": ""}}, True),
    ("nodeSelector is never validated", {"nodeSelector": {"bad key!": "x"}}, False),
    # operators
    ("In", affinity(exprs(expr("zone", "In", "b", "a"))), True),
    ("In, absent label", affinity(exprs(expr("gpu", "In", "yes"))), False),
    ("NotIn, other value", affinity(exprs(expr("zone", "NotIn", "b"))), True),
    ("NotIn, listed value", affinity(exprs(expr("zone", "NotIn", "a", "b"))), False),
    ("NotIn, absent label matches", affinity(exprs(expr("gpu", "NotIn", "yes"))), True),
    ("Exists", affinity(exprs(expr("disk", "Exists"))), True),
    ("Exists, empty-valued label", affinity(exprs(expr("empty", "Exists"))), True),
    ("Exists, absent", affinity(exprs(expr("gpu", "Exists"))), False),
    ("DoesNotExist", affinity(exprs(expr("gpu", "DoesNotExist"))), True),
    ("DoesNotExist, present", affinity(exprs(expr("disk", "DoesNotExist"))), False),
    ("Gt", affinity(exprs(expr("cores", "Gt", "4"))), True),
    ("Gt, equal is not greater", affinity(exprs(expr("cores", "Gt", "8"))), False),
    ("Lt", affinity(exprs(expr("cores", "Lt", "16"))), True),
    ("Lt, compares integers not strings", affinity(exprs(expr("cores", "Lt", "10"))), True),
    ("Gt, leading zeros are decimal", affinity(exprs(expr("cores", "Gt", "007"))), True),
    ("Gt, label not an integer", affinity(exprs(expr("zone", "Gt", "1"))), False),
    ("Gt, label beyond int64", affinity(exprs(expr("big", "Gt", "1"))), False),
    ("Lt, absent label", affinity(exprs(expr("gpu", "Lt", "1"))), False),
    # a term ANDs, the terms OR
    ("expressions ANDed", affinity(exprs(expr("zone", "In", "a"), expr("disk", "In", "hdd"))), False),
    ("expressions ANDed, all hold", affinity(exprs(expr("zone", "In", "a"), expr("cores", "Gt", "2"))), True),
    ("terms ORed", affinity(exprs(expr("zone", "In", "b")), exprs(expr("disk", "In", "ssd"))), True),
    ("terms ORed, none holds", affinity(exprs(expr("zone", "In", "b")), exprs(expr("disk", "In", "hdd"))), False),
    ("nodeSelector AND affinity", {"nodeSelector": {"zone": "b"}, **affinity(exprs(expr("disk", "Exists")))},
     False),
    # empty shapes
    ("an empty term matches nothing", affinity({}), False),
    ("an empty term beside a matching one", affinity({}, exprs(expr("zone", "In", "a"))), True),
    ("empty lists make an empty term", affinity({"matchExpressions": [], "matchFields": []}), False),
    ("a required affinity without terms matches nothing", affinity(), False),
    ("a null required affinity is no constraint",
     {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": None}}}, True),
    ("only preferred affinity is no constraint", {"affinity": {"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": exprs(
            expr("zone", "In", "b"))}]}}}, True),
    # matchFields
    ("matchFields name In", affinity({"matchFields": [field("In", "node-1")]}), True),
    ("matchFields name In, other node", affinity({"matchFields": [field("In", "node-2")]}), False),
    ("matchFields name NotIn", affinity({"matchFields": [field("NotIn", "node-1")]}), False),
    ("matchFields name NotIn, other node", affinity({"matchFields": [field("NotIn", "node-2")]}), True),
    ("matchFields ANDed with expressions", affinity({"matchFields": [field("In", "node-1")],
                                                     "matchExpressions": [expr("zone", "In", "b")]}), False),
    ("matchFields In needs exactly one value", affinity({"matchFields": [field("In", "node-1", "node-2")]}), False),
    ("matchFields knows no Exists", affinity({"matchFields": [{"key": "metadata.name", "operator": "Exists"}]}),
     False),
    ("matchFields: another field reads empty (NotIn)", affinity({"matchFields": [field("NotIn", "x",
                                                                                       key="spec.x")]}), True),
    ("matchFields: another field reads empty (In)", affinity({"matchFields": [field("In", "", key="spec.x")]}),
     True),
    # a requirement that does not parse sinks its term, and only its term
    ("bad key", affinity(exprs(expr("bad key", "DoesNotExist"))), False),
    ("bad value", affinity(exprs(expr("zone", "NotIn", "not a label value"))), False),
    ("a trailing newline makes a bad key", affinity(exprs(expr("gpu\n", "DoesNotExist"))), False),
    ("Exists with values", affinity(exprs(expr("zone", "Exists", "a"))), False),
    ("NotIn without values", affinity(exprs(expr("zone", "NotIn"))), False),
    ("Gt with two values", affinity(exprs(expr("cores", "Gt", "1", "2"))), False),
    ("Gt with a negative value (no label value)", affinity(exprs(expr("cores", "Gt", "-1"))), False),
    ("Gt with a signed value (no label value)", affinity(exprs(expr("cores", "Gt", "+1"))), False),
    ("Gt with no integer", affinity(exprs(expr("cores", "Gt", "four"))), False),
    ("unknown operator", affinity(exprs(expr("zone", "Equals", "a"))), False),
    ("unparsable term beside a matching one", affinity(exprs(expr("zone", "Exists", "a")),
                                                       exprs(expr("zone", "In", "a"))), True),
    ("unparsable requirement in a term that would match",
     affinity(exprs(expr("zone", "In", "a"), expr("disk", "NotIn")), ), False),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in SELECTION], ids=[c[0] for c in SELECTION])
def test_fits_node_selection(spec: Obj, expected: bool) -> None:
    assert nodematch.fits_node_selection(spec, NODE) is expected


def test_a_node_without_name_has_no_fields() -> None:
    nameless = {"metadata": {"labels": {"zone": "a"}}}
    spec = affinity({"matchFields": [field("In", "node-1")], "matchExpressions": [expr("zone", "In", "a")]})
    assert nodematch.fits_node_selection(spec, nameless)


@pytest.mark.parametrize(("text", "value"), [
    ("0", 0), ("42", 42), ("+42", 42), ("-42", -42), ("007", 7), ("0" * 40 + "1", 1),
    ("9223372036854775807", 2**63 - 1), ("-9223372036854775808", -(2**63)),
    ("9223372036854775808", None), ("1" * 10_000, None), ("", None), ("+", None), ("1_000", None),
    (" 1", None), ("1.0", None), ("0x10", None), ("١٢", None), (None, None),
])
def test_parse_int64(text: Any, value: int | None) -> None:
    assert nodematch.parse_int64(text) == value


SUPER = {"metadata": {"name": "eklet-1", "labels": {"type": "virtual-kubelet"}},
         "spec": {"taints": [{"key": "eks.tke.cloud.tencent.com/eklet", "effect": "NoSchedule"}]}}
PLAIN = {"metadata": {"name": "node-1", "labels": {"zone": "a"}}, "spec": {}}
CORDONED = {"metadata": {"name": "node-2"},
            "spec": {"unschedulable": True, "taints": [{"key": "node.kubernetes.io/unschedulable",
                                                        "effect": "NoSchedule"},
                                                       {"key": "node.kubernetes.io/not-ready",
                                                        "effect": "NoExecute"}]}}
SHOULD_RUN = [
    ("plain node", {}, PLAIN, True),
    ("super node taint", {}, SUPER, False),
    ("tolerate-everything reaches super nodes", {"tolerations": [{"operator": "Exists"}]}, SUPER, True),
    ("default tolerations cover cordoned and not-ready nodes", {}, CORDONED, True),
    ("the template's nodeSelector", {"nodeSelector": {"zone": "b"}}, PLAIN, False),
    # the pin replaces the template's own metadata.name field, so it cannot exclude the node
    ("template's own name field is replaced", affinity({"matchFields": [field("In", "elsewhere")]}), PLAIN, True),
    ("template's expressions still count", affinity(exprs(expr("zone", "In", "b"))), PLAIN, False),
]


@pytest.mark.parametrize(("template_spec", "node", "expected"), [c[1:] for c in SHOULD_RUN],
                         ids=[c[0] for c in SHOULD_RUN])
def test_daemonset_should_run(template_spec: Obj, node: Obj, expected: bool) -> None:
    assert should_run(template_spec, node) is expected
