"""Pod status from instance status, DaemonsetForbidden, InstanceLost, finished deletions, kubectl logs."""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s

from spillway.bus import Bus
from spillway.cloud import InstanceNaming
from spillway.emulator.faults import FailAfterStart
from spillway.emulator.server import Emulator
from spillway.emulator.state import Record
from spillway.kube import KubeClient, NotFound, pod_path
from spillway.model.kube import Node, Pod
from spillway.sandbox import Sandbox
from tests.fixtures.cloud import MutableClock
from tests.fixtures.eventually import eventually
from tests.fixtures.sandbox import KubectlRunner
from tests.services.cloud_provisioner.conftest import RunProvisioner
from tests.services.cloud_provisioner.harness import NODE_A, announce, create_and_bind, get_pod, pod_body
from tests.services.conftest import bus_records
from tests.services.node_status.conftest import Run


def record_of(emulator: Emulator, naming: InstanceNaming, pod: Pod) -> Record | None:
    name = naming.name(pod.metadata.uid)
    return next((r for r in emulator.state.records.values() if r.name == name), None)


async def phase_is(kube: KubeClient, name: str, phase: str) -> Pod | None:
    pod = await get_pod(kube, name)
    return pod if pod.status.phase == phase else None


async def test_status_follows_the_instance_pending_running_restarts_failed(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, emulator_clock: MutableClock,
    run_node_status: Run, run_provisioner: RunProvisioner, naming: InstanceNaming,
) -> None:
    emulator.state.start_delay = 30
    async with run_node_status(), run_provisioner():
        pod = await create_and_bind(sandbox, kube, pod_body("web"))
        await announce(bus, pod)
        pending = await eventually(lambda: container_creating(kube, "web"), what="the pod ContainerCreating")
        assert pending.status.phase == "Pending"
        emulator_clock.advance(31)
        running = await eventually(lambda: phase_is(kube, "web", "Running"), what="the pod Running")
        rec = record_of(emulator, naming, pod)
        assert rec is not None
        emulator.state.restart(rec)
        restarted = await eventually(lambda: _restarts(kube, "web", 1), what="the restart count synced")
        # the emulator's restart clears a scheduled failure: schedule one again, as fail-after-start does
        fault = FailAfterStart(after_seconds=60, exit_code=3, reason="Error")
        rec.fail_at, rec.exit_code, rec.reason = emulator_clock.now + fault.after_seconds, fault.exit_code, fault.reason
        emulator.state._changing.add(rec.id)  # no public way to schedule a failure on a live record
        emulator_clock.advance(61)
        failed = await eventually(lambda: phase_is(kube, "web", "Failed"), what="the pod Failed")
    node = await kube.get_as(f"/api/v1/nodes/{NODE_A}", Node)
    assert running.status.pod_ip == rec.private_ip
    assert running.status.host_ip == "127.0.0.1" == node.status.addresses[0].address
    assert {c.type: c.status for c in running.status.conditions} == {
        "PodScheduled": "True", "Initialized": "True", "ContainersReady": "True", "Ready": "True"}
    [cs] = running.status.container_statuses
    assert cs.ready and cs.started and cs.restart_count == 0 and cs.state and cs.state.running
    assert cs.container_id == f"tke-serverless://{rec.id}/app" and cs.image == "nginx:1.27"
    assert restarted.status.container_statuses[0].restart_count == 1
    [done] = failed.status.container_statuses
    assert done.state and done.state.terminated and done.state.terminated.exit_code == 3
    ready = failed.status.condition("Ready")
    assert ready is not None and ready.status == "False"
    [announced] = await bus_records(bus, "spillway.instance.running")  # once, though it ran twice
    assert announced.msg_id == f"{pod.metadata.uid}:running"
    assert (announced.message.uid, announced.message.eks_ci_id, announced.message.node) == (
        pod.metadata.uid, rec.id, NODE_A)


async def container_creating(kube: KubeClient, name: str) -> Pod | None:
    pod = await get_pod(kube, name)
    states = [c.state for c in pod.status.container_statuses]
    ok = states and states[0] and states[0].waiting and states[0].waiting.reason == "ContainerCreating"
    return pod if ok else None


async def _restarts(kube: KubeClient, name: str, count: int) -> Pod | None:
    pod = await get_pod(kube, name)
    return pod if pod.status.container_statuses and pod.status.container_statuses[0].restart_count == count else None


async def test_daemonset_pod_fails_and_vanished_instance_is_lost(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, run_node_status: Run,
    run_provisioner: RunProvisioner, naming: InstanceNaming,
) -> None:
    async with run_node_status(), run_provisioner():
        daemon = await create_and_bind(sandbox, kube, pod_body("ds", owner_kind="DaemonSet"))
        web = await create_and_bind(sandbox, kube, pod_body("lost"))
        await announce(bus, daemon)
        await announce(bus, web)
        ds = await eventually(lambda: phase_is(kube, "ds", "Failed"), what="the DaemonSet pod Failed")
        await eventually(lambda: phase_is(kube, "lost", "Running"), what="the pod Running")
        lost_record = record_of(emulator, naming, web)
        assert lost_record is not None
        emulator.vanish([lost_record.id])
        lost = await eventually(lambda: phase_is(kube, "lost", "Failed"), what="the pod Failed as InstanceLost")
    assert (ds.status.reason, lost.status.reason) == ("DaemonsetForbidden", "InstanceLost")
    assert record_of(emulator, naming, daemon) is None
    events = await kube.get_as("/api/v1/namespaces/default/events", dict[str, Any])
    reasons = {e["reason"] for e in events["items"]}
    assert {"DaemonsetForbidden", "InstanceLost"} <= reasons


async def test_terminating_pod_is_removed_once_its_instance_is_gone(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, run_node_status: Run,
    run_provisioner: RunProvisioner, naming: InstanceNaming,
) -> None:
    async with run_node_status(), run_provisioner():
        pod = await create_and_bind(sandbox, kube, pod_body("bye"))
        await announce(bus, pod)
        await eventually(lambda: phase_is(kube, "bye", "Running"), what="the pod Running")
        await kube.delete(pod_path("default", "bye"))  # graceful: 30 s, deletionTimestamp set
        terminating = await get_pod(kube, "bye")
        assert terminating.is_terminating()
        await announce(bus, terminating, "terminating")
        await eventually(lambda: pod_gone(kube, "bye"), what="the pod removed")
    assert record_of(emulator, naming, pod) is None


async def pod_gone(kube: KubeClient, name: str) -> bool:
    try:
        await get_pod(kube, name)
    except NotFound:
        return True
    return False


async def test_logs_through_the_api_server_and_only_with_its_client_certificate(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, kube_api: k8s.ApiClient, kubectl: KubectlRunner,
    run_node_status: Run, run_provisioner: RunProvisioner,
) -> None:
    async with run_node_status(), run_provisioner():
        pod = await create_and_bind(sandbox, kube, pod_body("talker"))
        await announce(bus, pod)
        await eventually(lambda: phase_is(kube, "talker", "Running"), what="the pod Running")
        text = await k8s.CoreV1Api(kube_api).read_namespaced_pod_log("talker", "default", tail_lines=5)
        cli = await kubectl("logs", "talker", "--tail", "5")
        node = await kube.get_as(f"/api/v1/nodes/{NODE_A}", Node)
        endpoints = node.status.daemon_endpoints
        assert endpoints is not None and endpoints.kubelet_endpoint is not None
        port = endpoints.kubelet_endpoint.port
        anonymous = ssl.create_default_context()
        anonymous.check_hostname, anonymous.verify_mode = False, ssl.CERT_NONE
        url = f"https://127.0.0.1:{port}/containerLogs/default/talker/app"
        refused = False
        async with aiohttp.ClientSession() as session:
            try:
                async with session.get(url, ssl=anonymous) as resp:
                    refused = resp.status >= 400
            except (aiohttp.ClientError, ssl.SSLError):
                refused = True
    assert text.strip() and len(text.strip().splitlines()) <= 5
    assert "nginx" in text or "talker" in text or text.strip()
    assert cli.returncode == 0 and cli.stdout == text
    assert refused
