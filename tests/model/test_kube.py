"""The pod predicates every layer shares, and the raw pod list decoded item by item."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from spillway.model.kube import Pod, decode_pod, decode_pod_list, from_builtins, raw_uid


def pod(**fields: Any) -> Pod:
    return from_builtins({"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}, **fields}, Pod)


def owner(kind: str, *, controller: bool | None) -> dict[str, Any]:
    ref: dict[str, Any] = {"apiVersion": "apps/v1", "kind": kind, "name": kind.lower(), "uid": f"{kind}-uid"}
    if controller is not None:
        ref["controller"] = controller
    return ref


@pytest.mark.parametrize(
    ("owners", "expected"),
    [
        pytest.param([owner("DaemonSet", controller=True)], True, id="controller DaemonSet"),
        pytest.param([owner("DaemonSet", controller=False), owner("ReplicaSet", controller=True)], False,
                     id="DaemonSet only a co-owner, ReplicaSet the controller"),
        pytest.param([owner("DaemonSet", controller=None)], False, id="DaemonSet owner without controller"),
        pytest.param([owner("ReplicaSet", controller=True)], False, id="ReplicaSet"),
        pytest.param([], False, id="bare pod"),
    ],
)
def test_daemonset_pod_follows_the_controller_owner(owners: list[dict[str, Any]], expected: bool) -> None:
    subject = pod(metadata={"name": "p", "namespace": "ns", "ownerReferences": owners})
    assert subject.is_daemonset_pod() is expected


@pytest.mark.parametrize(
    ("phase", "finished"),
    [("Pending", False), ("Running", False), ("Unknown", False), ("Succeeded", True), ("Failed", True)],
)
def test_is_finished(phase: str, finished: bool) -> None:
    assert pod(status={"phase": phase}).is_finished() is finished


UNSCHEDULABLE = {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}


@pytest.mark.parametrize(
    ("spec", "status", "awaiting"),
    [
        pytest.param({}, UNSCHEDULABLE, True, id="unschedulable, no gate"),
        pytest.param({"schedulingGates": [{"name": "other.io/gate"}]}, UNSCHEDULABLE, False,
                     id="unschedulable but gated by anyone"),
        pytest.param({"schedulingGates": [{"name": "spillway.io/placement"}]}, UNSCHEDULABLE, False,
                     id="unschedulable but gated by us"),
        pytest.param({}, {"conditions": [{"type": "PodScheduled", "status": "False",
                                          "reason": "SchedulingGated"}]}, False, id="scheduling gated"),
        pytest.param({}, {}, False, id="not tried yet"),
    ],
)
def test_awaiting_decision(spec: dict[str, Any], status: dict[str, Any], awaiting: bool) -> None:
    assert pod(spec=spec, status=status).awaiting_decision() is awaiting


def test_pod_list_keeps_items_raw_so_one_bad_pod_hides_no_other() -> None:
    raw = msgspec.json.encode({"kind": "PodList", "items": [
        {"metadata": {"name": "good", "uid": "u-good"}},
        {"metadata": {"name": "bad", "uid": "u-bad", "labels": "not a map"}},
        {"metadata": {"name": "worse", "uid": 7}},
        "not an object",
    ]})
    items = decode_pod_list(raw).items
    assert len(items) == 4
    assert decode_pod(items[0]).metadata.name == "good"
    with pytest.raises(msgspec.DecodeError):
        decode_pod(items[1])
    assert [raw_uid(item) for item in items] == ["u-good", "u-bad", "", ""]


def test_a_list_that_is_not_a_list_raises() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_pod_list(b'{"items": 3}')
