"""`local_fit`: would the default scheduler find room for a pod on a local node — every filter as a
table, the request arithmetic, and the replacement's view of a pod placement pinned to a super node."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from spillway.model.kube import Node, Pod, from_builtins
from spillway.policy.local_fit import (
    LocalNode,
    UnreadableRequest,
    find_room,
    local_node,
    pinned_to_its_node,
    pod_requests,
    replacement_view,
)
from tests.fixtures.affinity import affinity, expr, field
from tests.policy.builders import container, pod


def node(name: str = "idc-1", *, cpu: str = "2", memory: str = "4Gi", pods: str = "110", ready: bool = True,
         cordoned: bool = False, taints: list[dict[str, str]] | None = None,
         labels: dict[str, str] | None = None) -> Node:
    obj: dict[str, Any] = {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"taints": taints or [], **({"unschedulable": True} if cordoned else {})},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }
    return from_builtins(obj, Node)


def sized(name: str = "web-1", cpu: str = "500m", memory: str = "256Mi", spec: dict[str, Any] | None = None,
          **kwargs: Any) -> Pod:
    """A pod asking for `cpu` and `memory` (spec fields merged over, containers replaced)."""
    fields = {"containers": [container(resources={"requests": {"cpu": cpu, "memory": memory}})], **(spec or {})}
    return pod(name, spec=fields, **kwargs)


def bound(name: str, node_name: str, cpu: str = "500m", **kwargs: Any) -> Pod:
    return sized(name, cpu, spec={"nodeName": node_name}, **kwargs)


@pytest.mark.parametrize(("local", "candidate", "expected"), [
    pytest.param(local_node(node(), []), sized(), "room on local node idc-1", id="empty-node"),
    pytest.param(local_node(node(), [bound("a", "idc-1", "1500m")]), sized(), "room on local node idc-1",
                 id="exactly-full-after"),
    pytest.param(local_node(node(), [bound("a", "idc-1", "1600m")]), sized(),
                 "0/1 local nodes have room: 1 Insufficient cpu", id="cpu"),
    pytest.param(local_node(node(memory="256Mi"), []), sized(memory="257Mi"),
                 "0/1 local nodes have room: 1 Insufficient memory", id="memory"),
    pytest.param(local_node(node(pods="1"), [bound("a", "idc-1", "0")]), sized(),
                 "0/1 local nodes have room: 1 Too many pods", id="pod-count"),
    pytest.param(local_node(node(ready=False), []), sized(), "0/1 local nodes have room: 1 node(s) were not ready",
                 id="not-ready"),
    pytest.param(local_node(node(cordoned=True), []), sized(),
                 "0/1 local nodes have room: 1 node(s) were unschedulable", id="cordoned"),
    pytest.param(local_node(node(taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]), []), sized(),
                 "0/1 local nodes have room: 1 node(s) had untolerated taint(s)", id="taint"),
    pytest.param(local_node(node(taints=[{"key": "dedicated", "value": "db", "effect": "PreferNoSchedule"}]), []),
                 sized(), "room on local node idc-1", id="prefer-no-schedule-is-only-a-score"),
    pytest.param(local_node(node(labels={"disk": "hdd"}), []), sized(spec={"nodeSelector": {"disk": "ssd"}}),
                 "0/1 local nodes have room: 1 node(s) didn't match Pod's node affinity/selector", id="selector"),
    pytest.param(local_node(node(), [sized("a", spec={"nodeName": "idc-1", "containers": [
        container(ports=[{"containerPort": 80, "hostPort": 8080}])]})]),
        sized(spec={"containers": [container(ports=[{"containerPort": 80, "hostPort": 8080}])]}),
        "0/1 local nodes have room: 1 node(s) didn't have free ports for the requested pod ports", id="host-port"),
])
def test_the_scheduler_filters(local: LocalNode, candidate: Pod, expected: str) -> None:
    assert find_room(candidate, [local]).message == expected


def test_terminating_pods_still_take_their_room_and_finished_ones_do_not() -> None:
    terminating = bound("old", "idc-1", "1600m", metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"})
    finished = bound("done", "idc-1", "1600m", status={"phase": "Succeeded"})
    assert find_room(sized(), [local_node(node(), [terminating])]).node is None
    assert find_room(sized(), [local_node(node(), [finished])]).node == "idc-1"


def test_the_least_allocated_node_is_chosen_and_a_reservation_counts() -> None:
    busy = local_node(node("idc-a"), [bound("a", "idc-a", "1")])
    idle = local_node(node("idc-b"), [])
    assert find_room(sized(), [busy, idle]).node == "idc-b"
    reserved = idle.plus({"cpu": Fraction(2)})
    assert find_room(sized(), [busy, reserved]).node == "idc-a"
    assert find_room(sized(), [busy.plus({"cpu": Fraction(1)}), reserved]).message == \
        "0/2 local nodes have room: 2 Insufficient cpu"


def test_requests_follow_the_scheduler_sidecars_add_init_containers_peak() -> None:
    spec = {"containers": [container(resources={"requests": {"cpu": "100m"}})],
            "initContainers": [container("sidecar", restartPolicy="Always", resources={"requests": {"cpu": "200m"}}),
                               container("init", resources={"requests": {"cpu": "1"}})]}
    assert pod_requests(pod(spec=spec))["cpu"] == Fraction(6, 5)  # the init runs beside the sidecar: 1 + 0.2
    spec["initContainers"][1]["resources"]["requests"]["cpu"] = "50m"
    assert pod_requests(pod(spec=spec))["cpu"] == Fraction(3, 10)  # app + sidecar
    assert pod_requests(sized(cpu="1001u"))["cpu"] == Fraction(2, 1000), "cpu is counted in whole millicores, up"


def test_a_request_that_is_no_quantity_is_no_room() -> None:
    broken = sized(cpu="lots")
    with pytest.raises(UnreadableRequest):
        pod_requests(broken)
    room = find_room(broken, [local_node(node(), [])])
    assert room.node is None and "cannot be read" in room.message


def test_the_replacement_loses_the_pin_to_the_super_node_and_keeps_the_rest() -> None:
    pinned = pod(spec={"nodeName": "eklet-a", **affinity(
        {"matchExpressions": [expr("disk", "In", "ssd")], "matchFields": [field("In", "eklet-a")]})})
    assert pinned_to_its_node(pinned)
    view = replacement_view(pinned)
    assert not pinned_to_its_node(view)
    assert find_room(view, [local_node(node(labels={"disk": "ssd"}), [])]).node == "idc-1"
    assert find_room(view, [local_node(node(labels={"disk": "hdd"}), [])]).node is None
    pin = affinity({"matchFields": [field("In", "eklet-a")]})
    only_pin = replacement_view(pod(spec={"nodeName": "eklet-a", **pin}))
    assert only_pin.spec.affinity is not None and only_pin.spec.affinity.node_affinity is not None
    assert only_pin.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution is None
    assert not pinned_to_its_node(pod(spec={"nodeName": "eklet-a"}))
