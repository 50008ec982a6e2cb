"""placement's metrics: the fleet gauges come from the leader alone and follow its view, the cost
counter integrates cost per hour over time, and each new decision is counted and timed."""

from __future__ import annotations

import asyncio
import contextvars

import pytest
from prometheus_client import REGISTRY

from services.placement import metrics as metrics_module
from services.placement.metrics import PENDING_SINCE, FleetReporter, observe_decision
from services.placement.view import ClusterView
from spillway.config import Prices
from spillway.model import messages as m
from spillway.telemetry.fleet import tally
from tests.fixtures.clock import FakeClock
from tests.ops.builders import node, pod

NS = "ops-metrics"
PRICES = Prices(vcpu_hour=0.2, memory_gib_hour=0.05)
POD_COST = 0.25 * 0.2 + 0.5 * 0.05  # one 250m/256Mi pod: the 0.25C/0.5G spec


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def workload(name: str) -> dict[str, str]:
    return {"namespace": NS, "workload_kind": "StatefulSet", "workload": name}


def view_with(*pods_: str) -> ClusterView:
    view = ClusterView()
    for node_ in (node("idc-1"), node("eklet-m", zone="zone-m", super_node=True, pods="500")):
        view.nodes[node_.metadata.name] = node_
    view.synced.set()
    return view


async def test_the_leader_reports_its_view_and_a_standby_withdraws() -> None:
    view = view_with()
    for p in (pod("web-0", namespace=NS, node="idc-1", local_replicas="1"),
              pod("web-1", namespace=NS, node="eklet-m", local_replicas="1"),
              pod("web-2", namespace=NS, node="eklet-m", local_replicas="1"),
              pod("web-3", namespace=NS, gated=True, local_replicas="1", created="2025-12-31T23:59:00Z")):
        view.upsert_pod(p)
    clock = FakeClock(wall_start=1_767_225_600.0)  # 2026-01-01T00:00:00Z
    view.cooldowns["zone-m"] = clock.time() + 90
    leading = [True]
    reporter = FleetReporter(view, lambda: leading[0], PRICES, clock=clock)
    assert (await reporter.report()) is not None
    for location, expected in (("local", 1), ("cloud", 2), ("pending", 1)):
        assert sample("spillway_workload_pods", **workload("web"), location=location) == expected
    assert sample("spillway_workload_local_replicas", **workload("web")) == 1
    assert sample("spillway_workload_cloud_cpu_cores", **workload("web")) == 0.5
    assert sample("spillway_cloud_cost_per_hour", **workload("web")) == 2 * POD_COST
    assert sample("spillway_cloud_pods", node="eklet-m", zone="zone-m") == 2
    assert sample("spillway_super_node_ready", node="eklet-m", zone="zone-m") == 1
    assert sample("spillway_zone_cooldown_seconds", zone="zone-m") == 90
    assert sample("spillway_placement_awaiting_decision_pods") == 1
    assert sample("spillway_placement_awaiting_decision_oldest_seconds") == 60

    view.remove_pod(f"{NS}/web-2")
    await reporter.report()
    assert sample("spillway_workload_pods", **workload("web"), location="cloud") == 1
    assert len(reporter.sizes) == 1  # the deleted pod's size is forgotten

    leading[0] = False
    assert (await reporter.report()) is None
    assert sample("spillway_workload_pods", **workload("web"), location="cloud") is None
    assert sample("spillway_cloud_pods", node="eklet-m", zone="zone-m") is None
    assert sample("spillway_placement_awaiting_decision_pods") == 0


async def test_a_standby_never_clears_what_the_leader_reports() -> None:
    view = view_with()
    view.upsert_pod(pod("db-0", namespace=NS, owner="db", node="eklet-m"))
    await FleetReporter(view, lambda: True, PRICES).report()
    await FleetReporter(view, lambda: False, PRICES).report()
    assert sample("spillway_workload_pods", **workload("db"), location="cloud") == 1


async def test_cost_total_accrues_at_the_last_rate_and_a_gap_counts_for_a_minute_at_most() -> None:
    view = view_with()
    view.upsert_pod(pod("cost-0", namespace=NS, owner="cost", node="eklet-m"))
    clock = FakeClock()
    leading = [True]
    reporter = FleetReporter(view, lambda: leading[0], PRICES, clock=clock)
    await reporter.report()
    assert sample("spillway_cloud_cost_total", **workload("cost")) == 0  # nothing spent yet, the series is there
    view.upsert_pod(pod("cost-1", namespace=NS, owner="cost", node="eklet-m"))
    clock.advance(30)
    await reporter.report()  # the 30 s before were at one pod's rate
    assert sample("spillway_cloud_cost_total", **workload("cost")) == pytest.approx(POD_COST * 30 / 3600)
    clock.advance(600)
    await reporter.report()  # two pods since, but a long gap counts for 60 s
    spent = POD_COST * 30 / 3600 + 2 * POD_COST * 60 / 3600
    assert sample("spillway_cloud_cost_total", **workload("cost")) == pytest.approx(spent)
    leading[0] = False
    await reporter.report()  # a standby: its counters go, the next leader counts from its own start
    assert sample("spillway_cloud_cost_total", **workload("cost")) is None
    leading[0] = True
    clock.advance(30)
    await reporter.report()
    assert sample("spillway_cloud_cost_total", **workload("cost")) == 0  # the time as a standby is not counted
    clock.advance(30)
    await reporter.report()
    assert sample("spillway_cloud_cost_total", **workload("cost")) == pytest.approx(2 * POD_COST * 30 / 3600)
    for key in [f"{NS}/cost-0", f"{NS}/cost-1"]:
        view.remove_pod(key)
    clock.advance(30)
    await reporter.report()  # gone: its last 30 s are still counted and scraped
    assert sample("spillway_cloud_cost_total", **workload("cost")) == pytest.approx(2 * POD_COST * 60 / 3600)
    await reporter.report()  # then its series goes, so churning workloads never pile up series
    assert sample("spillway_cloud_cost_total", **workload("cost")) is None


async def test_workload_rows_are_capped_into_an_other_row() -> None:
    view = view_with()
    for i in range(4):
        view.upsert_pod(pod(f"cap{i}-0", namespace=NS, owner=f"cap{i}", node="eklet-m"))
    await FleetReporter(view, lambda: True, PRICES, limit=2).report()
    other = {"namespace": "_other", "workload_kind": "_other", "workload": "_other", "location": "cloud"}
    assert sample("spillway_workload_pods", **other) == 3
    names = {s.labels["workload"] for f in REGISTRY.collect() if f.name == "spillway_workload_pods"
             for s in f.samples}
    assert len(names) == 2


def decision(reason: str, trigger: str, decided_at: float) -> m.PlacementDecision:
    return m.PlacementDecision(namespace=NS, name="p", uid="u", workload="StatefulSet/ns/web", outcome="cloud",
                               reason=reason, trigger=trigger, decided_at=decided_at)


def test_a_decision_is_counted_and_timed_from_creation_and_from_its_pending_event() -> None:
    def counts() -> tuple[float, float, float, float]:
        return (sample("spillway_placement_decisions_total", outcome="cloud", reason="OpsTestReason",
                       trigger="unschedulable") or 0.0,
                sample("spillway_placement_decision_since_creation_seconds_sum", trigger="unschedulable") or 0.0,
                sample("spillway_placement_decision_since_pending_seconds_count", trigger="unschedulable") or 0.0,
                sample("spillway_placement_decision_since_pending_seconds_sum", trigger="unschedulable") or 0.0)

    before = counts()
    created = "2026-01-01T00:00:00Z"
    observe_decision(decision("OpsTestReason", "unschedulable", 1_767_225_610.0), created)  # a resync: no event

    def on_event() -> None:
        PENDING_SINCE.set(1_767_225_607.5)
        observe_decision(decision("OpsTestReason", "unschedulable", 1_767_225_610.0), created)

    contextvars.copy_context().run(on_event)
    after = counts()
    assert after[0] - before[0] == 2
    assert after[1] - before[1] == 20.0  # 10 s from creation, twice
    assert (after[2] - before[2], after[3] - before[3]) == (1, 2.5)  # only the event's decision, 2.5 s


async def test_the_reporter_counts_only_active_workloads_pod_by_pod_and_gets_what_all_pods_give() -> None:
    view = view_with()
    pods = [pod(f"local-{i}", namespace=NS, owner="local-only", node="idc-1") for i in range(5)]
    pods += [pod("quota-0", namespace=NS, owner="quota", node="idc-1", local_replicas="3"),
             pod("burst-0", namespace=NS, owner="burst", node="idc-1"),
             pod("burst-1", namespace=NS, owner="burst", node="eklet-m"),
             pod("burst-2", namespace=NS, owner="burst", node="eklet-m", terminating=True),
             pod("waits-0", namespace=NS, owner="waits", unschedulable=True),
             pod("gated-0", namespace=NS, owner="gated", gated=True, created="2025-12-31T23:00:00Z"),
             pod("done-0", namespace=NS, owner="done", phase="Succeeded")]
    for p in pods:
        view.upsert_pod(p)
    reporter = FleetReporter(view, lambda: True, PRICES, clock=FakeClock(wall_start=1_767_225_600.0))
    everything = tally(view.pods.values(), view.nodes.values(), view.workload, PRICES, 1_767_225_600.0)
    reported = await reporter.fleet(1_767_225_600.0)
    assert reported.bounded_workloads(100) == everything.bounded_workloads(100)
    assert {w.workload.name for w in reported.bounded_workloads(100)} == {"quota", "burst", "waits", "gated"}
    assert (reported.super_nodes, reported.awaiting_decision, reported.oldest_awaiting_seconds) == (
        everything.super_nodes, everything.awaiting_decision, everything.oldest_awaiting_seconds)


def test_a_cloud_pod_is_sized_as_it_arrives_not_in_the_round() -> None:
    """The rounds size nothing: a steady stream of cloud pods is sized one by one as it lands."""
    view = view_with()
    reporter = FleetReporter(view, lambda: True, PRICES, clock=FakeClock())
    view.upsert_pod(pod("web-0", namespace=NS, node="idc-1", local_replicas="1"))
    view.upsert_pod(pod("web-1", namespace=NS, gated=True, local_replicas="1"))
    assert len(reporter.sizes) == 0  # neither local nor pending pods have an instance
    view.upsert_pod(pod("web-2", namespace=NS, node="eklet-m", local_replicas="1"))
    assert len(reporter.sizes) == 1
    view.remove_pod(f"{NS}/web-2")
    assert len(reporter.sizes) == 0


async def test_a_round_counts_a_slice_at_a_time_and_withdraws_if_the_lease_went_meanwhile(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Other work runs between slices of the count; a lease lost meanwhile reports nothing."""
    monkeypatch.setattr(metrics_module, "FLEET_SLICE", 1)
    view = view_with()
    for index in range(3):
        view.upsert_pod(pod(f"web-{index}", namespace=NS, node="eklet-m", local_replicas="0"))
    leading = [True]
    reporter = FleetReporter(view, lambda: leading[0], PRICES, clock=FakeClock())
    ran_between = []

    async def meanwhile() -> None:
        while True:
            ran_between.append(True)
            await asyncio.sleep(0)

    other = asyncio.create_task(meanwhile())
    await asyncio.sleep(0)
    ran_between.clear()
    fleet = await reporter.report()
    assert fleet is not None and fleet.workloads[next(iter(fleet.workloads))].cloud == 3
    assert len(ran_between) >= 2  # the loop was free between the slices
    assert sample("spillway_workload_pods", **workload("web"), location="cloud") == 3

    async def lose_the_lease() -> None:
        leading[0] = False

    losing = asyncio.create_task(lose_the_lease())
    assert await reporter.report() is None
    await losing
    other.cancel()
    assert sample("spillway_workload_pods", **workload("web"), location="cloud") is None
