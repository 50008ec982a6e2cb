"""Two clusters, one cloud account, one config: neither cluster's orphan collector touches the other's
instances.

The config is copied as is, `cloud.clusterID` included, and the cloud API takes no tags, so an
instance's name is its only owner mark. Each cluster here is its own sandbox (its own `kube-system`
uid), its own NATS and its own cloud-provisioner, all on one emulator; the collectors run their real
loops (on the emulator's clock for the grace period) while the test deletes one pod per cluster.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.cloud_provisioner import main as provisioner_main
from services.cloud_provisioner.main import ProvisionerService
from spillway.bus import Bus
from spillway.emulator.server import Emulator
from spillway.kube import KubeClient, pod_path
from spillway.model.kube import Pod
from spillway.natsserver import NatsServer
from spillway.sandbox import Sandbox
from tests.fixtures.cloud import MutableClock
from tests.fixtures.eventually import eventually
from tests.fixtures.sandbox import SandboxFactory
from tests.services.cloud_provisioner.harness import announce, cloud_config, create_and_bind, fast_provider, pod_body
from tests.services.conftest import RunningService, run_service

GRACE = 120.0


class Cluster:
    """One cluster: its API, its bus and its running cloud-provisioner (with the shared config)."""

    def __init__(self, name: str, sandbox: Sandbox, kube: KubeClient, bus: Bus,
                 svc: RunningService[ProvisionerService]) -> None:
        self.name, self.sandbox, self.kube, self.bus, self.svc = name, sandbox, kube, bus, svc
        self.instances: dict[str, str] = {}
        """pod name → the id of its instance."""

    async def run_pod(self, emulator: Emulator, name: str) -> Pod:
        """A pod bound to a super node, and the instance its cluster's cloud-provisioner creates for it."""
        pod = await create_and_bind(self.sandbox, self.kube, pod_body(name))
        await announce(self.bus, pod)
        provisioner = self.svc.service.state.provisioner
        assert provisioner is not None
        instance = provisioner.instance_name(pod)
        [self.instances[name]] = await eventually(
            lambda: [r.id for r in emulator.state.records.values() if r.name == instance],
            what=f"the instance of {self.name}/{name}")
        return pod

    def seen_orphaned(self) -> set[str]:
        collector = self.svc.service.state.collector
        assert collector is not None
        return set(collector.first_seen)


@pytest.fixture
async def two_clusters(sandbox: Sandbox, make_sandbox: SandboxFactory, nats_server: str, emulator: Emulator,
                       emulator_clock: MutableClock, tmp_path: Path) -> AsyncIterator[tuple[Cluster, Cluster]]:
    # the same config for both: same clusterID, same account, region and subnets
    config = cloud_config(emulator, provisioner={"gcGraceSeconds": GRACE, "gcIntervalSeconds": 0.05})
    async with contextlib.AsyncExitStack() as stack:
        other_nats = NatsServer(store_dir=tmp_path / "nats-b")
        other_nats.start()
        stack.callback(other_nats.stop)
        clusters: list[Cluster] = []
        for name, sb, url in (("a", sandbox, nats_server), ("b", await make_sandbox(), other_nats.url)):
            await sb.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": "spillway"}})  # the GC's leader lease
            kube = await KubeClient.connect(str(sb.kubeconfig_path))
            stack.push_async_callback(kube.close)
            bus = await Bus.connect(url, service="test")
            stack.push_async_callback(bus.close, drain=False)
            await bus.ensure()
            svc = await stack.enter_async_context(run_service(
                lambda: provisioner_main.build_service(provider_factory=fast_provider(emulator), clock=emulator_clock),
                nats_url=url, kubeconfig=sb.kubeconfig_path, tmp_path=tmp_path / name, config=config))
            clusters.append(Cluster(name, sb, kube, bus, svc))
        yield clusters[0], clusters[1]


async def test_one_config_in_two_clusters_never_collects_the_other_clusters_instances(
    two_clusters: tuple[Cluster, Cluster], emulator: Emulator, emulator_clock: MutableClock,
) -> None:
    a, b = two_clusters
    for cluster in (a, b):
        await cluster.run_pod(emulator, "web")  # the same pod name in both clusters, too
        await cluster.run_pod(emulator, "doomed")
    assert len(emulator.state.records) == 4
    for cluster in (a, b):
        await cluster.kube.delete(pod_path("default", "doomed"), grace_seconds=0)

    # each collector has seen its own deleted pod's instance orphaned (its loop is running) ...
    await eventually(lambda: a.instances["doomed"] in a.seen_orphaned() and b.instances["doomed"] in b.seen_orphaned(),
                     what="both collectors saw their orphan")
    # ... and never anything of the other cluster's, though both list the one account
    assert a.seen_orphaned() == {a.instances["doomed"]}
    assert b.seen_orphaned() == {b.instances["doomed"]}

    emulator_clock.advance(GRACE + 1)  # past the grace: a round now deletes every orphan it sees
    await eventually(lambda: not {a.instances["doomed"], b.instances["doomed"]} & set(emulator.state.records),
                     what="each cluster's orphan collected")
    # the rounds that collected them ran past the grace, and kept the other cluster's running instance
    assert set(emulator.state.records) == {a.instances["web"], b.instances["web"]}
    assert not a.seen_orphaned() and not b.seen_orphaned()
