"""Property tests: random pods, annotations and nodes never crash decide() or review(), and every
refusal carries a reason code and a message. Whole hostile pods (tests/model/pod_strategies.py)
get an ordinary decision, and a rule that throws refuses only the pod that made it throw."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from spillway.model.kube import ANNOTATION_LOCAL_REPLICAS, PersistentVolumeClaim, Pod, from_builtins
from spillway.policy.admission import review
from spillway.policy.catalogue import reason_codes
from spillway.policy.decision import EVENT_MESSAGE_LIMIT, DecisionReason, EventReason, Outcome, Trigger
from spillway.policy.engine import PlacementInput, decide
from spillway.policy.nodes import SuperNodeState
from spillway.policy.options import PolicyOptions, SwitchPrecedence
from spillway.policy.patches import cloud_patch, local_patch
from spillway.policy.switches import evaluate_switches
from spillway.policy.workload import WorkloadKey
from tests.model.pod_strategies import hostile_text
from tests.model.pod_strategies import pods as whole_pods
from tests.policy.builders import pod_dict, pv, pvc, super_node
from tests.policy.jsonpatch import apply_patch

texts = st.one_of(st.sampled_from(["true", "false", "0", "1", "3", "-1", "x", "", "65535 65535", "1Gi", "250m"]),
                  st.text(max_size=6))
ports = st.integers(min_value=1, max_value=65535)
probe = st.one_of(st.none(), st.fixed_dictionaries({"httpGet": st.fixed_dictionaries(
    {"port": st.one_of(ports, st.sampled_from(["web", "admin", "none"]))})}),
    st.fixed_dictionaries({"grpc": st.fixed_dictionaries({"port": ports})}))
quantity = st.sampled_from(["100m", "1", "4", "70", "128Mi", "8Gi", "600Gi", "bad"])
containers = st.lists(st.builds(
    lambda p, lp, cpu, mem: {"name": "c", "ports": [{"containerPort": p, "name": "web"}],
                             **({"livenessProbe": lp} if lp else {}),
                             "resources": {"requests": {"cpu": cpu, "memory": mem}}},
    ports, probe, quantity, quantity), min_size=1, max_size=3)
volumes = st.lists(st.sampled_from([
    {"name": "a", "emptyDir": {}}, {"name": "b", "persistentVolumeClaim": {"claimName": "ok"}},
    {"name": "c", "persistentVolumeClaim": {"claimName": "missing"}}, {"name": "d", "rbd": {}},
    {"name": "e", "csi": {"driver": 5}}, {"name": "f"},
]), max_size=3)
annotation_keys = st.sampled_from(["AUTO_SCALE_EKS", "LOCAL_REPLICAS", "eks.tke.cloud.tencent.com/cpu",
                                   "eks.tke.cloud.tencent.com/mem", "tke.cloud.tencent.com/vpc-ip-claim-delete-policy"])
terms = st.lists(st.fixed_dictionaries({"matchExpressions": st.lists(st.fixed_dictionaries({
    "key": st.sampled_from(["topology.kubernetes.io/zone", "node.kubernetes.io/instance-type", "x"]),
    "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Weird"]),
    "values": st.lists(st.sampled_from(["gz-3", "eklet", "5", "a"]), max_size=2)}), max_size=2)}), max_size=2)


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": draw(containers),
        "volumes": draw(volumes),
        "securityContext": {"sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": draw(texts)}]},
    }
    if draw(st.booleans()):
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": draw(terms)}}}
    if draw(st.booleans()):
        spec["tolerations"] = [{"operator": "Exists"}]
    return pod_dict(
        "p", draw(st.sampled_from(["default", "kube-system"])),
        annotations=draw(st.dictionaries(annotation_keys, texts, max_size=5)),
        gated=draw(st.booleans()),
        owner=draw(st.sampled_from([None, ("ReplicaSet", "rs"), ("DaemonSet", "ds")])),
        spec=spec,
    )


nodes = st.lists(st.builds(
    lambda i, ready, cordoned, pods, zone, assigned: SuperNodeState(
        super_node(f"eklet-{i}", ready=ready, cordoned=cordoned, pods=pods, zone=zone), assigned),
    st.integers(0, 9), st.booleans(), st.booleans(), st.sampled_from([None, "0", "10", "x"]),
    st.sampled_from(["gz-3", "gz-4"]), st.integers(0, 12)), max_size=3)
PVCS = {"ok": pvc("ok", "pv-ok")}
PVS = {"pv-ok": pv("pv-ok", {"nfs": {"server": "s", "path": "/"}})}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pods(), st.one_of(st.none(), texts), st.sampled_from(list(Trigger)), st.integers(0, 5), nodes,
       st.sampled_from(["documented", "workload"]))
def test_decide_never_crashes_and_always_explains(
    obj: dict[str, Any], global_switch: str | None, trigger: Trigger, local_count: int,
    super_nodes: list[SuperNodeState], precedence: SwitchPrecedence,
) -> None:
    subject = from_builtins(obj, Pod)
    options = PolicyOptions(switch_precedence=precedence)
    decision = decide(PlacementInput(
        subject, WorkloadKey("Pod", "default", "p"), trigger, global_switch, options, local_count, super_nodes,
        {"gz-4": 50.0}, 10.0, lambda ns, name: PVCS.get(name), PVS.get))
    assert decision.reason in reason_codes()
    assert decision.event.reason and decision.event.message
    for result in decision.rules:
        assert result.allowed or (result.reason and result.message)
    if decision.event.type == "Warning":
        assert decision.event.reason in reason_codes()
    if decision.outcome is Outcome.CLOUD:
        assert decision.node and all(r.allowed for r in decision.rules)
        patched = apply_patch(obj, cloud_patch(subject, decision))
        assert not from_builtins(patched, Pod).is_gated_by()
    if trigger is Trigger.GATED:
        assert decision.outcome in (Outcome.LOCAL, Outcome.CLOUD)
        if decision.outcome is Outcome.LOCAL:
            assert not from_builtins(apply_patch(obj, local_patch(subject)), Pod).is_gated_by()
    else:
        assert decision.outcome in (Outcome.STAY_PENDING, Outcome.CLOUD)


@settings(max_examples=200, deadline=None)
@given(pods(), st.one_of(st.none(), texts))
def test_review_never_crashes(obj: dict[str, Any], global_switch: str | None) -> None:
    result = review(from_builtins(obj, Pod), global_switch, PolicyOptions())
    assert result.reason
    assert all(w for w in result.warnings)
    if result.gate:
        assert from_builtins(apply_patch(obj, result.patch), Pod).is_gated_by()


# ---- whole pods, hostile values ---------------------------------------------------------------

WARNING_LIMIT = 400
"""A warning quotes a cut value: never the 5,000 digits or 70,000 characters it was given."""
HOSTILE_PVCS = {"cbs": pvc("cbs", "pv-cbs"), "nfs": pvc("nfs", "pv-nfs"), "ceph": pvc("ceph", "pv-ceph"),
                "unbound": pvc("unbound")}
HOSTILE_PVS = {"pv-cbs": pv("pv-cbs", {"csi": {"driver": "com.tencent.cloud.csi.cbs", "volumeHandle": "disk-1"}}),
               "pv-nfs": pv("pv-nfs", {"nfs": {"server": "s", "path": "/"}}),
               "pv-ceph": pv("pv-ceph", {"cephfs": {"monitors": ["m"]}})}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(whole_pods(), st.one_of(st.none(), hostile_text, st.sampled_from(["true", "false"])),
       st.sampled_from(list(Trigger)), st.integers(0, 5), nodes)
def test_decide_handles_every_whole_pod_without_the_safety_net(
    obj: dict[str, Any], global_switch: str | None, trigger: Trigger, local_count: int,
    super_nodes: list[SuperNodeState],
) -> None:
    """Every pod the API accepts, however hostile its annotations and quantities, gets an
    ordinary decision: never an exception, never the InternalError safety net."""
    subject = from_builtins(obj, Pod)
    decision = decide(PlacementInput(
        subject, WorkloadKey("Pod", subject.metadata.namespace, "p"), trigger, global_switch, PolicyOptions(),
        local_count, super_nodes, {}, 10.0, lambda ns, name: HOSTILE_PVCS.get(name), HOSTILE_PVS.get))
    event(f"{decision.outcome}: {decision.reason}")
    assert decision.reason != DecisionReason.INTERNAL_ERROR, decision.event.message
    assert decision.reason in reason_codes()
    assert all(len(w) <= WARNING_LIMIT for w in decision.warnings)
    assert all(len(r.message) <= EVENT_MESSAGE_LIMIT for r in decision.rules)
    assert all(e.reason == EventReason.MALFORMED_ANNOTATION for e in decision.events()[1:])
    raw_quota = subject.metadata.annotations.get(ANNOTATION_LOCAL_REPLICAS)
    if raw_quota is not None and decision.local_replicas is None:
        assert any(ANNOTATION_LOCAL_REPLICAS in w for w in decision.warnings)
    if decision.local_replicas is not None:
        assert 0 <= decision.local_replicas <= 2**31 - 1
    if trigger is Trigger.GATED:
        assert decision.outcome in (Outcome.LOCAL, Outcome.CLOUD)
    else:
        assert decision.outcome in (Outcome.STAY_PENDING, Outcome.CLOUD)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(whole_pods(), st.one_of(st.none(), hostile_text))
def test_review_handles_every_whole_pod(obj: dict[str, Any], global_switch: str | None) -> None:
    """Admission answers every pod: malformed annotations are bounded warnings, never an error,
    and never stop the gate when the rest of the pod calls for it."""
    subject = from_builtins(obj, Pod)
    result = review(subject, global_switch, PolicyOptions())
    assert not result.reason.startswith("InternalError"), result.reason
    assert all(len(w) <= WARNING_LIMIT for w in result.warnings)
    annotations = subject.metadata.annotations
    # a malformed value is gated too, so placement records why it is kept local
    has_quota = ANNOTATION_LOCAL_REPLICAS in annotations
    switch, _ = evaluate_switches(global_switch, annotations)
    expected_gate = (switch.allowed and has_quota and not subject.spec.node_name
                     and subject.metadata.namespace not in PolicyOptions().excluded_namespaces
                     and not subject.is_daemonset_pod())
    assert result.gate is expected_gate


class PoisonedLookupError(RuntimeError):
    """What a broken PVC view raises in the test below."""


def poisoned_lookup(namespace: str, name: str) -> PersistentVolumeClaim | None:
    if name == "poison":
        raise PoisonedLookupError("the claim view failed")
    return HOSTILE_PVCS.get(name)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(whole_pods(), st.booleans(), st.sampled_from(list(Trigger)))
def test_an_exception_inside_a_rule_refuses_that_pod_alone(obj: dict[str, Any], poisoned: bool,
                                                           trigger: Trigger) -> None:
    """A rule that throws (here: the volume rule's claim lookup) makes an InternalError refusal
    for the pod that hit it (kept local when gated, left pending when unschedulable, a Warning),
    and the same inputs decide every other pod normally."""
    if poisoned:
        obj = {**obj, "spec": {**obj["spec"], "volumes": [{"name": "bad", "persistentVolumeClaim": {
            "claimName": "poison"}}]}}
    subject = from_builtins(obj, Pod)
    decision = decide(PlacementInput(
        subject, WorkloadKey("Pod", "default", "p"), trigger, None, PolicyOptions(), 0,
        [SuperNodeState(super_node("eklet-0"), 0)], {}, 10.0, poisoned_lookup, HOSTILE_PVS.get))
    if not poisoned:
        assert decision.reason != DecisionReason.INTERNAL_ERROR
        return
    assert decision.reason == DecisionReason.INTERNAL_ERROR
    assert decision.event.type == "Warning" and decision.event.reason == "InternalError"
    assert "PoisonedLookupError" in decision.event.message
    assert decision.outcome is (Outcome.LOCAL if trigger is Trigger.GATED else Outcome.STAY_PENDING)
    assert decision.node is None and decision.toleration is None
    if trigger is Trigger.GATED:
        assert not from_builtins(apply_patch(obj, local_patch(subject)), Pod).is_gated_by()
