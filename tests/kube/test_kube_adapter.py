"""The Kubernetes adapter against the sandbox over HTTP: raw calls, the reflector (resume,
410 → relist with DELETED for vanished objects), binding idempotency, Events, leader election."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from spillway.kube import Conflict, KubeClient, NotFound, pod_path
from spillway.kube.client import MERGE_PATCH, collection_path
from spillway.kube.events import EventRecorder, ObjectRef
from spillway.kube.leader import LeaderElector
from spillway.kube.reflector import RawEvent, Reflector
from spillway.model.kube import decode_pod
from spillway.sandbox import Sandbox, SandboxOptions
from tests.fixtures.clock import FakeClock


def pod_body(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}}


async def create_pod(kube: KubeClient, name: str, ns: str = "default", **spec: Any) -> None:
    await kube.request("POST", collection_path("v1", "pods", ns), body=pod_body(name, **spec))


async def test_raw_calls_and_typed_errors(kube: KubeClient) -> None:
    await create_pod(kube, "a")
    pod = decode_pod(await kube.request("GET", pod_path("default", "a")))
    assert pod.metadata.uid and pod.status.phase == "Pending"
    with pytest.raises(NotFound):
        await kube.request("GET", pod_path("default", "missing"))
    with pytest.raises(Conflict):
        await create_pod(kube, "a")
    await kube.patch(pod_path("default", "a"), {"metadata": {"labels": {"x": "1"}}}, content_type=MERGE_PATCH)
    assert decode_pod(await kube.request("GET", pod_path("default", "a"))).metadata.labels == {"x": "1"}


async def test_bind_is_idempotent_for_the_same_node(kube: KubeClient) -> None:
    await create_pod(kube, "b")
    assert await kube.bind_pod("default", "b", "node-1") is True
    assert await kube.bind_pod("default", "b", "node-1") is False  # retried bind: success
    with pytest.raises(Conflict):
        await kube.bind_pod("default", "b", "node-2")


async def collect(reflector: Reflector, events: list[RawEvent], until: int) -> None:
    task = asyncio.create_task(reflector.run())
    try:
        for _ in range(200):
            if len(events) >= until:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"only {len(events)} events: {[(e.type, e.key) for e in events]}")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_reflector_lists_then_watches(kube: KubeClient) -> None:
    await create_pod(kube, "p1")
    events: list[RawEvent] = []

    async def handle(event: RawEvent) -> None:
        events.append(event)
        if event.key == "default/p1" and event.type == "ADDED":
            await create_pod(kube, "p2")

    reflector = Reflector(kube, collection_path("v1", "pods"), handle)
    await collect(reflector, events, 2)
    assert [(e.type, e.key) for e in events[:2]] == [("ADDED", "default/p1"), ("ADDED", "default/p2")]
    assert reflector.synced.is_set()


async def test_reflector_relists_after_410_and_reports_vanished(tmp_path: Any) -> None:
    options = SandboxOptions(kubeconfig=tmp_path / "kc", watch_history=2, bookmark_interval=0.2)
    async with Sandbox(options) as sb:
        kube = await KubeClient.connect(str(sb.kubeconfig_path))
        try:
            await create_pod(kube, "keep")
            await create_pod(kube, "gone")
            events: list[RawEvent] = []

            async def handle(event: RawEvent) -> None:
                events.append(event)

            reflector = Reflector(kube, collection_path("v1", "pods"), handle)
            await reflector.relist()
            stale = reflector.resource_version
            await kube.delete(pod_path("default", "gone"), grace_seconds=0)
            for i in range(5):  # push the deletion out of the 2-event watch history
                await create_pod(kube, f"later-{i}")
            reflector.resource_version = stale
            await collect(reflector, events, 2 + 5 + 1)
            assert reflector.relists >= 2
            assert ("DELETED", "default/gone") in [(e.type, e.key) for e in events]
            assert "default/gone" not in reflector.known
        finally:
            await kube.close()


async def test_event_recorder_counts_repeats(kube: KubeClient) -> None:
    await create_pod(kube, "e")
    pod = decode_pod(await kube.request("GET", pod_path("default", "e")))
    recorder = EventRecorder(kube, "spillway-test")
    ref = ObjectRef("Pod", "default", "e", pod.metadata.uid)
    await recorder.record(ref, "Normal", "BurstToCloud", "bound to eklet-subnet-a")
    await recorder.record(ref, "Normal", "BurstToCloud", "bound to eklet-subnet-a")
    events = await kube.get_as(collection_path("v1", "events", "default"), dict[str, Any])
    mine = [e for e in events["items"] if e["involvedObject"]["name"] == "e"]
    assert len(mine) == 1
    assert mine[0]["count"] == 2 and mine[0]["reason"] == "BurstToCloud"


async def test_leader_election_hands_over_after_expiry(kube: KubeClient) -> None:
    clock = FakeClock(wall_start=1000.0)
    a = LeaderElector(kube, "default", "placement", "a", lease_duration=15, clock=clock)
    b = LeaderElector(kube, "default", "placement", "b", lease_duration=15, clock=clock)
    assert await a.try_acquire_or_renew() is True
    assert await b.try_acquire_or_renew() is False
    clock.advance(10)
    assert await a.try_acquire_or_renew() is True  # renewal keeps it
    clock.advance(14)
    assert await b.try_acquire_or_renew() is False  # a renewed 14 s ago
    clock.advance(2)
    assert await b.try_acquire_or_renew() is True  # expired: b takes over
    assert await a.try_acquire_or_renew() is False
