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
        pytest.param(pod_dict(annotations={"LOCAL_REPLICAS": "two"}), None, OPTS, True,
                     id="invalid → gate, so placement records why"),
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
            "pod annotation: LOCAL_REPLICAS='-2' is not an integer from 0 to 2147483647; treated as unset"],
            id="bad replicas"),
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


HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("annotations", "gate", "warned"),
    [
        pytest.param({**LR, "eks.tke.cloud.tencent.com/cpu": "Infinity"}, True, "eks.tke.cloud.tencent.com/cpu",
                     id="cpu Infinity: gated, warned"),
        pytest.param({**LR, "eks.tke.cloud.tencent.com/cpu": "-Infinity"}, True, "eks.tke.cloud.tencent.com/cpu",
                     id="cpu -Infinity: gated, warned"),
        pytest.param({**LR, "eks.tke.cloud.tencent.com/mem": "NaN"}, True, "eks.tke.cloud.tencent.com/mem",
                     id="mem NaN: gated, warned"),
        pytest.param({**LR, "eks.tke.cloud.tencent.com/mem": "1e30000000"}, True, None,
                     id="mem 1e30000000 is a valid (capped) quantity: gated, the size rule refuses it later"),
        pytest.param({**LR, "eks.tke.cloud.tencent.com/cpu": "1e99999999999"}, True, "eks.tke.cloud.tencent.com/cpu",
                     id="exponent beyond int32: gated, warned"),
        pytest.param({**LR, "eks.tke.cloud.tencent.com/cpu": HUGE}, True, "eks.tke.cloud.tencent.com/cpu",
                     id="5000-digit cpu: gated, warned"),
        pytest.param({"LOCAL_REPLICAS": HUGE}, True, "LOCAL_REPLICAS", id="5000-digit LOCAL_REPLICAS: warned, gated"),
        pytest.param({"LOCAL_REPLICAS": "2147483648"}, True, "LOCAL_REPLICAS", id="LOCAL_REPLICAS above int32"),
        pytest.param({"LOCAL_REPLICAS": "2147483647"}, True, None, id="LOCAL_REPLICAS at int32 max: gated"),
        pytest.param({**LR, "AUTO_SCALE_EKS": "x" * 70000}, True, "AUTO_SCALE_EKS", id="70000-char switch: warned"),
    ],
)
def test_hostile_annotations_are_bounded_warnings_never_errors(
    annotations: dict[str, str], gate: bool, warned: str | None
) -> None:
    result = review(from_builtins(pod_dict(annotations=annotations), Pod), None, OPTS)
    assert result.gate is gate
    assert bool(result.patch) is gate
    if warned is None:
        assert result.warnings == []
    else:
        assert len(result.warnings) == 1 and warned in result.warnings[0]
        assert len(result.warnings[0]) < 300  # the value is quoted cut, not whole


class FailingNamespaces(frozenset[str]):
    """An excluded-namespace set whose lookup fails: stands for any bug inside the review."""

    def __contains__(self, item: object) -> bool:
        raise RuntimeError("namespace lookup failed")


def test_an_unexpected_error_is_an_ungated_pod_with_a_warning() -> None:
    options = PolicyOptions(excluded_namespaces=FailingNamespaces({"kube-system"}))
    result = review(from_builtins(pod_dict(annotations=LR), Pod), None, options)
    assert not result.gate and result.patch == []
    assert result.reason.startswith("InternalError")
    assert result.warnings == [
        "InternalError: spillway could not review this pod (RuntimeError: namespace lookup failed); it is not gated"
    ]
