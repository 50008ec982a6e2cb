"""The fleet tally that placement's metrics and `spillway status` share: what counts where, what
an instance costs, and how the workload rows stay bounded."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from spillway.config import Prices
from spillway.model.kube import Node, Pod
from spillway.policy import WorkloadKey, workload_of
from spillway.telemetry.fleet import GIB, OTHER_WORKLOAD, Fleet, PodSizes, instance_size, tally
from tests.ops.builders import node, pod

PRICES = Prices(vcpu_hour=0.2, memory_gib_hour=0.05)
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
NODES = [node("idc-1"), node("eklet-a", zone="zone-a", super_node=True, pods="500"),
         node("eklet-b", zone="zone-b", super_node=True, ready=False)]


def count(pods: Iterable[Pod], nodes: Iterable[Node] = NODES, sizes: PodSizes | None = None) -> Fleet:
    return tally(pods, nodes, lambda p: workload_of(p, lambda _ns, _name: None), PRICES, NOW, sizes)


def test_pods_count_where_they_are_and_what_their_instances_cost() -> None:
    fleet = count([
        pod("web-0", node="idc-1", local_replicas="1"),
        pod("web-1", node="eklet-a", local_replicas="1"),  # 250m/256Mi -> the 0.25C/0.5G spec
        pod("web-2", node="eklet-b", cpu="3", memory="6Gi", local_replicas="1"),  # -> 4C/8G
        pod("web-3", gated=True, local_replicas="1", created="2025-12-31T23:58:00Z"),
        pod("web-4", unschedulable=True, local_replicas="1", created="2025-12-31T23:59:30Z"),
        pod("web-5", local_replicas="1"),  # unbound, neither gated nor unschedulable: pending, not awaiting
        pod("web-6", node="eklet-a", terminating=True), pod("web-7", node="eklet-a", phase="Succeeded"),
    ])
    web = fleet.workloads[WorkloadKey("StatefulSet", "default", "web")]
    assert (web.local, web.cloud, web.pending, web.local_replicas) == (1, 2, 3, 1)
    assert web.cloud_cpu_cores == 4.25 and web.cloud_memory_bytes == 8.5 * GIB
    assert web.cost_per_hour == pytest.approx(4.25 * 0.2 + 8.5 * 0.05)
    a, b = fleet.super_nodes["eklet-a"], fleet.super_nodes["eklet-b"]
    assert (a.zone, a.ready, a.pod_capacity, a.pods, a.cpu_cores, a.memory_bytes) == ("zone-a", True, 500, 1, 0.25,
                                                                                        0.5 * GIB)
    assert (b.zone, b.ready, b.pods, b.cpu_cores) == ("zone-b", False, 1, 4.0)
    assert set(fleet.super_nodes) == {"eklet-a", "eklet-b"}
    assert fleet.cost_per_hour == pytest.approx(web.cost_per_hour)
    assert fleet.awaiting_decision == 2 and fleet.oldest_awaiting_seconds == 120.0


def test_nothing_awaiting_is_age_zero_and_a_bare_pod_is_its_own_workload() -> None:
    fleet = count([pod("solo", owner=None, node="eklet-a")])
    assert fleet.awaiting_decision == 0 and fleet.oldest_awaiting_seconds == 0.0
    assert list(fleet.workloads) == [WorkloadKey("Pod", "default", "solo")]


def test_annotations_override_the_size_and_bad_values_never_raise() -> None:
    annotated = pod("big", node="eklet-a")
    annotated.metadata.annotations["eks.tke.cloud.tencent.com/cpu"] = "2"
    annotated.metadata.annotations["eks.tke.cloud.tencent.com/mem"] = "4Gi"
    assert instance_size(annotated) == (2.0, 4 * GIB)
    bad_annotation = pod("odd", node="eklet-a")
    bad_annotation.metadata.annotations["eks.tke.cloud.tencent.com/cpu"] = "lots"
    assert instance_size(bad_annotation) == (0.25, 0.5 * GIB)  # ignored, as the translation does
    assert instance_size(pod("broken", node="eklet-a", cpu="lots")) == (0.0, 0.0)
    assert instance_size(pod("huge", node="eklet-a", cpu="100", memory="1Ti")) == (100.0, 1024 * GIB)  # no spec fits


def test_a_pod_is_sized_once_until_forgotten() -> None:
    sizes = PodSizes()
    first = pod("web-1", node="eklet-a")
    count([first], sizes=sizes)
    resized = pod("web-1", node="eklet-a", cpu="2", memory="4Gi")  # same uid: the cache answers
    assert count([resized], sizes=sizes).super_nodes["eklet-a"].cpu_cores == 0.25
    sizes.forget(first.metadata.uid)
    assert count([resized], sizes=sizes).super_nodes["eklet-a"].cpu_cores == 2.0 and len(sizes) == 1


def test_workload_rows_are_only_those_spillway_acts_on_and_are_capped() -> None:
    pods = [pod(f"w{i}-0", owner=f"w{i}", node="eklet-a") for i in range(5)]
    pods += [pod("w2-1", owner="w2", node="eklet-a"), pod("idle-0", owner="idle", node="idc-1")]
    pods += [pod("quota-0", owner="quota", node="idc-1", local_replicas="3")]
    fleet = count(pods)
    everything = fleet.bounded_workloads(100)
    assert [t.workload.name for t in everything] == ["w2", "w0", "w1", "w3", "w4", "quota"]
    capped = fleet.bounded_workloads(3)
    assert [t.workload.name for t in capped[:2]] == ["w2", "w0"]
    other = capped[2]
    assert other.workload == OTHER_WORKLOAD and (other.cloud, other.local) == (3, 1)
    assert sum(t.cloud for t in capped) == sum(t.cloud for t in everything) == 6
    assert sum(t.cost_per_hour for t in capped) == pytest.approx(fleet.cost_per_hour)
