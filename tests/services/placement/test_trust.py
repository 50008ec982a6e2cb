"""Placement never stops and never trusts: a pod it cannot read, a super node that is not ours, a
bind nobody recorded, a patch the API refuses. Each runs the watcher and placement on the sandbox."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from spillway.bus import Bus
from spillway.kube import pod_path
from spillway.kube.client import MERGE_PATCH, collection_path, object_path
from spillway.sandbox import AdmissionRequest
from spillway.sandbox.errors import ApiError
from tests.fixtures.eventually import eventually
from tests.services.conftest import ServiceEnv, pod_body, super_node_body
from tests.services.placement.scenario import GATE, Cluster, cluster, decider_of, leadership_of, placement_of

TAINT = "eks.tke.cloud.tencent.com/eklet"
TOLERATION = {"key": TAINT, "operator": "Exists", "effect": "NoSchedule"}
FIXED_IP = "tke.cloud.tencent.com/vpc-ip-claim-delete-policy"
CLOUD_BIND = "spillway.io/cloud-bind"


def replica(name: str, n: int, workload: str = "web") -> dict[str, Any]:
    return pod_body(name, annotations={"LOCAL_REPLICAS": str(n)}, labels={"app": workload, "pod-template-hash": "5d4f"},
                    owner=("ReplicaSet", f"{workload}-5d4f"), gates=[GATE])


def pinned(name: str, node: str, *, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A pod as a cloud pod's YAML looks after placement's patch: tolerating super nodes, pinned
    to one by matchFields, ungated."""
    return pod_body(name, annotations=annotations, tolerations=[TOLERATION], affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}})


async def warnings_of(c: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    return [e for e in await c.events(namespace, name) if e["type"] == "Warning"]


# ---- a pod nobody can read -------------------------------------------------------------------


async def test_an_undecodable_pod_in_the_api_list_does_not_stop_the_leader(services_env: ServiceEnv,
                                                                           bus: Bus) -> None:
    # stands for any object the API serves in a shape our model cannot read (a newer server,
    # a lenient one): the new leader's first step lists every pod
    poison = pod_body("poison", priority="high")
    await services_env.sandbox.store.create("pods", poison, namespace="default")
    async with cluster(services_env, bus) as c:
        leader = c.placements[0]
        assert decider_of(leader).stats.undecodable >= 1
        await c.create(*(replica(f"web-{i}", 1) for i in range(3)))

        async def decided() -> list[str] | None:
            got = sorted(placement_of(p) for p in await c.pods("default", "app=web"))
            return got if "gated" not in got and "cloud-unbound" not in got else None

        assert await eventually(decided, what="pods decided despite the poison") == ["cloud", "cloud", "local"]
        assert leadership_of(leader).consumer is not None


# ---- super nodes that are not ours -------------------------------------------------------------


async def test_only_the_super_nodes_of_configured_subnets_are_candidates(services_env: ServiceEnv,
                                                                          bus: Bus) -> None:
    async with cluster(services_env, bus) as c:
        # a foreign super node, emptier than ours (1000 pods allowed), with a pod already bound to it
        await c.kube.request("POST", collection_path("v1", "nodes"), body=super_node_body("legacy", pods=1000))
        await c.create(pod_body("stranded"), pod_body("busy-a"), pod_body("busy-b"))
        await c.kube.bind_pod("default", "stranded", "eklet-legacy")
        await c.kube.bind_pod("default", "busy-a", "eklet-subnet-a")
        await c.kube.bind_pod("default", "busy-b", "eklet-subnet-b")
        names = [f"burst-{i}" for i in range(4)]
        await c.create(*(pod_body(n) for n in names))
        await c.mark_unschedulable("default", *names)

        async def bound() -> list[str] | None:
            nodes = [(await c.pod("default", n)).spec.node_name for n in names]
            return nodes if all(nodes) else None

        nodes = await eventually(bound, what="every pod burst")
        assert set(nodes) == {"eklet-subnet-a", "eklet-subnet-b"}

        async def node_warned() -> list[dict[str, Any]]:
            raw = await c.kube.get_as(collection_path("v1", "events", "default"), dict[str, Any])
            return [e for e in raw["items"] if e["involvedObject"]["kind"] == "Node"
                    and e["involvedObject"]["name"] == "eklet-legacy"]

        node_events = await eventually(node_warned, what="the foreign node has its Warning")
        stranded = await eventually(lambda: warnings_of(c, "default", "stranded"),
                                    what="the stranded pod has its Warning")
        # later resyncs (a node change pokes one) repeat neither
        await c.kube.patch(object_path("v1", "nodes", "eklet-subnet-a"), {"metadata": {"labels": {"x": "y"}}},
                           content_type=MERGE_PATCH)
        resyncs = leadership_of(c.placements[0])
        await resyncs.resync()
        await resyncs.resync()
        assert [(e["reason"], e["count"]) for e in await node_warned()] == [("UnmanagedSuperNode", 1)]
        assert "eklet-subnet-a" in node_events[0]["message"] and "eklet-subnet-b" in node_events[0]["message"]
        again = await warnings_of(c, "default", "stranded")
        assert [(e["reason"], e["count"]) for e in again] == [("UnmanagedSuperNode", 1)] == [
            (e["reason"], e["count"]) for e in stranded]
        assert "no Spillway service will create its cloud instance" in again[0]["message"]
        assert not await warnings_of(c, "default", "busy-a")


# ---- owed binds --------------------------------------------------------------------------------


async def test_a_copied_cloud_pod_is_decided_not_bound_as_owed(services_env: ServiceEnv, bus: Bus) -> None:
    """A copy of a cloud pod's YAML (toleration, pin, even our annotation with ITS uid) in a
    fixed-IP pod: nothing was owed, so it is decided, and refused."""
    async with cluster(services_env, bus) as c:
        copy = pinned("copy", "eklet-subnet-a",
                      annotations={FIXED_IP: "Never", CLOUD_BIND: "eklet-subnet-a/uid-of-the-original"})
        await c.create(copy)
        await c.mark_unschedulable("default", "copy")
        record = await eventually(lambda: c.decision("default", "copy"), what="the copy decided")
        assert (record.outcome, record.reason) == ("refused", "FixedIPForbidden")
        leadership = leadership_of(c.placements[0])
        await leadership.resync()
        assert not (await c.pod("default", "copy")).spec.node_name


async def owed(c: Cluster, name: str, node: str, **annotations: str) -> None:
    """What a leader that died between the patch and the bind leaves: the pinned pod with our
    record carrying its own uid."""
    await c.create(pinned(name, node, annotations=annotations))
    uid = (await c.pod("default", name)).metadata.uid
    await c.kube.patch(pod_path("default", name), {"metadata": {"annotations": {CLOUD_BIND: f"{node}/{uid}"}}},
                       content_type=MERGE_PATCH)


async def test_owed_binds_are_finished_only_when_deciding_again_agrees(services_env: ServiceEnv,
                                                                        bus: Bus) -> None:
    async with cluster(services_env, bus) as c:
        await owed(c, "fine", "eklet-subnet-a")
        await owed(c, "fixed", "eklet-subnet-a", **{FIXED_IP: "Never"})
        await c.kube.patch(object_path("v1", "nodes", "eklet-subnet-b"), {"spec": {"unschedulable": True}},
                           content_type=MERGE_PATCH)
        await owed(c, "cordoned", "eklet-subnet-b")
        leadership = leadership_of(c.placements[0])

        async def fine_bound() -> str:
            await leadership.resync()
            return (await c.pod("default", "fine")).spec.node_name

        assert await eventually(fine_bound, what="the owed bind finished") == "eklet-subnet-a"
        fine = await c.decision("default", "fine")
        assert fine is not None and (fine.outcome, fine.node) == ("cloud", "eklet-subnet-a")
        for name, why in (("fixed", "FixedIPForbidden"), ("cordoned", "were unschedulable (cordoned)")):
            record = await eventually(partial(c.decision, "default", name), what=f"{name} recorded")
            assert (record.outcome, record.reason) == ("refused", "OwedBindRefused")
            assert why in record.message
            warnings = await warnings_of(c, "default", name)
            assert [e["reason"] for e in warnings] == ["OwedBindRefused"]
            assert not (await c.pod("default", name)).spec.node_name


# ---- a refused patch -----------------------------------------------------------------------------


def deny(what: str) -> Any:
    """A policy webhook: `toleration` denies adding the super-node toleration, `all` denies any
    change of a pod by anyone."""

    async def hook(request: AdmissionRequest) -> None:
        if request.resource.plural != "pods" or request.operation != "UPDATE" or request.subresource:
            return
        if request.object["metadata"].get("labels", {}).get("app") != "guarded":
            return
        tolerations = request.object.get("spec", {}).get("tolerations") or []
        if what == "all" or any(t.get("key") == TAINT for t in tolerations):
            raise ApiError(403, "Forbidden", 'admission webhook "policy.example.com" denied the request: '
                                             "no super node for this team")

    return hook


@pytest.mark.parametrize(("what", "outcome", "reason", "gated"), [
    pytest.param("toleration", "local", "CloudPatchRefused", False, id="toleration denied: runs locally"),
    pytest.param("all", "refused", "GateLiftRefused", True, id="every change denied: a Warning says so"),
])
async def test_a_refused_cloud_patch_falls_back_to_local(services_env: ServiceEnv, bus: Bus, what: str,
                                                          outcome: str, reason: str, gated: bool) -> None:
    services_env.sandbox.store.admission_hooks.append(deny(what))
    async with cluster(services_env, bus) as c:
        await c.create(replica("guarded-0", 0, workload="guarded"))
        record = await eventually(lambda: c.decision("default", "guarded-0"), what="decided")
        assert (record.outcome, record.reason) == (outcome, reason)
        assert "403" in record.message and "no super node for this team" in record.message
        pod = await c.pod("default", "guarded-0")
        assert pod.is_gated_by(GATE) is gated and not pod.spec.node_name
        assert not any(t.key == TAINT for t in pod.spec.tolerations)
        assert [e["reason"] for e in await warnings_of(c, "default", "guarded-0")] == [reason]
        stats = decider_of(c.placements[0]).stats
        assert stats.patch_refused >= 1
        # the in-flight entry was dropped: a later resync decides the pod again instead of skipping it
        assert not decider_of(c.placements[0]).ledger.is_in_flight(pod.metadata.uid)

