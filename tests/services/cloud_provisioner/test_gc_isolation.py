"""One pod the orphan GC cannot decode neither stops collection nor loses its own instance.

kube-apiserver never serves such a pod (the sandbox refuses them too), but a model stricter than
the server, or a field a newer server shapes differently, would make one: a tiny API server
serves exactly those bytes; the cloud is the emulator."""

from __future__ import annotations

import pytest

from services.cloud_provisioner.gc import OrphanCollector, UnreadablePod
from spillway.cloud import CreateRequest, InstanceNaming, TkeProvider
from spillway.emulator.server import Emulator
from spillway.kube import KubeClient
from tests.fixtures.cloud import MutableClock
from tests.services.cloud_provisioner.conftest import PodListApi, listed_pod
from tests.services.cloud_provisioner.harness import CLUSTER_ID, NODE_A

NAMING = InstanceNaming(CLUSTER_ID, "uid-of-the-raw-api-cluster")  # the tiny server has no kube-system
PARAMS = {"SubnetId": "subnet-aaa", "VpcId": "vpc-test", "SecurityGroupIds": ["sg-test"], "Cpu": 1.0, "Memory": 2.0,
          "Containers": [{"Name": "app", "Image": "nginx"}]}



async def test_an_undecodable_pod_keeps_its_instance_and_orphans_are_still_collected(
    raw_api: tuple[PodListApi, KubeClient], emulator: Emulator, emulator_clock: MutableClock,
    cloud_client: TkeProvider,
) -> None:
    api, client = raw_api
    api.items = [listed_pod("numeric-cpu", "uid-numeric", cpu=1), listed_pod("fine", "uid-fine")]
    ids = {uid: await cloud_client.create(CreateRequest(NAMING.name(uid), PARAMS))
           for uid in ("uid-numeric", "uid-fine", "uid-orphan")}
    gc = OrphanCollector(client=client, provider=cloud_client, naming=NAMING, nodes=[NODE_A], grace=10,
                         clock=emulator_clock)
    assert await gc.run_once() == []
    emulator_clock.advance(11)
    assert await gc.run_once() == [ids["uid-orphan"]]
    assert set(emulator.state.records) == {ids["uid-numeric"], ids["uid-fine"]}


async def test_a_pod_without_a_readable_uid_skips_the_round(
    raw_api: tuple[PodListApi, KubeClient], emulator: Emulator, emulator_clock: MutableClock,
    cloud_client: TkeProvider,
) -> None:
    api, client = raw_api
    api.items = [listed_pod("fine", "uid-fine"), listed_pod("who", 42, cpu=1)]
    orphan = await cloud_client.create(CreateRequest(NAMING.name("uid-orphan"), PARAMS))
    gc = OrphanCollector(client=client, provider=cloud_client, naming=NAMING, nodes=[NODE_A], grace=10,
                         clock=emulator_clock)
    emulator_clock.advance(11)
    for _ in range(2):
        with pytest.raises(UnreadablePod, match="no readable uid"):
            await gc.run_once()
        emulator_clock.advance(11)
    assert orphan in emulator.state.records  # it may be the unreadable pod's: nothing is collected
    api.items = [listed_pod("fine", "uid-fine")]
    assert await gc.run_once() == []  # first sight of the orphan for this collector
    emulator_clock.advance(11)
    assert await gc.run_once() == [orphan]
