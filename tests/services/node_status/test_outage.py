"""A NATS outage longer than a publish's retry window must not stop pod status: once the bus is
back, new cloud pods turn Running and deleted ones finish, with no restart by hand."""

from __future__ import annotations

from prometheus_client import REGISTRY

from spillway.bus import Bus
from spillway.cloud import InstanceNaming
from spillway.emulator.server import Emulator
from spillway.kube import KubeClient, pod_path
from spillway.model import messages as m
from spillway.natsserver import NatsServer
from spillway.sandbox import Sandbox
from tests.fixtures.cloud import MutableClock
from tests.fixtures.eventually import eventually
from tests.services.cloud_provisioner.conftest import RunProvisioner
from tests.services.cloud_provisioner.harness import announce, create_and_bind, get_pod, pod_body
from tests.services.conftest import bus_records
from tests.services.node_status.conftest import Run
from tests.services.node_status.test_pods import container_creating, phase_is, pod_gone, record_of


def loop_failures(name: str) -> float:
    return REGISTRY.get_sample_value("spillway_loop_failures_total", {"loop": name}) or 0.0


async def test_pod_status_goes_on_after_a_nats_outage_longer_than_the_publish_window(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, emulator_clock: MutableClock,
    nats_process: NatsServer, run_node_status: Run, run_provisioner: RunProvisioner, naming: InstanceNaming,
) -> None:
    emulator.state.start_delay = 30
    async with run_node_status() as node_status, run_provisioner():
        before = await create_and_bind(sandbox, kube, pod_body("before"))
        await announce(bus, before)
        await eventually(lambda: container_creating(kube, "before"), what="the pod ContainerCreating")
        failed_announcements = loop_failures("running announcements")

        await nats_process.astop()
        emulator_clock.advance(31)  # it starts while the bus is down: its running announcement cannot go out
        await eventually(lambda: phase_is(kube, "before", "Running"), what="the status synced without the bus")
        # the outage outlasts a whole publish retry window: the announcement gave up at least once
        await eventually(lambda: loop_failures("running announcements") > failed_announcements, seconds=60,
                         what="the failed announcement counted")
        await nats_process.astart()  # same port, same store

        after = await create_and_bind(sandbox, kube, pod_body("after"))
        await bus.publish(m.PodEvent(change="bound", pod=after, observed_at=0.0), msg_id=f"{after.metadata.uid}:bound",
                          retry_for=30)
        await eventually(lambda: record_of(emulator, naming, after), seconds=30,
                         what="an instance for the pod bound after the outage")
        emulator_clock.advance(31)
        await eventually(lambda: phase_is(kube, "after", "Running"), seconds=30,
                         what="the status loop alive after the outage")

        await kube.delete(pod_path("default", "before"))
        await announce(bus, await get_pod(kube, "before"), "terminating")
        await eventually(lambda: pod_gone(kube, "before"), seconds=30, what="the deleted pod gone")
        assert node_status.runtime.liveness.problems() == []
    running = {r.message.uid for r in await bus_records(bus, "spillway.instance.running")}
    assert running == {before.metadata.uid, after.metadata.uid}  # the one owed since the outage went out later
