"""Pod status from instance status, DaemonsetForbidden, InstanceLost, finished deletions, kubectl logs."""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s

from spillway.bus import Bus
from spillway.cloud import instance_name
from spillway.emulator.faults import FailAfterStart
from spillway.emulator.server import Emulator
from spillway.kube import KubeClient, NotFound, pod_path
from spillway.model.kube import Node, Pod
from spillway.sandbox import Sandbox
from tests.fixtures.cloud import MutableClock
from tests.fixtures.sandbox import KubectlRunner
from tests.services.cloud_provisioner.harness import CLUSTER_ID, NODE_A, announce, create_and_bind, get_pod, pod_body
from tests.services.conftest import bus_records, wait_for
from tests.services.node_status.conftest import Run


def record_of(emulator: Emulator, pod: Pod) -> object:
    name = instance_name(CLUSTER_ID, pod.metadata.uid)
    return next((r for r in emulator.state.records.values() if r.name == name), None)


async def phase_is(kube: KubeClient, name: str, phase: str) -> Pod | None:
    pod = await get_pod(kube, name)
    return pod if pod.status.phase == phase else None


async def test_status_follows_the_instance_pending_running_restarts_failed(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, emulator_clock: MutableClock,
    run_node_status: Run, run_provisioner: Run,
) -> None:
    emulator.state.start_delay = 30
    async with run_node_status(), run_provisioner():
        pod = await create_and_bind(sandbox, kube, pod_body("web"))
        await announce(bus, pod)
        pending = await wait_for(lambda: _waiting(kube, "web"), message="never ContainerCreating")
        assert pending.status.phase == "Pending"
        emulator_clock.advance(31)
        running = await wait_for(lambda: phase_is(kube, "web", "Running"), message="never Running")
        rec = record_of(emulator, pod)
        emulator.state.restart(rec)  # type: ignore[arg-type]
        restarted = await wait_for(lambda: _restarts(kube, "web", 1), message="restart count not synced")
        # the emulator's restart clears a scheduled failure: schedule one again, as fail-after-start does
        fault = FailAfterStart(after_seconds=60, exit_code=3, reason="Error")
        rec.fail_at, rec.exit_code, rec.reason = emulator_clock.now + fault.after_seconds, fault.exit_code, fault.reason  # type: ignore[attr-defined]
        emulator.state._changing.add(rec.id)  # type: ignore[attr-defined]
        emulator_clock.advance(61)
        failed = await wait_for(lambda: phase_is(kube, "web", "Failed"), message="never Failed")
    node = await kube.get_as(f"/api/v1/nodes/{NODE_A}", Node)
    assert running.status.pod_ip == rec.private_ip  # type: ignore[attr-defined]
    assert running.status.host_ip == "127.0.0.1" == node.status.addresses[0].address
    assert {c.type: c.status for c in running.status.conditions} == {
        "PodScheduled": "True", "Initialized": "True", "ContainersReady": "True", "Ready": "True"}
    [cs] = running.status.container_statuses
    assert cs.ready and cs.started and cs.restart_count == 0 and cs.state and cs.state.running
    assert cs.container_id == f"tke-serverless://{rec.id}/app" and cs.image == "nginx:1.27"  # type: ignore[attr-defined]
    assert restarted.status.container_statuses[0].restart_count == 1
    [done] = failed.status.container_statuses
    assert done.state and done.state.terminated and done.state.terminated.exit_code == 3
    assert failed.status.condition("Ready").status == "False"  # type: ignore[union-attr]
    [announced] = await bus_records(bus, "spillway.instance.running")  # once, though it ran twice
    assert announced.msg_id == f"{pod.metadata.uid}:running"
    assert (announced.message.uid, announced.message.eks_ci_id, announced.message.node) == (
        pod.metadata.uid, rec.id, NODE_A)  # type: ignore[attr-defined]


async def _waiting(kube: KubeClient, name: str) -> Pod | None:
    pod = await get_pod(kube, name)
    states = [c.state for c in pod.status.container_statuses]
    ok = states and states[0] and states[0].waiting and states[0].waiting.reason == "ContainerCreating"
    return pod if ok else None


async def _restarts(kube: KubeClient, name: str, count: int) -> Pod | None:
    pod = await get_pod(kube, name)
    return pod if pod.status.container_statuses and pod.status.container_statuses[0].restart_count == count else None


async def test_daemonset_pod_fails_and_vanished_instance_is_lost(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, run_node_status: Run, run_provisioner: Run,
) -> None:
    async with run_node_status(), run_provisioner():
        daemon = await create_and_bind(sandbox, kube, pod_body("ds", owner_kind="DaemonSet"))
        web = await create_and_bind(sandbox, kube, pod_body("lost"))
        await announce(bus, daemon)
        await announce(bus, web)
        ds = await wait_for(lambda: phase_is(kube, "ds", "Failed"))
        await wait_for(lambda: phase_is(kube, "lost", "Running"))
        emulator.vanish([record_of(emulator, web).id])  # type: ignore[union-attr]
        lost = await wait_for(lambda: phase_is(kube, "lost", "Failed"), message="never InstanceLost")
    assert (ds.status.reason, lost.status.reason) == ("DaemonsetForbidden", "InstanceLost")
    assert record_of(emulator, daemon) is None
    events = await kube.get_as("/api/v1/namespaces/default/events", dict[str, Any])
    reasons = {e["reason"] for e in events["items"]}
    assert {"DaemonsetForbidden", "InstanceLost"} <= reasons


async def test_terminating_pod_is_removed_once_its_instance_is_gone(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, run_node_status: Run, run_provisioner: Run,
) -> None:
    async with run_node_status(), run_provisioner():
        pod = await create_and_bind(sandbox, kube, pod_body("bye"))
        await announce(bus, pod)
        await wait_for(lambda: phase_is(kube, "bye", "Running"))
        await kube.delete(pod_path("default", "bye"))  # graceful: 30 s, deletionTimestamp set
        terminating = await get_pod(kube, "bye")
        assert terminating.is_terminating()
        await announce(bus, terminating, "terminating")
        await wait_for(lambda: _gone(kube, "bye"), message="pod not removed")
    assert record_of(emulator, pod) is None


async def _gone(kube: KubeClient, name: str) -> bool:
    try:
        await get_pod(kube, name)
    except NotFound:
        return True
    return False


async def test_logs_through_the_api_server_and_only_with_its_client_certificate(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, kube_api: k8s.ApiClient, kubectl: KubectlRunner,
    run_node_status: Run, run_provisioner: Run,
) -> None:
    async with run_node_status(), run_provisioner():
        pod = await create_and_bind(sandbox, kube, pod_body("talker"))
        await announce(bus, pod)
        await wait_for(lambda: phase_is(kube, "talker", "Running"))
        text = await k8s.CoreV1Api(kube_api).read_namespaced_pod_log("talker", "default", tail_lines=5)
        cli = await kubectl("logs", "talker", "--tail", "5")
        node = await kube.get_as(f"/api/v1/nodes/{NODE_A}", Node)
        port = node.status.daemon_endpoints.kubelet_endpoint.port  # type: ignore[union-attr]
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
