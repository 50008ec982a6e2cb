"""Return to the IDC end to end: every service its own process, the sandbox with its scheduler,
controllers (the disruption controller included), kubelet and PodDisruptionBudgets, asserted
through the Kubernetes API, the bus and placement's metrics.

Timings are short (room stable 1 s, at least 2 s in the cloud, a look every 0.2 s), so a pod that
bursts can come home within seconds. Waits are `eventually`; a claim that something does NOT
happen is checked once something that had to happen after it did (a positive control)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from spillway.cli import explain, stack_rbac
from spillway.cli.demo import ensure_eks_config
from spillway.cli.stack import LocalStack, StackOptions
from spillway.kube import KubeClient
from spillway.kube.client import MERGE_PATCH, collection_path, object_path, pod_path
from spillway.model.kube import Pod, decode_pod
from tests.fixtures.eventually import eventually

pytestmark = pytest.mark.slow

NS = "default"
CLOUD = "eklet-"
RETURNS = {"stableSeconds": 1, "minCloudSeconds": 2, "checkSeconds": 0.2, "settleSeconds": 30,
           "cooldownSeconds": 60, "maxPerMinute": 600}
PATIENCE: dict[str, float] = {"seconds": 60.0, "interval": 0.2}  # a whole stack on shared cores


@contextlib.asynccontextmanager
async def stack_and_client(tmp_path: Path, *, rbac: bool = False) -> AsyncIterator[tuple[LocalStack, KubeClient]]:
    options = StackOptions(state_dir=tmp_path, nodes=1, node_cpu="2", node_memory="4Gi", start_delay=0.0, rbac=rbac,
                           config_overrides={"placement": {"returnToLocal": RETURNS}})
    async with LocalStack(options) as stack:
        kube = await KubeClient.connect(str(stack.kubeconfig))
        try:
            await ensure_eks_config(kube)
            yield stack, kube
        finally:
            await kube.close()


def deployment(name: str, replicas: int, cpu: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels, "annotations": annotations or {}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx", "resources": {
                                      "requests": {"cpu": cpu, "memory": "64Mi"}}}]}}}}


async def create(kube: KubeClient, body: dict[str, Any]) -> None:
    group = body["apiVersion"]
    plural = {"Deployment": "deployments", "PodDisruptionBudget": "poddisruptionbudgets", "Pod": "pods"}[body["kind"]]
    await kube.request("POST", collection_path(group, plural, NS), body=body)


async def scale(kube: KubeClient, name: str, replicas: int) -> None:
    await kube.patch(object_path("apps/v1", "deployments", name, NS) + "/scale", {"spec": {"replicas": replicas}},
                     content_type=MERGE_PATCH)


async def set_switch(kube: KubeClient, value: str | None) -> None:
    """RETURN_TO_LOCAL in kube-system/eks-config (None: the key removed); AUTO_SCALE_EKS stays true."""
    data: dict[str, str] = {"AUTO_SCALE_EKS": "true", **({"RETURN_TO_LOCAL": value} if value is not None else {})}
    await kube.request("PUT", object_path("v1", "configmaps", "eks-config", "kube-system"), body={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "eks-config", "namespace": "kube-system"},
        "data": data})


async def pods(kube: KubeClient, app: str) -> list[Pod]:
    raw = await kube.get_as(collection_path("v1", "pods", NS), dict[str, Any], labelSelector=f"app={app}")
    return [decode_pod(json.dumps(item)) for item in raw["items"]]


def ready(pod: Pod) -> bool:
    cond = pod.status.condition("Ready")
    return not pod.is_terminating() and cond is not None and cond.status == "True"


async def placed(kube: KubeClient, app: str, count: int, where: str) -> list[Pod] | None:
    """`count` ready pods of `app`, all local (`where` "local"), all in the cloud ("cloud") or
    wherever ("any"); and no other pod of `app` left."""
    every = await pods(kube, app)
    found = [p for p in every if ready(p)]
    on = [p for p in found if where == "any" or p.spec.node_name.startswith(CLOUD) is (where == "cloud")]
    return found if len(every) == len(found) == len(on) == count else None


async def metric(stack: LocalStack, name: str, labels: str = "") -> float:
    """One sample of placement's /metrics (0 when absent)."""
    url = f"http://127.0.0.1:{stack.health_ports['placement']}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        text = await resp.text()
    selector = re.escape(f"{name}{{{labels}}}" if labels else name)
    found = re.search(rf"^{selector} ([0-9.e+-]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def returned_events(kube: KubeClient) -> list[dict[str, Any]]:
    raw = await kube.get_as(collection_path("v1", "events", NS), dict[str, Any])
    return [e for e in raw["items"] if e["reason"] == "ReturnedToLocal" and e["involvedObject"]["kind"] == "Pod"]


async def test_burst_pods_come_home_one_by_one_within_their_budget(tmp_path: Path) -> None:
    """The IDC is full, a Deployment bursts, room frees: its 4 pods come home one at a time, a
    PodDisruptionBudget maxUnavailable 1 is never violated, and the pod a workload keeps in the
    cloud beyond LOCAL_REPLICAS stays there. Placement runs on its own ServiceAccount (RBAC on)."""
    async with stack_and_client(tmp_path, rbac=True) as (stack, kube):
        await set_switch(kube, "true")
        await create(kube, deployment("filler", 1, "1900m"))
        await eventually(lambda: placed(kube, "filler", 1, "local"), what="the IDC full", **PATIENCE)
        await create(kube, deployment("quota", 2, "100m", {"LOCAL_REPLICAS": "1"}))
        await create(kube, deployment("web", 4, "400m"))
        cloud = await eventually(lambda: placed(kube, "web", 4, "cloud"), what="web burst", **PATIENCE)
        await eventually(lambda: placed(kube, "quota", 2, "any"), what="quota placed", **PATIENCE)
        [beyond] = [p for p in await pods(kube, "quota") if p.spec.node_name.startswith(CLOUD)]
        await create(kube, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
                            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
        samples: list[tuple[int, int]] = []  # (unavailable web replicas, PDB disruptionsAllowed)

        async def sample() -> None:
            while True:
                web = await pods(kube, "web")
                budget = await kube.get_as(object_path("policy/v1", "poddisruptionbudgets", "web", NS),
                                           dict[str, Any])
                samples.append((4 - sum(1 for p in web if ready(p)), budget["status"]["disruptionsAllowed"]))
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        try:
            await scale(kube, "filler", 0)
            home = await eventually(lambda: placed(kube, "web", 4, "local"), what="web back home", **PATIENCE)
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        assert {p.metadata.uid for p in home}.isdisjoint(p.metadata.uid for p in cloud), "replaced, not moved"
        assert max(u for u, _ in samples) == 1, "one replica away at a time, as the budget allows"
        assert min(a for _, a in samples) >= 0
        events = await returned_events(kube)
        assert sorted(e["involvedObject"]["name"] for e in events if e["involvedObject"]["name"].startswith("web")) \
            == sorted(p.metadata.name for p in cloud)
        # the replica beyond LOCAL_REPLICAS stayed where the workload asked, judged after room freed
        assert await metric(stack, "spillway_return_waiting_pods", 'reason="ReturnBeyondLocalReplicas"') == 1
        still = decode_pod(await kube.request("GET", pod_path(NS, beyond.metadata.name)))
        assert still.metadata.uid == beyond.metadata.uid and not still.is_terminating()
        assert await metric(stack, "spillway_return_bounces_total") == 0
        assert await metric(stack, "spillway_returns_total") == 4
        # `spillway explain` shows the return's record
        record = await explain.fetch(stack.nats_url, NS, cloud[0].metadata.name)
        assert record is not None and (record.reason, record.trigger) == ("ReturnedToLocal", "return")
        # least privilege: placement's role allowed the evictions, and nothing of placement's was denied
        placement = stack_rbac.username("placement")
        audit = [r for r in await stack.audit() if r["user"] == placement]
        assert not [r for r in audit if not r["allowed"]]
        assert sum(1 for r in audit if r["subresource"] == "eviction" and r["verb"] == "create") >= 4


async def test_room_that_disappears_stops_the_returns_without_a_loop(tmp_path: Path) -> None:
    async with stack_and_client(tmp_path) as (stack, kube):
        await set_switch(kube, "true")
        await create(kube, deployment("filler", 1, "1900m"))
        await eventually(lambda: placed(kube, "filler", 1, "local"), what="the IDC full", **PATIENCE)
        await create(kube, deployment("web", 3, "400m"))
        await eventually(lambda: placed(kube, "web", 3, "cloud"), what="web burst", **PATIENCE)
        await scale(kube, "filler", 0)
        await eventually(lambda: returned_events(kube), what="the first return", **PATIENCE)
        # the room goes: something else takes all but the returning replica's share
        await create(kube, deployment("taker", 1, "1600m"))
        await eventually(lambda: placed(kube, "taker", 1, "local"), what="the room taken", **PATIENCE)

        async def stopped() -> bool:
            waiting = await metric(stack, "spillway_return_waiting_pods", 'reason="ReturnNoLocalRoom"')
            web = [p for p in await pods(kube, "web") if ready(p)]
            return waiting == 2 and len(web) == 3 and sum(1 for p in web if p.spec.node_name.startswith(CLOUD)) == 2
        await eventually(stopped, what="two replicas wait for room in the cloud", **PATIENCE)
        assert await metric(stack, "spillway_returns_total") == 1
        assert await metric(stack, "spillway_return_bounces_total") == 0, "nothing went back and forth"
        assert len(await returned_events(kube)) == 1


async def free_cpu(kube: KubeClient) -> int:
    """Millicores of node-1 no running pod asks for."""
    raw = await kube.get_as(collection_path("v1", "pods"), dict[str, Any], fieldSelector="spec.nodeName=node-1")
    used = 0
    for item in raw["items"]:
        for container in item["spec"]["containers"]:
            cpu = container.get("resources", {}).get("requests", {}).get("cpu", "0")
            used += int(cpu[:-1]) if cpu.endswith("m") else int(float(cpu) * 1000)
    return 2000 - used


async def test_the_switch_table_rows(tmp_path: Path) -> None:
    """Three rounds, one per global value (true, false, unset), each with three workloads whose pod
    annotation is true, false or unset: the workload value wins, else the global one, else off.
    Pods left in the cloud by a round keep their verdict in the next (their rows stay off)."""
    async with stack_and_client(tmp_path) as (stack, kube):
        staying = 0
        for round_, global_value in enumerate(("true", "false", None)):
            await set_switch(kube, global_value)
            await create(kube, {"apiVersion": "v1", "kind": "Pod",
                                "metadata": {"name": f"filler-{round_}", "labels": {"app": f"filler-{round_}"}},
                                "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {
                                    "requests": {"cpu": f"{await free_cpu(kube)}m"}}}]}})
            await eventually(functools.partial(placed, kube, f"filler-{round_}", 1, "local"), what="IDC full",
                             **PATIENCE)
            names = {value: f"r{round_}-{value or 'unset'}" for value in ("true", "false", None)}
            for value, name in names.items():
                await create(kube, deployment(name, 1, "100m", {"RETURN_TO_LOCAL": value} if value else {}))
            for name in names.values():
                await eventually(functools.partial(placed, kube, name, 1, "cloud"), what=f"{name} burst", **PATIENCE)
            expected_home = {None: global_value == "true", "true": True, "false": False}
            await kube.delete(pod_path(NS, f"filler-{round_}"), grace_seconds=0)
            for value, name in names.items():
                if expected_home[value]:
                    await eventually(functools.partial(placed, kube, name, 1, "local"), what=f"{name} home",
                                     **PATIENCE)
            staying += sum(1 for home in expected_home.values() if not home)

            async def judged(count: int = staying) -> bool:
                return await metric(stack, "spillway_return_waiting_pods", 'reason="ReturnSwitchOff"') == count
            await eventually(judged, what=f"{staying} pods off by their rows", **PATIENCE)
            for value, name in names.items():
                if not expected_home[value]:
                    assert await placed(kube, name, 1, "cloud"), f"{name}: global {global_value}, workload {value}"

