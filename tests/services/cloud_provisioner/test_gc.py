"""Orphan GC: only this cluster's instances, only after the grace period (from creation and from first
sight), only with a fresh view of the live pods."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from services.cloud_provisioner.gc import GC_LOOP, OrphanCollector
from spillway.cloud import CreateRequest, InstanceNaming, TkeProvider
from spillway.emulator.faults import ErrorRule
from spillway.emulator.server import Emulator
from spillway.kube import KubeClient
from spillway.loops import Liveness
from spillway.sandbox import Sandbox
from tests.fixtures.clock import FakeClock
from tests.fixtures.cloud import MutableClock
from tests.services.cloud_provisioner.harness import CLUSTER_ID, NODE_A, create_and_bind, pod_body

PARAMS = {"SubnetId": "subnet-aaa", "VpcId": "vpc-test", "SecurityGroupIds": ["sg-test"], "Cpu": 1.0, "Memory": 2.0,
          "Containers": [{"Name": "app", "Image": "nginx"}]}


async def test_gc_deletes_only_this_clusters_orphans_after_the_grace_period(
    sandbox: Sandbox, kube: KubeClient, emulator: Emulator, emulator_clock: MutableClock,
    cloud_client: TkeProvider, naming: InstanceNaming,
) -> None:
    live = await create_and_bind(sandbox, kube, pod_body("alive"), NODE_A)
    terminating = await create_and_bind(sandbox, kube, pod_body("leaving"), NODE_A)
    await kube.delete(f"/api/v1/namespaces/default/pods/{terminating.metadata.name}")
    names = {
        "live": naming.name(live.metadata.uid),
        "terminating": naming.name(terminating.metadata.uid),
        "orphan": naming.name("0f6c1f6e-0000-4000-8000-000000000001"),
        "other-id": InstanceNaming("someone-else", naming.cluster_uid).name("0f6c1f6e-0000-4000-8000-000000000002"),
        "other-cluster": InstanceNaming(CLUSTER_ID, "another-uid").name("0f6c1f6e-0000-4000-8000-000000000003"),
    }
    ids = {k: await cloud_client.create(CreateRequest(n, PARAMS)) for k, n in names.items()}
    gc = OrphanCollector(client=kube, provider=cloud_client, naming=naming, nodes=[NODE_A], grace=120,
                         clock=emulator_clock)
    assert await gc.run_once() == []  # first sight: too young, and just seen
    emulator_clock.advance(60)
    assert await gc.run_once() == []
    emulator_clock.advance(61)
    deleted = await gc.run_once()
    assert sorted(deleted) == sorted([ids["orphan"], ids["terminating"]])
    assert set(emulator.state.records) == {ids["live"], ids["other-id"], ids["other-cluster"]}


async def test_gc_waits_for_its_own_first_sighting_and_skips_a_round_without_a_view(
    kube: KubeClient, emulator: Emulator, emulator_clock: MutableClock, cloud_client: TkeProvider,
    naming: InstanceNaming,
) -> None:
    old = await cloud_client.create(CreateRequest(naming.name("old-orphan"), PARAMS))
    emulator_clock.advance(3600)  # created long ago ...
    gc = OrphanCollector(client=kube, provider=cloud_client, naming=naming, nodes=[NODE_A], grace=120,
                         clock=emulator_clock)
    assert await gc.run_once() == []  # ... but this collector has just seen it
    await kube.close()  # no view of the live pods: the round fails, nothing is deleted
    emulator_clock.advance(200)
    with pytest.raises(Exception):  # noqa: B017 - any failure of the list must abort the round
        await gc.run_once()
    assert old in emulator.state.records


async def test_gc_loop_survives_failed_rounds_and_collects_once_the_cloud_answers(
    kube: KubeClient, emulator: Emulator, emulator_clock: MutableClock, cloud_client: TkeProvider,
    naming: InstanceNaming,
) -> None:
    orphan = await cloud_client.create(CreateRequest(naming.name("orphan-gc-loop"), PARAMS))
    emulator_clock.advance(3600)
    gc = OrphanCollector(client=kube, provider=cloud_client, naming=naming, nodes=[NODE_A], grace=120,
                         interval=60, clock=emulator_clock)
    loop_clock = FakeClock()
    liveness = Liveness(loop_clock)
    failed_before = REGISTRY.get_sample_value("spillway_loop_failures_total", {"loop": GC_LOOP}) or 0.0
    emulator.faults.errors = [ErrorRule(code="InternalError", rate=1.0, action="DescribeEKSContainerInstances")]
    task = asyncio.create_task(gc.run(lambda: True, clock=loop_clock, liveness=liveness))
    try:
        await loop_clock.parked()  # the first round failed: counted, backed off, still looping
        failed = REGISTRY.get_sample_value("spillway_loop_failures_total", {"loop": GC_LOOP}) or 0.0
        assert failed - failed_before == 1 and not task.done()
        assert liveness.names() == [GC_LOOP] and liveness.problems() == []
        emulator.faults.errors = []
        loop_clock.advance(loop_clock.slept[-1])
        await loop_clock.parked()  # first sighting of the orphan
        assert orphan in emulator.state.records and loop_clock.slept[-1] == 60
        emulator_clock.advance(121)
        loop_clock.advance(60)
        await loop_clock.parked()
        assert orphan not in emulator.state.records
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert liveness.names() == []
