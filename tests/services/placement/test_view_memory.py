"""Placement's view holds a big cluster in little memory: a new leader's refresh pages through the
API and keeps local pods as the bus does, and replicas share their equal parts."""

from __future__ import annotations

import msgspec
import pytest

from services.placement import decider as decider_module
from services.placement.decider import Decider
from services.placement.view import ClusterView, SharedParts
from spillway.kube import KubeClient
from spillway.model.kube import Node, Pod, from_builtins, local_pod_view
from spillway.policy import PolicyOptions
from spillway.sandbox import Sandbox
from tests.sandbox.helpers import node, pod
from tests.services.conftest import super_node_body


def _replica(name: str, node_name: str = "") -> Pod:
    body = pod(name, labels={"app": "web"}, node=node_name or None)
    body["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "100m"}}
    body["metadata"] |= {"namespace": "default", "uid": f"uid-{name}", "resourceVersion": "5"}
    return from_builtins(body, Pod)


async def test_a_refresh_pages_keeps_local_pods_as_views_and_the_newer_pods_of_the_bus(
        sandbox: Sandbox, kube: KubeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decider_module, "PAGE_SIZE", 2)
    for body in (node("idc-1"), super_node_body("subnet-a")):
        await sandbox.store.create("nodes", body)
    for name, node_name in (("a", "idc-1"), ("b", "idc-1"), ("c", "eklet-subnet-a"), ("d", "")):
        await sandbox.store.create("pods", pod(name, node=node_name or None), namespace="default")
    view = ClusterView()
    for stored in sandbox.store.list("nodes")[0]:
        view.nodes[stored["metadata"]["name"]] = from_builtins(stored, Node)
    gone = msgspec.structs.replace(_replica("gone"), metadata=msgspec.structs.replace(
        _replica("gone").metadata, resource_version="1"))
    arrived = msgspec.structs.replace(_replica("arrived"), metadata=msgspec.structs.replace(
        _replica("arrived").metadata, resource_version=str(sandbox.store.rv + 100)))
    view.upsert_pod(gone)
    view.upsert_pod(arrived)

    decider = Decider(view, client=kube, bus=None, recorder=None,  # type: ignore[arg-type]  # the API only
                      options=PolicyOptions())
    await decider.refresh_pods()

    assert sorted(view.pods) == ["default/a", "default/arrived", "default/b", "default/c", "default/d"]
    api = {p["metadata"]["name"]: from_builtins(p, Pod) for p in sandbox.store.list("pods", "default")[0]}
    assert view.pods["default/a"] == local_pod_view(api["a"])  # local: what the bus holds of it
    assert view.pods["default/c"] == api["c"] and view.pods["default/d"] == api["d"]  # the others whole
    assert view.unbound == {"default/arrived", "default/d"}  # the pods a resync looks at

    held = dict(view.pods)
    await sandbox.store.create("pods", pod("e"), namespace="default")
    await decider.refresh_pods()  # a pod held at its listed version is not decoded or replaced again
    assert all(view.pods[key] is pod_ for key, pod_ in held.items()) and "default/e" in view.pods


def test_replicas_share_their_equal_parts_and_stay_equal() -> None:
    shared = SharedParts()
    first, second = (shared.pod(_replica(n, "idc-1")) for n in ("web-1", "web-2"))
    assert first == _replica("web-1", "idc-1") and second == _replica("web-2", "idc-1")
    assert first.spec.containers is second.spec.containers
    assert first.metadata.labels is second.metadata.labels
    other = shared.pod(msgspec.structs.replace(_replica("web-3"), metadata=msgspec.structs.replace(
        _replica("web-3").metadata, labels={"app": "db"})))
    assert other.metadata.labels == {"app": "db"} and other.spec.containers is first.spec.containers


def test_the_table_of_parts_is_bounded() -> None:
    shared = SharedParts(capacity=3)
    for index in range(10):
        shared.pod(msgspec.structs.replace(_replica(f"p{index}"), metadata=msgspec.structs.replace(
            _replica(f"p{index}").metadata, labels={"app": f"w{index}"})))
    assert len(shared) == 3
