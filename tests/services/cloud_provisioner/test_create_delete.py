"""Bound pod → exactly one instance with the translated spec; terminating/deleted → none."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from nats.js.api import ConsumerInfo

from spillway.bus import Bus
from spillway.cloud import InstanceNaming
from spillway.emulator.server import Emulator
from spillway.kube import KubeClient, pod_path
from spillway.model import messages as m
from spillway.sandbox import Sandbox
from tests.fixtures.eventually import eventually
from tests.services.cloud_provisioner.conftest import RunProvisioner
from tests.services.cloud_provisioner.harness import (
    NODE_A,
    NODE_B,
    announce,
    create_and_bind,
    get_pod,
    pod_body,
)

SECRET_VALUE = "hunter2-very-secret"


def instances_named(emulator: Emulator, name: str) -> list[Any]:
    return [r for r in emulator.state.records.values() if r.name == name]


async def test_bound_pod_gets_one_instance_with_secret_env(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, run_provisioner: RunProvisioner,
    naming: InstanceNaming, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await sandbox.store.create("secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "default"},
        "data": {"password": base64.b64encode(SECRET_VALUE.encode()).decode()}}, namespace="default")
    env: list[dict[str, Any]] = [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "MODE", "value": "burst"}]
    created = await bus.nc.subscribe(m.INSTANCE_CREATED)
    async with run_provisioner():
        pod = await create_and_bind(sandbox, kube, pod_body("web-1", env=env), NODE_B)
        await announce(bus, pod)
        name = naming.name(pod.metadata.uid)
        await eventually(lambda: instances_named(emulator, name), what="the instance created")
        msg = await created.next_msg(timeout=10)
    [record] = instances_named(emulator, name)
    spec = record.spec
    assert spec["SubnetId"] == "subnet-bbb" and spec["VpcId"] == "vpc-test"
    assert spec["SecurityGroupIds"] == ["sg-test"]
    assert (spec["Cpu"], spec["Memory"]) == (0.5, 1.0)
    env_vars = {e["Name"]: e["Value"] for e in spec["Containers"][0]["EnvironmentVars"]}
    assert env_vars["DB_PASSWORD"] == SECRET_VALUE and env_vars["MODE"] == "burst"
    assert env_vars["KUBERNETES_SERVICE_HOST"] == "10.0.0.1"
    event = m.decode(m.INSTANCE_CREATED, msg.data)
    assert (event.uid, event.eks_ci_id, event.eks_ci_name, event.node) == (pod.metadata.uid, record.id, name, NODE_B)
    assert SECRET_VALUE not in caplog.text
    events = await kube.request("GET", "/api/v1/namespaces/default/events")
    assert SECRET_VALUE.encode() not in events


async def test_redelivery_and_restart_never_make_a_second_instance(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, run_provisioner: RunProvisioner,
    naming: InstanceNaming,
) -> None:
    pod = await create_and_bind(sandbox, kube, pod_body("web-2"))
    name = naming.name(pod.metadata.uid)
    async with run_provisioner():
        await announce(bus, pod)
        await eventually(lambda: instances_named(emulator, name), what="the instance created")
        await announce(bus, pod, msg_id="redelivered-1")  # a second copy, as after a lost ack
        await eventually(lambda: _acked(bus), what="every delivery acked")
    async with run_provisioner():  # a restarted replica sees it again
        await announce(bus, pod, msg_id="redelivered-2")
        await announce(bus, pod, msg_id="redelivered-3")
        await eventually(lambda: _acked(bus), what="every delivery acked")
    assert len(instances_named(emulator, name)) == 1


async def _acked(bus: Bus) -> bool:
    info: ConsumerInfo = await bus.js.consumer_info(m.STREAM, "cloud-provisioner-on_bound")
    return info.num_pending == 0 and info.num_ack_pending == 0


@pytest.mark.parametrize("change", ["terminating", "deleted"])
async def test_pod_gone_deletes_its_instance(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, run_provisioner: RunProvisioner,
    change: m.PodChange, naming: InstanceNaming,
) -> None:
    pod = await create_and_bind(sandbox, kube, pod_body(f"web-{change}"))
    name = naming.name(pod.metadata.uid)
    deleted = await bus.nc.subscribe(m.INSTANCE_DELETED)
    async with run_provisioner():
        await announce(bus, pod)
        await eventually(lambda: instances_named(emulator, name), what="the instance created")
        # what the watcher sees: a deletion timestamp (grace left), or the object gone
        await kube.delete(pod_path("default", pod.metadata.name), grace_seconds=30 if change == "terminating" else 0)
        gone = await get_pod(kube, pod.metadata.name) if change == "terminating" else pod
        await announce(bus, gone, change)
        await eventually(lambda: not instances_named(emulator, name), what="the instance deleted")
        msg = await deleted.next_msg(timeout=10)
    event = m.decode(m.INSTANCE_DELETED, msg.data)
    assert event.uid == pod.metadata.uid and event.eks_ci_id.startswith("eksci-")


@pytest.mark.parametrize("change", ["terminating", "deleted"])
async def test_a_deletion_the_api_contradicts_is_dead_lettered_and_the_instance_kept(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, run_provisioner: RunProvisioner,
    change: m.PodChange, naming: InstanceNaming,
) -> None:
    pod = await create_and_bind(sandbox, kube, pod_body(f"alive-{change}"))
    name = naming.name(pod.metadata.uid)
    letters = await bus.nc.subscribe(m.dlq_subject("cloud-provisioner"))
    async with run_provisioner():
        await announce(bus, pod)
        await eventually(lambda: instances_named(emulator, name), what="the instance created")
        await announce(bus, pod, change)  # forged: the pod is alive and not being deleted
        letter = m.decode(m.dlq_subject("cloud-provisioner"), (await letters.next_msg(timeout=10)).data)
    assert letter.subject == m.POD_SUBJECT_BY_CHANGE[change] and "contradicts the API" in letter.error
    assert len(instances_named(emulator, name)) == 1  # still there


async def test_pods_on_other_nodes_and_daemonset_pods_get_no_instance(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, run_provisioner: RunProvisioner,
    naming: InstanceNaming,
) -> None:
    local = await create_and_bind(sandbox, kube, pod_body("local"), "node-1")
    daemon = await create_and_bind(sandbox, kube, pod_body("daemon", owner_kind="DaemonSet"), NODE_A)
    marker = await create_and_bind(sandbox, kube, pod_body("marker"), NODE_A)
    async with run_provisioner():
        for pod in (local, daemon, marker):
            await announce(bus, pod)
        await eventually(lambda: instances_named(emulator, naming.name(marker.metadata.uid)),
                         what="the marker pod's instance created")
        await eventually(lambda: _acked(bus), what="every delivery acked")
    assert len(emulator.state.records) == 1
