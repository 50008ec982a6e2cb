"""decide() end to end on both paths, and the patches that carry a decision out."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.model.kube import Pod, from_builtins
from spillway.policy.decision import Decision, Outcome, PlacementEvent, Trigger
from spillway.policy.engine import PlacementInput, decide
from spillway.policy.nodes import SuperNodeState
from spillway.policy.options import PolicyOptions
from spillway.policy.patches import ANNOTATION_CLOUD_BIND, cloud_patch, local_patch, owed_bind_node
from spillway.policy.rules import REGISTRY
from spillway.policy.rules.backoff import CloudBackoff, next_backoff
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
    assert [r.name for r in decision.rules] == list(REGISTRY)
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
    expected = pod_dict(annotations={**LR2, COST: "-100", ANNOTATION_CLOUD_BIND: "eklet-b/uid-web-1"}, spec={
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
    expected = pod_dict(annotations={COST: "-100", ANNOTATION_CLOUD_BIND: "eklet-b/uid-web-1"},
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


# ---- the owed-bind record -----------------------------------------------------------------


def test_owed_bind_record_names_the_node_for_this_pod_only() -> None:
    obj = pod_dict(annotations=LR2, gated=True)
    subject, decision = gated_cloud(obj)
    patched = from_builtins(apply_patch(obj, cloud_patch(subject, decision)), Pod)
    assert owed_bind_node(patched) == "eklet-b"
    # a copy of the YAML is another pod (another uid): the record is not its own
    copy = pod_dict(annotations=patched.metadata.annotations, uid="uid-of-the-copy")
    assert owed_bind_node(from_builtins(copy, Pod)) is None
    for forged in ("eklet-b", "/uid-web-1", "eklet-b/", ""):
        assert owed_bind_node(from_builtins(pod_dict(annotations={ANNOTATION_CLOUD_BIND: forged}), Pod)) is None


# ---- the cloud-failure back-off -------------------------------------------------------------

QUOTA = "QuotaExceeded"


def test_backoff_grows_from_30s_doubling_to_10min_and_restarts_after_a_long_quiet() -> None:
    first = next_backoff(None, 1000.0, QUOTA)
    assert first == CloudBackoff(until=1030.0, failures=1, cooldown=30.0, last_reason=QUOTA, started=1000.0)
    assert next_backoff(first, 1010.0, QUOTA) is None  # decided before the cool-down: does not double it
    second = next_backoff(first, 1040.0, "InstanceCreateFailed")
    assert second is not None and (second.cooldown, second.failures, second.until) == (60.0, 2, 1100.0)
    assert second.last_reason == "InstanceCreateFailed"
    current = second
    for _ in range(10):
        after = next_backoff(current, current.until + 1, QUOTA)
        assert after is not None
        current = after
    assert current.cooldown == 600.0
    fresh = next_backoff(current, current.until + 601, QUOTA)
    assert fresh is not None and (fresh.cooldown, fresh.failures) == (30.0, 1)


BACKOFF = CloudBackoff(until=130.0, failures=2, cooldown=60.0, last_reason=QUOTA, started=70.0)


@pytest.mark.parametrize(
    ("trigger", "extra", "outcome", "reason"),
    [
        pytest.param(GATED, {"annotations": {"LOCAL_REPLICAS": "0"}}, Outcome.LOCAL, "CloudFailureBackoff",
                     id="gated: kept local with a warning"),
        pytest.param(UNSCHED, {}, Outcome.STAY_PENDING, "CloudFailureBackoff", id="unschedulable: stays pending"),
        pytest.param(GATED, {"annotations": {"LOCAL_REPLICAS": "0"}, "now": 130.0}, Outcome.CLOUD,
                     "LocalQuotaReached", id="gated: cool-down over → cloud"),
        pytest.param(UNSCHED, {"backoff": None}, Outcome.CLOUD, "UnschedulableLocally", id="no back-off → cloud"),
    ],
)
def test_backoff_rule_keeps_the_workload_off_the_super_nodes(trigger: Trigger, extra: dict[str, Any],
                                                              outcome: Outcome, reason: str) -> None:
    base = make_input(trigger, annotations=extra.get("annotations"))
    inputs = PlacementInput(pod=base.pod, workload=WL, trigger=trigger, super_nodes=NODES,
                            now=extra.get("now", 100.0), cloud_backoff=extra.get("backoff", BACKOFF))
    decision = decide(inputs)
    assert (decision.outcome, decision.reason) == (outcome, reason)
    result = next(r for r in decision.rules if r.name == "cloud-failure-backoff")
    assert result.allowed is (reason != "CloudFailureBackoff")
    if not result.allowed:
        assert decision.event.type == "Warning" and decision.event.reason == "CloudFailureBackoff"
        assert "failed 2 time(s) in a row (last: QuotaExceeded)" in decision.event.message
        assert "until 00:02:10Z" in decision.event.message
