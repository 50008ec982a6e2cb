"""The watcher against the sandbox and a real NATS: events per pod lifecycle, KV state, 410
resume, restarts, nodes and the eks-config ConfigMap."""

from __future__ import annotations

from typing import Any

import pytest

from services.watcher.classify import classify, message_id
from services.watcher.main import build_service
from spillway.bus import Bus, TypedKV
from spillway.kube import KubeClient, pod_path
from spillway.kube.client import MERGE_PATCH, collection_path, node_path, object_path
from spillway.model import messages as m
from spillway.model.kube import Node, Pod, ReplicaSet, from_builtins
from tests.fixtures.eventually import eventually
from tests.services.conftest import (
    UNSCHEDULABLE_STATUS,
    ServiceEnv,
    bus_records,
    local_node_body,
    pod_body,
    super_node_body,
)

GATE = "spillway.io/placement"


@pytest.fixture
async def kube(services_env: ServiceEnv) -> Any:
    client = await KubeClient.connect(str(services_env.kubeconfig))
    try:
        yield client
    finally:
        await client.close()


async def pod_changes(bus: Bus, name: str) -> list[str]:
    return [r.message.change for r in await bus_records(bus, "spillway.pod.>") if r.message.pod.metadata.name == name]


def view(**pod: Any) -> Pod:
    return from_builtins(pod, Pod)


@pytest.mark.parametrize(("event_type", "pod", "expected"), [
    pytest.param("ADDED", view(spec={"schedulingGates": [{"name": GATE}]}), "gated", id="gated"),
    pytest.param("ADDED", view(spec={"schedulingGates": [{"name": "other"}]}), None, id="foreign-gate"),
    pytest.param("MODIFIED", view(status=UNSCHEDULABLE_STATUS["status"]), "unschedulable", id="unschedulable"),
    pytest.param("MODIFIED", view(spec={"schedulingGates": [{"name": "other"}]}, status=UNSCHEDULABLE_STATUS["status"]),
                 None, id="unschedulable-but-gated"),
    pytest.param("MODIFIED", view(spec={"nodeName": "n1"}), "bound", id="bound"),
    pytest.param("MODIFIED", view(metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"}, spec={"nodeName": "n1"}),
                 "terminating", id="terminating"),
    pytest.param("DELETED", view(spec={"nodeName": "n1"}), "deleted", id="deleted"),
    pytest.param("ADDED", view(), None, id="plain-pending"),
])
def test_classify(event_type: str, pod: Pod, expected: str | None) -> None:
    assert classify(event_type, pod) == expected


def test_message_ids() -> None:
    pod = view(metadata={"uid": "u1", "resourceVersion": "7"}, spec={"nodeName": "eklet-a"})
    assert message_id("bound", pod) == "u1:bound:eklet-a"
    assert message_id("gated", pod) == "u1:7:gated"
    assert message_id("terminating", pod) == "u1:terminating"


async def test_pod_lifecycle_events_and_kv(services_env: ServiceEnv, bus: Bus, kube: KubeClient) -> None:
    async with services_env.run(build_service):
        await kube.request("POST", collection_path("v1", "pods", "default"), body=pod_body("web-1", gates=[GATE]))
        await eventually(lambda: pod_changes(bus, "web-1"), what="gated event")
        # the gate goes (as placement would do), the scheduler finds no room
        await kube.patch(pod_path("default", "web-1"), {"spec": {"schedulingGates": None}}, content_type=MERGE_PATCH)
        await kube.patch(pod_path("default", "web-1") + "/status", UNSCHEDULABLE_STATUS, content_type=MERGE_PATCH)
        await kube.bind_pod("default", "web-1", "node-a")
        await kube.patch(pod_path("default", "web-1") + "/status", {"status": {"phase": "Running"}},
                         content_type=MERGE_PATCH)
        await kube.delete(pod_path("default", "web-1"), grace_seconds=30)
        pods = await bus.typed_kv(m.KV_PODS, Pod)
        terminating = await eventually(lambda: pods.get("default/web-1"), what="pod in KV")
        await kube.delete(pod_path("default", "web-1"), grace_seconds=0)
        expected = ["gated", "unschedulable", "bound", "terminating", "deleted"]
        changes = await eventually(lambda: _when_len(pod_changes(bus, "web-1"), 5), what="five events")
        assert changes == expected
        assert terminating.metadata.name == "web-1"
        await eventually(lambda: _absent(pods, "default/web-1"), what="pod removed from KV")
        records = [r for r in await bus_records(bus, "spillway.pod.>")]
        uid = records[0].message.pod.metadata.uid
        assert [r.msg_id for r in records][2:] == [f"{uid}:bound:node-a", f"{uid}:terminating", f"{uid}:deleted"]


async def _when_len(value: Any, n: int) -> Any:
    got = await value
    return got if len(got) >= n else None


async def _absent(kv: TypedKV[Any], key: str) -> bool:
    return await kv.get(key) is None


async def test_kv_holds_latest_pod_node_and_config_state(services_env: ServiceEnv, bus: Bus,
                                                         kube: KubeClient) -> None:
    async with services_env.run(build_service):
        await kube.request("POST", collection_path("v1", "nodes"), body=super_node_body("subnet-a"))
        await kube.request("POST", collection_path("v1", "nodes"), body=local_node_body("node-a"))
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "eks-config"},
              "data": {"AUTO_SCALE_EKS": "false"}}
        await kube.request("POST", collection_path("v1", "configmaps", "kube-system"), body=cm)
        other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unrelated"}, "data": {"x": "y"}}
        await kube.request("POST", collection_path("v1", "configmaps", "kube-system"), body=other)
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": "web-5d4f", "ownerReferences": [
                  {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d1", "controller": True}]},
              "spec": {"selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "a", "image": "x"}]}}}}
        await kube.request("POST", collection_path("apps/v1", "replicasets", "default"), body=rs)
        configs: TypedKV[m.ConfigEvent] = await bus.typed_kv(m.KV_CONFIG)
        got = await eventually(lambda: configs.get(m.CONFIG_KEY_EKS), what="config in KV")
        assert got.data == {"AUTO_SCALE_EKS": "false"}
        await kube.patch(object_path("v1", "configmaps", "eks-config", "kube-system"),
                         {"data": {"AUTO_SCALE_EKS": "true"}}, content_type=MERGE_PATCH)
        await eventually(lambda: _config_is(configs, "true"), what="config updated in KV")
        nodes: TypedKV[Node] = await bus.typed_kv(m.KV_NODES)
        node = await eventually(lambda: nodes.get("eklet-subnet-a"), what="super node in KV")
        assert node.is_super_node() and node.is_ready()
        rsets: TypedKV[ReplicaSet] = await bus.typed_kv(m.KV_REPLICASETS)
        got_rs = await eventually(lambda: rsets.get("default/web-5d4f"), what="replicaset in KV")
        owner = got_rs.metadata.controller_ref()
        assert owner is not None
        assert owner.name == "web"
        await kube.delete(node_path("node-a"))
        await eventually(lambda: _absent(nodes, "node-a"), what="node removed")
        subjects = [r.subject for r in await bus_records(bus, "spillway.>")]
        assert m.NODE_DELETED in subjects and subjects.count(m.CONFIG_CHANGED) == 2  # never the unrelated one


async def _config_is(configs: TypedKV[m.ConfigEvent], value: str) -> bool:
    got = await configs.get(m.CONFIG_KEY_EKS)
    return got is not None and got.data.get("AUTO_SCALE_EKS") == value


async def test_restart_republishes_pending_and_prunes_deleted(services_env: ServiceEnv, bus: Bus,
                                                              kube: KubeClient) -> None:
    await kube.request("POST", collection_path("v1", "pods", "default"), body=pod_body("early", gates=[GATE]))
    await kube.request("POST", collection_path("v1", "pods", "default"), body=pod_body("doomed"))
    async with services_env.run(build_service):  # the first list publishes what is already pending
        await eventually(lambda: pod_changes(bus, "early"), what="pending pod published at startup")
    pods: TypedKV[Pod] = await bus.typed_kv(m.KV_PODS)
    assert await pods.get("default/doomed") is not None
    # while no watcher runs: one pod is deleted, one becomes pending, one appears
    await kube.delete(pod_path("default", "doomed"), grace_seconds=0)
    await kube.patch(pod_path("default", "early") + "/status", {"status": {"message": "x"}}, content_type=MERGE_PATCH)
    await kube.request("POST", collection_path("v1", "pods", "default"), body=pod_body("late", gates=[GATE]))
    async with services_env.run(build_service):
        assert await pods.get("default/doomed") is None  # ready means pruned
        assert await pod_changes(bus, "doomed") == ["deleted"]
        assert await pod_changes(bus, "late") == ["gated"]
        assert await pod_changes(bus, "early") == ["gated", "gated"]  # a new resourceVersion: looked at again
    async with services_env.run(build_service):  # nothing changed: the relist is de-duplicated
        records = await bus_records(bus, "spillway.pod.>")
        assert len(records) == 4


async def test_watch_resumes_after_410_without_loss_or_duplicates(services_env: ServiceEnv, bus: Bus,
                                                                  kube: KubeClient) -> None:
    services_env.sandbox.store.watch_history = 3  # tiny watch cache: a reconnect will be too old
    async with services_env.run(build_service) as svc:
        reflector = svc.service.state.reflectors[m.KV_PODS]
        relists = reflector.relists
        await kube.request("POST", collection_path("v1", "pods", "default"), body=pod_body("a-0", gates=[GATE]))
        await eventually(lambda: pod_changes(bus, "a-0"), what="the gated event of a-0")
        services_env.sandbox.store.close_watchers()  # every stream ends; reflectors resume from their RV
        for i in range(1, 8):
            await services_env.sandbox.store.create("pods", pod_body(f"a-{i}", gates=[GATE]))
        await eventually(lambda: reflector.relists > relists, what="relisted after 410")
        await kube.request("POST", collection_path("v1", "pods", "default"), body=pod_body("a-8", gates=[GATE]))

        async def all_published() -> list[str] | None:
            names = sorted(r.message.pod.metadata.name for r in await bus_records(bus, "spillway.pod.>"))
            return names if len(names) >= 9 else None

        names = await eventually(all_published, what="nine gated events")
        assert names == [f"a-{i}" for i in range(9)]
