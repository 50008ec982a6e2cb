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
from tests.fixtures.clock import FakeClock
from tests.sandbox.helpers import node, pod
from tests.services.conftest import super_node_body


def _replica(name: str, node_name: str = "") -> Pod:
    body = pod(name, labels={"app": "web"}, node=node_name or None)
    body["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "100m"}}
    body["metadata"] |= {"namespace": "default", "uid": f"uid-{name}", "resourceVersion": "5"}
    return from_builtins(body, Pod)


@pytest.mark.parametrize("read_one_by_one", [100, 1], ids=["pods-read-one-by-one", "pods-read-in-a-list"])
async def test_a_refresh_pages_keeps_local_pods_as_views_and_the_newer_pods_of_the_bus(
        sandbox: Sandbox, kube: KubeClient, monkeypatch: pytest.MonkeyPatch, read_one_by_one: int) -> None:
    monkeypatch.setattr(decider_module, "PAGE_SIZE", 2)
    monkeypatch.setattr(decider_module, "READ_ONE_BY_ONE", read_one_by_one)
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

    clock = FakeClock(auto_advance=True)
    decider = Decider(view, client=kube, bus=None, recorder=None,  # type: ignore[arg-type]  # the API only
                      options=PolicyOptions(), clock=clock)
    await decider.refresh_pods()
    assert sum(clock.slept) == decider_module.BUS_PATIENCE  # the bus brought none of the four: waited, then read

    assert sorted(view.pods) == ["default/a", "default/arrived", "default/b", "default/c", "default/d"]
    api = {p["metadata"]["name"]: from_builtins(p, Pod) for p in sandbox.store.list("pods", "default")[0]}
    assert view.pods["default/a"] == local_pod_view(api["a"])  # local: what the bus holds of it
    assert view.pods["default/c"] == api["c"] and view.pods["default/d"] == api["d"]  # the others whole
    assert view.unbound == {"default/arrived", "default/d"}  # the pods a resync looks at

    held = dict(view.pods)
    await sandbox.store.create("pods", pod("e"), namespace="default")
    await decider.refresh_pods()  # a pod held at its listed version is not decoded or replaced again
    assert all(view.pods[key] is pod_ for key, pod_ in held.items()) and "default/e" in view.pods


class BusArriving(FakeClock):
    """Virtual time in which, at every look, the bus brings the next pod it owes the view."""

    def __init__(self, view: ClusterView, owed: list[Pod]) -> None:
        super().__init__(auto_advance=True)
        self.view, self.owed = view, owed
        self.brought: dict[str, Pod] = {}  # as the view stored each

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        if self.owed:
            self.view.upsert_pod(self.owed.pop(0))
            self.brought.update(self.view.pods)


async def test_a_new_leader_waits_for_the_bus_instead_of_reading_every_pod_again(
        sandbox: Sandbox, kube: KubeClient) -> None:
    """A cold start: every pod the API lists is on its way through the watcher. The refresh lists
    only their metadata and takes the bus's pods as they come; the API is read for none of them."""
    for name in ("a", "b", "c"):
        await sandbox.store.create("pods", pod(name), namespace="default")
    from_bus = [from_builtins(p, Pod) for p in sandbox.store.list("pods", "default")[0]]
    view = ClusterView()
    clock = BusArriving(view, list(from_bus))
    decider = Decider(view, client=kube, bus=None, recorder=None,  # type: ignore[arg-type]  # the API only
                      options=PolicyOptions(), clock=clock)

    await decider.refresh_pods()

    assert len(clock.slept) == 3  # one look per pod the bus brought
    assert [view.pods[f"default/{p.metadata.name}"] for p in from_bus] == from_bus
    assert all(view.pods[key] is stored for key, stored in clock.brought.items())  # never replaced by a read


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
