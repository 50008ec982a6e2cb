"""decide() end to end on both paths, and the patches that carry a decision out."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.model.kube import Pod, from_builtins
from spillway.policy.decision import Decision, Outcome, PlacementEvent, Trigger
from spillway.policy.engine import PlacementInput, decide
from spillway.policy.nodes import SuperNodeState
from spillway.policy.options import PolicyOptions
from spillway.policy.patches import cloud_patch, local_patch
from spillway.policy.switches import SwitchReason, SwitchVerdict
from spillway.policy.workload import WorkloadKey
from tests.policy.builders import container, pod_dict, super_node
from tests.policy.jsonpatch import PatchConflict, apply_patch

NODES = (SuperNodeState(super_node("eklet-a"), 3), SuperNodeState(super_node("eklet-b"), 1))
WL = WorkloadKey("Deployment", "default", "web")
GATED, UNSCHED = Trigger.GATED, Trigger.UNSCHEDULABLE


def make_input(
    trigger: Trigger,
    *,
    annotations: dict[str, str] | None = None,
    global_switch: str | None = None,
    local_count: int = 0,
    nodes: tuple[SuperNodeState, ...] = NODES,
    spec: dict[str, Any] | None = None,
    namespace: str = "default",
    options: PolicyOptions | None = None,
) -> PlacementInput:
    obj = pod_dict("web-1", namespace, annotations=annotations, gated=trigger is GATED, spec=spec)
    return PlacementInput(
        pod=from_builtins(obj, Pod), workload=WL, trigger=trigger, global_switch=global_switch,
        options=options or PolicyOptions(), local_count=local_count, super_nodes=nodes, now=100.0,
    )


LR2 = {"LOCAL_REPLICAS": "2"}
BIG_PORT = {"containers": [container(ports=[{"containerPort": 62000}])]}


@pytest.mark.parametrize(
    ("inputs", "outcome", "node", "reason", "event"),
    [
        # ---- gated path -----------------------------------------------------------------
        pytest.param(make_input(GATED, annotations=LR2, global_switch="false"), Outcome.LOCAL, None,
                     "GlobalSwitchOff", ("Normal", "KeptLocal"), id="gated: switch refused → local"),
        pytest.param(make_input(GATED), Outcome.LOCAL, None, "LocalReplicasUnset", ("Normal", "KeptLocal"),
                     id="gated: LOCAL_REPLICAS unset → local"),
        pytest.param(make_input(GATED, annotations={"LOCAL_REPLICAS": "x"}, local_count=9), Outcome.LOCAL, None,
                     "LocalReplicasUnset", ("Normal", "KeptLocal"), id="gated: LOCAL_REPLICAS invalid → local"),
        pytest.param(make_input(GATED, annotations=LR2, local_count=1), Outcome.LOCAL, None,
                     "LocalReplicasBelowQuota", ("Normal", "KeptLocal"), id="gated: below quota → local"),
        pytest.param(make_input(GATED, annotations=LR2, local_count=2), Outcome.CLOUD, "eklet-b",
                     "LocalQuotaReached", ("Normal", "BurstToCloud"), id="gated: quota reached → cloud"),
        pytest.param(make_input(GATED, annotations={"LOCAL_REPLICAS": "0"}), Outcome.CLOUD, "eklet-b",
                     "LocalQuotaReached", ("Normal", "BurstToCloud"), id="gated: zero quota → cloud"),
        pytest.param(make_input(GATED, annotations={**LR2, "AUTO_SCALE_EKS": "true"}, global_switch="false",
                                local_count=5), Outcome.CLOUD, "eklet-b", "LocalQuotaReached",
                     ("Normal", "BurstToCloud"), id="gated: workload true overrides global false"),
        pytest.param(make_input(GATED, annotations=LR2, local_count=2, spec=BIG_PORT), Outcome.LOCAL, None,
                     "ReservedContainerPort", ("Warning", "ReservedContainerPort"),
                     id="gated: ineligible → local with warning"),
        pytest.param(make_input(GATED, annotations=LR2, local_count=2, nodes=()), Outcome.LOCAL, None,
                     "NoSuperNode", ("Warning", "NoSuperNode"), id="gated: no super node → local with warning"),
        # ---- unschedulable path ---------------------------------------------------------
        pytest.param(make_input(UNSCHED, global_switch="false"), Outcome.STAY_PENDING, None, "GlobalSwitchOff",
                     ("Warning", "GlobalSwitchOff"), id="unschedulable: switch refused → pending"),
        pytest.param(make_input(UNSCHED, annotations={"AUTO_SCALE_EKS": "false"},
                                options=PolicyOptions(switch_precedence="workload")),
                     Outcome.STAY_PENDING, None, "WorkloadSwitchOff", ("Warning", "WorkloadSwitchOff"),
                     id="unschedulable: workload false wins under workload precedence"),
        pytest.param(make_input(UNSCHED, namespace="kube-system", spec=BIG_PORT), Outcome.STAY_PENDING, None,
                     "NamespaceExcluded", ("Warning", "NamespaceExcluded"),
                     id="unschedulable: ineligible → pending, first failing rule"),
        pytest.param(make_input(UNSCHED, nodes=(SuperNodeState(super_node("eklet-a", ready=False)),)),
                     Outcome.STAY_PENDING, None, "NoReadySuperNode", ("Warning", "NoReadySuperNode"),
                     id="unschedulable: no ready node → pending"),
        pytest.param(make_input(UNSCHED, annotations={"LOCAL_REPLICAS": "5"}), Outcome.CLOUD, "eklet-b",
                     "UnschedulableLocally", ("Normal", "BurstToCloud"),
                     id="unschedulable: LOCAL_REPLICAS ignored → cloud"),
    ],
)
def test_decide(inputs: PlacementInput, outcome: Outcome, node: str | None, reason: str,
                event: tuple[str, str]) -> None:
    decision = decide(inputs)
    assert (decision.outcome, decision.node, decision.reason, (decision.event.type, decision.event.reason)) == (
        outcome, node, reason, event)
    assert decision.event.message and "\n" not in decision.event.message
    assert len(decision.rules) == 9
    if outcome is Outcome.CLOUD:
        assert decision.toleration is not None and decision.deletion_cost == -100
        assert (decision.narrowed_affinity is not None) is (inputs.trigger is GATED)
    else:
        assert (decision.toleration, decision.deletion_cost, decision.narrowed_affinity) == (None, None, None)


def test_decision_whole_value_for_below_quota() -> None:
    decision = decide(make_input(GATED, annotations=LR2, local_count=1))
    assert decision == Decision(
        outcome=Outcome.LOCAL, node=None, reason="LocalReplicasBelowQuota",
        event=PlacementEvent("Normal", "KeptLocal", "replica 2 of 2 local (LOCAL_REPLICAS=2, 1 already local)"),
        trigger=GATED, rules=decision.rules,
        switch=SwitchVerdict(True, SwitchReason.GLOBAL_SWITCH_UNSET,
                             "bursting allowed: global AUTO_SCALE_EKS=unset, workload AUTO_SCALE_EKS=unset",
                             None, None),
        local_replicas=2, local_count=1,
    )
    assert all(r.allowed for r in decision.rules)


def test_ineligible_message_lists_every_failing_rule() -> None:
    decision = decide(make_input(UNSCHED, namespace="kube-system", spec=BIG_PORT))
    assert decision.event.message == (
        "unschedulable locally and cannot burst: NamespaceExcluded: namespace 'kube-system' is excluded from "
        "bursting (excludedNamespaces); ReservedContainerPort: ports in the range 61000-65534 reserved on super "
        "nodes: container 'app' containerPort 62000")
    assert [r.reason for r in decision.failing_rules] == ["NamespaceExcluded", "ReservedContainerPort"]


def test_malformed_annotations_become_warning_events() -> None:
    decision = decide(make_input(GATED, annotations={"LOCAL_REPLICAS": "-1", "AUTO_SCALE_EKS": "yes"},
                                 global_switch="sure"))
    assert [(e.type, e.reason) for e in decision.events()] == [
        ("Normal", "KeptLocal"), ("Warning", "MalformedAnnotation"), ("Warning", "MalformedAnnotation"),
        ("Warning", "MalformedAnnotation")]
    assert len(decision.warnings) == 3


# ---- patches ------------------------------------------------------------------------------

TOLERATION = {"key": "eks.tke.cloud.tencent.com/eklet", "operator": "Exists", "effect": "NoSchedule"}
COST = "controller.kubernetes.io/pod-deletion-cost"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PIN = {"key": "metadata.name", "operator": "In", "values": ["eklet-b"]}


def gated_cloud(obj: dict[str, Any]) -> tuple[Pod, Decision]:
    subject = from_builtins(obj, Pod)
    decision = decide(PlacementInput(subject, WL, GATED, options=PolicyOptions(), local_count=2, super_nodes=NODES))
    assert decision.outcome is Outcome.CLOUD
    return subject, decision


def test_cloud_patch_on_a_plain_gated_pod() -> None:
    obj = pod_dict(annotations=LR2, gated=True)
    subject, decision = gated_cloud(obj)
    patched = apply_patch(obj, cloud_patch(subject, decision))
    expected = pod_dict(annotations={**LR2, COST: "-100"}, spec={
        "tolerations": [TOLERATION],
        "affinity": {"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": [{"matchFields": [PIN]}]}}},
    })
    expected["spec"]["schedulingGates"] = []
    assert patched == expected


def test_cloud_patch_keeps_other_gates_tolerations_and_narrows_every_term() -> None:
    zone_term = {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                                       "values": ["ap-guangzhou-3"]}]}
    name_term = {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["eklet-a"]}]}
    obj = pod_dict(annotations=LR2, spec={
        "schedulingGates": [{"name": "other.io/gate"}, {"name": "spillway.io/placement"}],
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}],
        "affinity": {"podAntiAffinity": {"x": 1}, "nodeAffinity": {
            REQUIRED: {"nodeSelectorTerms": [zone_term, name_term]},
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1}]}},
    })
    subject, decision = gated_cloud(obj)
    patched = apply_patch(obj, cloud_patch(subject, decision))
    assert patched["spec"]["schedulingGates"] == [{"name": "other.io/gate"}]
    assert patched["spec"]["tolerations"][-1] == TOLERATION and len(patched["spec"]["tolerations"]) == 2
    assert patched["metadata"]["annotations"][COST] == "-100"
    assert patched["spec"]["affinity"] == {"podAntiAffinity": {"x": 1}, "nodeAffinity": {
        REQUIRED: {"nodeSelectorTerms": [{**zone_term, "matchFields": [PIN]},
                                         {"matchFields": [*name_term["matchFields"], PIN]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1}]}}
    narrowed = from_builtins(patched, Pod)
    assert narrowed.spec.affinity is not None and narrowed.spec.affinity.node_affinity is not None
    assert narrowed.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution == (
        decision.narrowed_affinity)


def test_cloud_patch_skips_toleration_already_present() -> None:
    obj = pod_dict(annotations=LR2, gated=True, spec={"tolerations": [{"operator": "Exists"}]})
    subject, decision = gated_cloud(obj)
    patched = apply_patch(obj, cloud_patch(subject, decision))
    assert patched["spec"]["tolerations"] == [{"operator": "Exists"}]


def test_unschedulable_cloud_patch_adds_toleration_and_cost_only() -> None:
    obj = pod_dict(spec={"nodeSelector": {"node.kubernetes.io/instance-type": "eklet"}})
    subject = from_builtins(obj, Pod)
    decision = decide(PlacementInput(subject, WL, UNSCHED, super_nodes=NODES))
    patched = apply_patch(obj, cloud_patch(subject, decision))
    expected = pod_dict(annotations={COST: "-100"},
                        spec={"nodeSelector": {"node.kubernetes.io/instance-type": "eklet"},
                              "tolerations": [TOLERATION]})
    assert patched == expected


def test_stale_view_makes_the_patch_fail_whole() -> None:
    obj = pod_dict(annotations=LR2, gated=True)
    subject, decision = gated_cloud(obj)
    already_lifted = {**obj, "spec": {**obj["spec"], "schedulingGates": [{"name": "other.io/gate"}]}}
    with pytest.raises(PatchConflict):
        apply_patch(already_lifted, cloud_patch(subject, decision))
    recreated = {**obj, "metadata": {**obj["metadata"], "uid": "another"}}
    with pytest.raises(PatchConflict):
        apply_patch(recreated, cloud_patch(subject, decision))


def test_cloud_patch_refuses_other_outcomes() -> None:
    inputs = make_input(GATED, annotations=LR2, local_count=0)
    with pytest.raises(ValueError):
        cloud_patch(inputs.pod, decide(inputs))


@pytest.mark.parametrize(
    ("gates", "remaining"),
    [
        pytest.param([{"name": "spillway.io/placement"}], [], id="only our gate"),
        pytest.param([{"name": "a"}, {"name": "spillway.io/placement"}, {"name": "b"}], [{"name": "a"}, {"name": "b"}],
                     id="between other gates"),
    ],
)
def test_local_patch_removes_only_our_gate(gates: list[dict[str, str]], remaining: list[dict[str, str]]) -> None:
    obj = pod_dict(spec={"schedulingGates": gates})
    patched = apply_patch(obj, local_patch(from_builtins(obj, Pod)))
    assert patched["spec"]["schedulingGates"] == remaining
    assert {k: v for k, v in patched.items() if k != "spec"} == {k: v for k, v in obj.items() if k != "spec"}


def test_local_patch_is_empty_without_our_gate() -> None:
    assert local_patch(from_builtins(pod_dict(), Pod)) == []
