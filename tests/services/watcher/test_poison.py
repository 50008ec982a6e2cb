"""One poison pod never stops the watcher for the others: a pod as big as Kubernetes allows flows
through; one bigger than the bus can carry gets a Warning Event with its reason code, and every
other pod is still published. The watcher runs as `spillway run` runs it, on the sandbox and a real NATS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from services.watcher.main import build_service
from services.watcher.report import RefusalReason, RefusalReporter
from spillway.bus import Bus
from spillway.kube import KubeClient, pod_path
from spillway.kube.client import MERGE_PATCH, collection_path
from spillway.kube.events import EventRecorder
from spillway.model import messages as m
from spillway.model.kube import Pod
from spillway.natsserver import NatsServer
from spillway.sandbox import Sandbox
from tests.fixtures.eventually import eventually
from tests.services.conftest import ServiceEnv, bus_records, pod_body, run_service

GATE = "spillway.io/placement"
MIB = 2**20


def big_pod(name: str, size: int) -> dict[str, Any]:
    """A pod of about `size` bytes, made big the way real ones are (long container args)."""
    chunk = "x" * 1000
    args = [chunk] * (size // 1003)
    return pod_body(name, gates=[GATE], containers=[{"name": "app", "image": "nginx:1.27", "args": args}])


async def changes_of(bus: Bus, name: str) -> list[str]:
    return [r.message.change for r in await bus_records(bus, "spillway.pod.>") if r.message.pod.metadata.name == name]


async def warnings_on(kube: KubeClient, name: str) -> list[dict[str, Any]]:
    events = await kube.get_as(collection_path("v1", "events", "default"), dict[str, Any])
    return [e for e in events["items"] if e["involvedObject"]["name"] == name and e["type"] == "Warning"]


async def test_a_pod_as_big_as_kubernetes_allows_is_mirrored(services_env: ServiceEnv, bus: Bus,
                                                               kube: KubeClient) -> None:
    await kube.request("POST", collection_path("v1", "pods", "default"), body=big_pod("big", 1200 * 1024))
    async with services_env.run(build_service):
        await eventually(lambda: changes_of(bus, "big"), what="the big pod's gated event")
        stored = await (await bus.typed_kv(m.KV_PODS, Pod)).get("default/big")
        assert stored is not None and len(stored.spec.containers[0].args) > 1000


async def test_a_pod_too_big_for_the_bus_is_refused_alone(sandbox: Sandbox, kube: KubeClient,
                                                          tmp_path: Path) -> None:
    with NatsServer(max_payload=MIB, store_dir=tmp_path / "small-nats") as server:
        bus = await Bus.connect(server.url, service="test")
        await bus.ensure()
        try:
            await kube.request("POST", collection_path("v1", "pods", "default"), body=big_pod("huge", 1200 * 1024))
            async with run_service(build_service, nats_url=server.url, kubeconfig=sandbox.kubeconfig_path,
                                   tmp_path=tmp_path) as svc:
                for i in range(20):  # every update is one more attempt that cannot succeed
                    await kube.patch(pod_path("default", "huge"), {"metadata": {"labels": {"round": str(i)}}},
                                     content_type=MERGE_PATCH)
                await kube.request("POST", collection_path("v1", "pods", "default"), body=pod_body("web", gates=[GATE]))
                await eventually(lambda: changes_of(bus, "web"), what="an ordinary pod after the poison")
                warnings = await eventually(lambda: warnings_on(kube, "huge"), what="a Warning on the huge pod")
                assert {w["reason"] for w in warnings} == {RefusalReason.OBJECT_TOO_LARGE.value}
                assert all("max_payload" in w["message"] for w in warnings)
                assert warnings[0]["source"]["component"] == "spillway-watcher"
                state = svc.service.state
                await state.pipeline.drain()
                assert state.pipeline.active_keys == 0  # nothing left retrying
                assert await changes_of(bus, "huge") == []
                assert await warnings_on(kube, "web") == []
        finally:
            await bus.close(drain=False)


async def test_refusals_become_warning_events_on_the_pod(kube: KubeClient) -> None:
    await kube.request("POST", collection_path("v1", "pods", "default"), body=pod_body("p"))
    reporter = RefusalReporter(EventRecorder(kube, "spillway-watcher", "test"))
    error = msgspec.ValidationError("Expected `str`, got `int` - at `$.spec.containers[0].resources.requests[...]`")
    for _ in range(3):  # the same refusal again: one Event, counted
        assert reporter.refuse("Pod", "default/p", error, uid="uid-p") is RefusalReason.UNDECODABLE_OBJECT
        await reporter.drain()
    reporter.refuse("Node", "node-a", error)  # no pod to put it on: logged and counted only
    await reporter.drain()
    [warning] = await warnings_on(kube, "p")
    assert warning["reason"] == "UndecodableObject" and warning["count"] == 3
    assert "Expected `str`, got `int`" in warning["message"]
    assert reporter.refused == 4 and reporter.events_sent == 3
