"""Admission: which pods get the placement gate, the warnings, and the gate patch."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.model.kube import Pod, from_builtins
from spillway.policy.admission import review, review_object
from spillway.policy.options import PolicyOptions
from tests.policy.builders import pod_dict
from tests.policy.jsonpatch import apply_patch

OPTS = PolicyOptions()
LR = {"LOCAL_REPLICAS": "1"}


@pytest.mark.parametrize(
    ("obj", "global_switch", "options", "gate"),
    [
        pytest.param(pod_dict(annotations=LR), None, OPTS, True, id="LOCAL_REPLICAS set, switch unset → gate"),
        pytest.param(pod_dict(annotations=LR), "true", OPTS, True, id="global true → gate"),
        pytest.param(pod_dict(), "true", OPTS, False, id="no LOCAL_REPLICAS → no gate"),
        pytest.param(pod_dict(annotations={"LOCAL_REPLICAS": "two"}), None, OPTS, False, id="invalid → no gate"),
        pytest.param(pod_dict(annotations=LR), "false", OPTS, False, id="global false → no gate"),
        pytest.param(pod_dict(annotations={**LR, "AUTO_SCALE_EKS": "true"}), "false", OPTS, True,
                     id="global false + workload true → gate"),
        pytest.param(pod_dict(annotations={**LR, "AUTO_SCALE_EKS": "false"}), "true", OPTS, True,
                     id="documented: workload false does not refuse"),
        pytest.param(pod_dict(annotations={**LR, "AUTO_SCALE_EKS": "false"}), "true",
                     PolicyOptions(switch_precedence="workload"), False, id="workload precedence: workload false"),
        pytest.param(pod_dict(annotations=LR, spec={"nodeName": "10.0.0.1"}), None, OPTS, False,
                     id="already bound → no gate"),
        pytest.param(pod_dict(namespace="kube-system", annotations=LR), None, OPTS, False,
                     id="excluded namespace → no gate"),
        pytest.param(pod_dict(annotations=LR, owner=("DaemonSet", "agent")), None, OPTS, False,
                     id="daemonset → no gate"),
        pytest.param(pod_dict(annotations=LR, owner=("ReplicaSet", "web-abc")), None, OPTS, True,
                     id="replicaset pod → gate"),
    ],
)
def test_gate_table(obj: dict[str, Any], global_switch: str | None, options: PolicyOptions, gate: bool) -> None:
    result = review(from_builtins(obj, Pod), global_switch, options)
    assert result.gate is gate
    assert bool(result.patch) is gate
    assert result.reason


def test_namespace_from_the_request_when_the_object_has_none() -> None:
    obj = pod_dict(annotations=LR)
    obj["metadata"].pop("namespace")
    assert not review_object(obj, None, OPTS, namespace="kube-system").gate
    assert review_object(obj, None, OPTS, namespace="shop").gate


@pytest.mark.parametrize(
    ("annotations", "global_switch", "warnings"),
    [
        pytest.param({"LOCAL_REPLICAS": "-2"}, None, [
            "pod annotation: LOCAL_REPLICAS='-2' is not a non-negative integer; treated as unset"], id="bad replicas"),
        pytest.param({**LR, "AUTO_SCALE_EKS": "yes"}, None, [
            "pod annotation: AUTO_SCALE_EKS='yes' is not \"true\" or \"false\"; treated as unset"],
            id="bad workload switch"),
        pytest.param(LR, "on", [
            "ConfigMap kube-system/eks-config: AUTO_SCALE_EKS='on' is not \"true\" or \"false\"; treated as unset"],
            id="bad global switch"),
        pytest.param({**LR, "eks.tke.cloud.tencent.com/cpu": "two"}, None, [
            "annotation eks.tke.cloud.tencent.com/cpu: invalid quantity 'two'; ignored, the size is computed from the "
            "containers"], id="bad cpu annotation"),
        pytest.param({**LR, "eks.tke.cloud.tencent.com/cpu": "2", "eks.tke.cloud.tencent.com/mem": "4Gi"}, None, [],
                     id="good annotations"),
    ],
)
def test_warnings(annotations: dict[str, str], global_switch: str | None, warnings: list[str]) -> None:
    assert review(from_builtins(pod_dict(annotations=annotations), Pod), global_switch, OPTS).warnings == warnings


@pytest.mark.parametrize(
    ("gates", "after"),
    [
        pytest.param(None, [{"name": "spillway.io/placement"}], id="no gates list"),
        pytest.param([{"name": "other.io/g"}], [{"name": "other.io/g"}, {"name": "spillway.io/placement"}],
                     id="existing gates list"),
        pytest.param([{"name": "spillway.io/placement"}], [{"name": "spillway.io/placement"}], id="already gated"),
    ],
)
def test_gate_patch(gates: list[dict[str, str]] | None, after: list[dict[str, str]]) -> None:
    obj = pod_dict(annotations=LR, spec={"schedulingGates": gates} if gates is not None else None)
    result = review(from_builtins(obj, Pod), None, OPTS)
    assert result.gate
    assert apply_patch(obj, result.patch)["spec"]["schedulingGates"] == after


def test_non_pod_object_is_not_gated() -> None:
    assert not review_object({"spec": {"containers": "nope"}}, None, OPTS).gate
