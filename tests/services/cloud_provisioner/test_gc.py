"""Orphan GC: only this cluster's instances, only after the grace period (from creation and from first
sight), only with a fresh view of the live pods."""

from __future__ import annotations

import pytest

from services.cloud_provisioner.gc import OrphanCollector
from spillway.cloud import CreateRequest, TkeProvider, instance_name
from spillway.emulator.server import Emulator
from spillway.kube import KubeClient
from spillway.sandbox import Sandbox
from tests.fixtures.cloud import MutableClock
from tests.services.cloud_provisioner.harness import CLUSTER_ID, NODE_A, create_and_bind, pod_body

PARAMS = {"SubnetId": "subnet-aaa", "VpcId": "vpc-test", "SecurityGroupIds": ["sg-test"], "Cpu": 1.0, "Memory": 2.0,
          "Containers": [{"Name": "app", "Image": "nginx"}]}


async def test_gc_deletes_only_this_clusters_orphans_after_the_grace_period(
    sandbox: Sandbox, kube: KubeClient, emulator: Emulator, emulator_clock: MutableClock,
    cloud_client: TkeProvider,
) -> None:
    live = await create_and_bind(sandbox, kube, pod_body("alive"), NODE_A)
    terminating = await create_and_bind(sandbox, kube, pod_body("leaving"), NODE_A)
    await kube.delete(f"/api/v1/namespaces/default/pods/{terminating.metadata.name}")
    names = {
        "live": instance_name(CLUSTER_ID, live.metadata.uid),
        "terminating": instance_name(CLUSTER_ID, terminating.metadata.uid),
        "orphan": instance_name(CLUSTER_ID, "0f6c1f6e-0000-4000-8000-000000000001"),
        "other-cluster": instance_name("someone-else", "0f6c1f6e-0000-4000-8000-000000000002"),
    }
    ids = {k: await cloud_client.create(CreateRequest(n, PARAMS)) for k, n in names.items()}
    gc = OrphanCollector(client=kube, provider=cloud_client, cluster_id=CLUSTER_ID, nodes=[NODE_A], grace=120,
                         clock=emulator_clock)
    assert await gc.run_once() == []  # first sight: too young, and just seen
    emulator_clock.advance(60)
    assert await gc.run_once() == []
    emulator_clock.advance(61)
    deleted = await gc.run_once()
    assert sorted(deleted) == sorted([ids["orphan"], ids["terminating"]])
    assert set(emulator.state.records) == {ids["live"], ids["other-cluster"]}


async def test_gc_waits_for_its_own_first_sighting_and_skips_a_round_without_a_view(
    kube: KubeClient, emulator: Emulator, emulator_clock: MutableClock, cloud_client: TkeProvider,
) -> None:
    old = await cloud_client.create(CreateRequest(instance_name(CLUSTER_ID, "old-orphan"), PARAMS))
    emulator_clock.advance(3600)  # created long ago ...
    gc = OrphanCollector(client=kube, provider=cloud_client, cluster_id=CLUSTER_ID, nodes=[NODE_A], grace=120,
                         clock=emulator_clock)
    assert await gc.run_once() == []  # ... but this collector has just seen it
    await kube.close()  # no view of the live pods: the round fails, nothing is deleted
    emulator_clock.advance(200)
    with pytest.raises(Exception):  # noqa: B017 - any failure of the list must abort the round
        await gc.run_once()
    assert old in emulator.state.records
