"""Property tests: random pods, annotations and nodes never crash decide() or review(), and every
refusal carries a reason code and a message."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spillway.model.kube import Pod, from_builtins
from spillway.policy.admission import review
from spillway.policy.catalogue import reason_codes
from spillway.policy.decision import Outcome, Trigger
from spillway.policy.engine import PlacementInput, decide
from spillway.policy.nodes import SuperNodeState
from spillway.policy.options import PolicyOptions
from spillway.policy.patches import cloud_patch, local_patch
from spillway.policy.workload import WorkloadKey
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
    super_nodes: list[SuperNodeState], precedence: str,
) -> None:
    subject = from_builtins(obj, Pod)
    options = PolicyOptions(switch_precedence=precedence)  # type: ignore[arg-type]
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
