"""The watcher passes on only what changes a decision or a cloud pod: a pod on a local node needs no
event, and its status flaps are no bucket writes; a node's heartbeat is neither."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from services.watcher.classify import counted_fields, node_fields
from services.watcher.mirror import ClusterMirror
from services.watcher.pipeline import KeyedPipeline
from spillway.bus import Bus
from spillway.kube.reflector import RawEvent
from spillway.model import messages as m
from spillway.model.kube import Node, Pod, from_builtins, local_pod_view
from tests.services.conftest import bus_records, local_node_body, super_node_body

RUNNING = {"phase": "Running", "podIP": "10.244.1.5", "hostIP": "172.20.0.2",
           "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-28T08:00:00Z"}],
           "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0}]}


def pod(node: str = "node-a", rv: str = "10", status: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "default", "uid": "u-1", "resourceVersion": rv, **meta},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "nginx"}]},
            "status": status if status is not None else RUNNING}


def _pod(body: dict[str, Any]) -> Pod:
    return from_builtins(body, Pod)


FLAPS = [
    pytest.param({"status": {**RUNNING, "containerStatuses": [{"name": "app", "ready": False, "restartCount": 3}]}},
                 id="restarts"),
    pytest.param({"status": {**RUNNING, "podIP": "10.244.1.9"}}, id="pod-ip"),
    pytest.param({"rv": "99"}, id="resource-version-only"),
]
COUNTED = [
    pytest.param({"status": {**RUNNING, "phase": "Succeeded"}}, id="finished"),
    pytest.param({"deletionTimestamp": "2026-11-28T09:00:00Z"}, id="terminating"),
    pytest.param({"labels": {"app": "web"}}, id="labels"),
    pytest.param({"ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "uid": "r", "controller": True}]},
                 id="owner"),
    pytest.param({"node": "node-b"}, id="node"),
    # returns to the IDC wait for every replica to be Ready: a probe turns it long after the phase
    pytest.param({"status": {**RUNNING, "conditions": [{"type": "Ready", "status": "False"}]}}, id="readiness"),
    pytest.param({"status": {**RUNNING, "reason": "Evicted"}}, id="reason"),
]


@pytest.mark.parametrize("change", FLAPS)
def test_a_status_flap_leaves_what_consumers_count_unchanged(change: dict[str, Any]) -> None:
    assert counted_fields(_pod(pod(**change))) == counted_fields(_pod(pod()))


@pytest.mark.parametrize("change", COUNTED)
def test_what_placement_counts_with_changes_the_digest(change: dict[str, Any]) -> None:
    assert counted_fields(_pod(pod(**change))) != counted_fields(_pod(pod()))


def _node(body: dict[str, Any], *, ready: str = "True", heartbeat: str = "2026-11-28T08:00:00Z",
          rv: str = "1") -> Node:
    conditions = [{"type": "Ready", "status": ready, "lastHeartbeatTime": heartbeat,
                   "lastTransitionTime": "2026-11-28T07:00:00Z"}]
    return from_builtins({**body, "metadata": {**body["metadata"], "resourceVersion": rv},
                          "status": {**body.get("status", {}), "conditions": conditions}}, Node)


def test_a_heartbeat_is_no_node_change_but_readiness_is() -> None:
    base = _node(local_node_body("node-a"))
    assert node_fields(_node(local_node_body("node-a"), heartbeat="2026-11-28T08:05:00Z", rv="2")) == node_fields(base)
    assert node_fields(_node(local_node_body("node-a"), ready="False")) != node_fields(base)


async def _mirror(bus: Bus) -> ClusterMirror:
    mirror = ClusterMirror(bus, KeyedPipeline())
    for body in (local_node_body("node-a"), super_node_body("subnet-a")):
        await mirror.on_node(RawEvent("ADDED", body["metadata"]["name"], "1", msgspec.json.encode(body)))
    return mirror


async def _feed(mirror: ClusterMirror, event_type: str, body: dict[str, Any]) -> None:
    await mirror.on_pod(RawEvent(event_type, "default/web-1", body["metadata"]["resourceVersion"],
                                 msgspec.json.encode(body)))
    await mirror.pipeline.drain()


async def _pod_events(bus: Bus) -> list[str]:
    return [r.message.change for r in await bus_records(bus, "spillway.pod.>")]


async def test_a_local_pod_is_in_the_bucket_without_events_and_its_flaps_are_not_written(bus: Bus) -> None:
    mirror = await _mirror(bus)
    pods = await bus.typed_kv(m.KV_PODS, Pod)
    await _feed(mirror, "ADDED", pod(rv="10"))
    first = await pods.get_entry("default/web-1")
    assert first is not None and first[0] == local_pod_view(_pod(pod(rv="10")))  # what placement reads, no more
    await _feed(mirror, "MODIFIED", pod(rv="11", status={**RUNNING, "podIP": "10.244.1.9",
                                                         "containerStatuses": [{"name": "app", "restartCount": 1}]}))
    assert (await pods.get_entry("default/web-1")) == first  # not written again
    assert mirror.skipped_updates == 1
    await _feed(mirror, "MODIFIED", pod(rv="12", status={**RUNNING, "phase": "Failed"}))
    latest = await pods.get("default/web-1")
    assert latest is not None and latest.is_finished()
    await _feed(mirror, "DELETED", pod(rv="13", status={**RUNNING, "phase": "Failed"}))
    assert await pods.get("default/web-1") is None
    assert await _pod_events(bus) == []  # bound, finished, deleted: none concerns a cloud service


@pytest.mark.parametrize("node", [pytest.param("eklet-subnet-a", id="super-node"),
                                  pytest.param("node-unknown", id="node-not-known-yet")])
async def test_a_pod_that_may_be_a_cloud_pod_is_passed_on_whole(bus: Bus, node: str) -> None:
    mirror = await _mirror(bus)
    pods = await bus.typed_kv(m.KV_PODS, Pod)
    await _feed(mirror, "ADDED", pod(node=node, rv="10"))
    flapped = {**RUNNING, "conditions": [{"type": "Ready", "status": "False"}]}
    await _feed(mirror, "MODIFIED", pod(node=node, rv="11", status=flapped))
    stored = await pods.get("default/web-1")
    assert stored is not None and stored.metadata.resource_version == "11"
    await _feed(mirror, "DELETED", pod(node=node, rv="12", status=flapped))
    assert await _pod_events(bus) == ["bound", "deleted"]


async def test_a_node_heartbeat_publishes_nothing(bus: Bus) -> None:
    mirror = await _mirror(bus)
    await mirror.pipeline.drain()
    body = local_node_body("node-a")
    beat = {**body, "metadata": {**body["metadata"], "resourceVersion": "2"},
            "status": {**body["status"], "conditions": [{"type": "Ready", "status": "True",
                                                         "lastHeartbeatTime": "2026-11-28T08:05:00Z"}]}}
    await mirror.on_node(RawEvent("MODIFIED", "node-a", "2", msgspec.json.encode(beat)))
    down = {**beat, "metadata": {**body["metadata"], "resourceVersion": "3"},
            "status": {**body["status"], "conditions": [{"type": "Ready", "status": "False",
                                                         "lastHeartbeatTime": "2026-11-28T08:06:00Z"}]}}
    await mirror.on_node(RawEvent("MODIFIED", "node-a", "3", msgspec.json.encode(down)))
    await mirror.pipeline.drain()
    events = [(r.message.node.metadata.name, r.message.node.is_ready())
              for r in await bus_records(bus, "spillway.node.>")]
    assert events == [("node-a", True), ("eklet-subnet-a", True), ("node-a", False)]
