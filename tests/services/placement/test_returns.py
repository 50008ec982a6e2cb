"""Return to the IDC in the placement service: on the sandbox (no scheduler, no controllers, no
kubelet: the test plays them), with the watcher, the bus and placement running for real.

Pods reach the cloud through placement itself (marked Unschedulable, then burst), so their
decision records and cloud-bind annotations are the real ones. The return loop looks every 0.1 s
and wants room stable for 0.3 s; its verdicts are read from `Returns.stats`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.placement.returns import Returns
from spillway.bus import Bus
from spillway.cli import explain
from spillway.kube import NotFound, pod_path
from spillway.kube.client import MERGE_PATCH, collection_path, object_path
from spillway.model.kube import Pod
from tests.fixtures.eventually import eventually
from tests.services.conftest import ServiceEnv, pod_body
from tests.services.placement.scenario import PLACEMENT_CONFIG, Cluster, cluster, placement_of

RETURNS_CONFIG: dict[str, Any] = {"checkSeconds": 0.1, "stableSeconds": 0.3, "minCloudSeconds": 0,
                                  "settleSeconds": 30, "cooldownSeconds": 60, "maxPerMinute": 100}
ONE_CORE = {"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "1"}}}
READY = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}


def replica(name: str, workload: str = "web", annotations: dict[str, str] | None = None,
            **spec: Any) -> dict[str, Any]:
    """A pod of Deployment `workload` (through ReplicaSet `<workload>-5d4f`) asking for one core."""
    return pod_body(name, labels={"app": workload, "pod-template-hash": "5d4f"}, annotations=annotations,
                    owner=("ReplicaSet", f"{workload}-5d4f"), containers=[ONE_CORE], **spec)


@contextlib.asynccontextmanager
async def returning(env: ServiceEnv, bus: Bus, **overrides: Any) -> AsyncIterator[tuple[Cluster, Returns]]:
    config = {"placement": {**PLACEMENT_CONFIG["placement"], "returnToLocal": RETURNS_CONFIG | overrides},
              "cloud": PLACEMENT_CONFIG["cloud"]}
    async with cluster(env, bus, placement_config=config) as c:
        returns = c.placements[0].service.state.returns
        assert returns is not None
        yield c, returns


async def set_switch(c: Cluster, value: str | None) -> None:
    """RETURN_TO_LOCAL in kube-system/eks-config (None: the key removed), and wait for placement to see it."""
    path = object_path("v1", "configmaps", "eks-config", "kube-system")
    data = {"AUTO_SCALE_EKS": "true", **({"RETURN_TO_LOCAL": value} if value is not None else {})}
    try:
        await c.kube.request("PUT", path, body={"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"name": "eks-config", "namespace": "kube-system"},
                                                "data": data})
    except NotFound:
        await c.kube.request("POST", collection_path("v1", "configmaps", "kube-system"), body={
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "eks-config"}, "data": data})

    def seen() -> bool:
        view = c.placements[0].service.state.view
        return view is not None and view.config_value("RETURN_TO_LOCAL") == value
    await eventually(seen, what=f"placement sees RETURN_TO_LOCAL={value}")


async def burst(c: Cluster, *bodies: dict[str, Any]) -> list[Pod]:
    """Create the pods, let the scheduler 'fail', wait for placement to bind them to super nodes,
    then report them running and ready (as node-status would)."""
    await c.create(*bodies)
    names = [b["metadata"]["name"] for b in bodies]
    gated = [n for b, n in zip(bodies, names, strict=True) if b["spec"].get("schedulingGates")]
    await c.mark_unschedulable("default", *[n for n in names if n not in gated])

    async def in_cloud() -> list[Pod] | None:
        pods = [await c.pod("default", n) for n in names]
        return pods if all(placement_of(p) == "cloud" for p in pods) else None
    pods = await eventually(in_cloud, what=f"{names} burst")
    await asyncio.gather(*(c.kube.patch(pod_path("default", n) + "/status", READY, content_type=MERGE_PATCH)
                           for n in names))
    return pods


async def fill(c: Cluster, name: str = "filler", cpu: str = "8") -> None:
    """A pod bound to the local node taking `cpu` of its 8 cores."""
    body = pod_body(name, containers=[{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}],
                    nodeName="idc-1")
    await c.create(body)


async def remove(c: Cluster, name: str) -> None:
    await c.kube.delete(pod_path("default", name), grace_seconds=0)


async def land(c: Cluster, name: str, node: str, workload: str = "web") -> None:
    """The replacement the controller would make, bound to `node` and ready."""
    await c.create(replica(name, workload, nodeName=node))
    await c.kube.patch(pod_path("default", name) + "/status", READY, content_type=MERGE_PATCH)


async def terminating(c: Cluster, selector: str = "app=web") -> list[str]:
    return sorted(p.metadata.name for p in await c.pods("default", selector) if p.is_terminating())


def waiting(returns: Returns, expected: dict[str, int]) -> bool:
    return returns.stats.waiting == expected


async def test_burst_pods_come_home_one_at_a_time_once_the_room_is_there_and_lasted(
        services_env: ServiceEnv, bus: Bus, capsys: pytest.CaptureFixture[str]) -> None:
    async with returning(services_env, bus) as (c, returns):
        await fill(c)
        await burst(c, replica("web-0"), replica("web-1"))
        await set_switch(c, "true")
        await eventually(lambda: waiting(returns, {"ReturnNoLocalRoom": 2}), what="no room while the IDC is full")
        await remove(c, "filler")
        first = (await eventually(lambda: terminating(c), what="one pod evicted"))[0]
        assert returns.stats.evictions == 1
        await eventually(lambda: waiting(returns, {"ReturnWorkloadBusy": 1}), what="the other waits its turn")
        assert await terminating(c) == [first], "one return at a time per workload"
        # reported: on the pod, on the workload, in its decision record and in `spillway explain`
        events = await c.events("default", first)
        returned = [e for e in events if e["reason"] == "ReturnedToLocal"]
        assert len(returned) == 1 and returned[0]["type"] == "Normal"
        assert "evicted from super node eklet-subnet-" in returned[0]["message"]
        assert "room on local node idc-1" in returned[0]["message"]
        workload_events = await c.events("default", "web")
        assert any(e["reason"] == "ReturnedToLocal" and e["involvedObject"]["kind"] == "Deployment"
                   for e in workload_events)
        record = await c.decision("default", first)
        assert record is not None
        assert (record.outcome, record.reason, record.trigger) == ("local", "ReturnedToLocal", "return")
        capsys.readouterr()
        assert await asyncio.to_thread(explain.main, [f"default/{first}", "--nats", services_env.nats_url]) == 0
        assert "Reason:     ReturnedToLocal: evicted from super node" in capsys.readouterr().out
        # the replacement runs locally: the return is over and the next one goes
        await remove(c, first)
        await land(c, "web-2", "idc-1")
        second = await eventually(lambda: terminating(c), what="the second pod evicted")
        assert second == ["web-1" if first == "web-0" else "web-0"] and returns.stats.landed == 1


async def test_a_replacement_that_bursts_again_cools_the_workload_down(services_env: ServiceEnv, bus: Bus) -> None:
    async with returning(services_env, bus) as (c, returns):
        await burst(c, replica("web-0"), replica("web-1"))
        await set_switch(c, "true")
        first = (await eventually(lambda: terminating(c), what="one pod evicted"))[0]
        await remove(c, first)
        await land(c, "web-2", "eklet-subnet-a")  # the room vanished: it burst again
        await eventually(lambda: returns.stats.bounced == 1, what="the return counted as bounced")
        await eventually(lambda: returns.stats.waiting.get("ReturnCoolDown") == 1, what="web-1 cools down")
        warnings = [e for e in await c.events("default", "web") if e["reason"] == "ReturnBounced"]
        assert len(warnings) == 1 and warnings[0]["type"] == "Warning"
        assert "did not stay local" in warnings[0]["message"]
        rounds = returns.stats.rounds
        await eventually(lambda: returns.stats.rounds >= rounds + 5, what="five more rounds")
        assert returns.stats.evictions == 1 and await terminating(c) == [], "no ping-pong"


async def test_a_disruption_budget_refusal_is_waited_out(services_env: ServiceEnv, bus: Bus) -> None:
    """No disruption controller runs here: the budget's status is never observed, so the API
    answers 429 with Retry-After 10, and the pod waits instead of being evicted."""
    async with returning(services_env, bus) as (c, returns):
        await burst(c, replica("web-0"))
        await c.kube.request("POST", collection_path("policy/v1", "poddisruptionbudgets", "default"), body={
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
        await set_switch(c, "true")
        await eventually(lambda: returns.stats.refused_by_budget == 1, what="the eviction refused (429)")
        await eventually(lambda: waiting(returns, {"ReturnDisruptionBudget": 1}), what="the pod waits")
        assert returns.stats.evictions == 0 and await terminating(c) == []
        wait = returns.budget_until[(await c.pod("default", "web-0")).metadata.uid] - returns.clock.time()
        assert 9 < wait <= 10, "the Retry-After the API named is honoured"


async def test_switch_off_and_pods_beyond_local_replicas_stay(services_env: ServiceEnv, bus: Bus) -> None:
    async with returning(services_env, bus) as (c, returns):
        await burst(c, replica("web-0"))
        await set_switch(c, None)
        await eventually(lambda: waiting(returns, {"ReturnSwitchOff": 1}), what="off by default")
        await burst(c, replica("quota-0", "quota", annotations={"LOCAL_REPLICAS": "0", "RETURN_TO_LOCAL": "true"},
                               schedulingGates=[{"name": "spillway.io/placement"}]))
        record = await c.decision("default", "quota-0")
        assert record is not None and record.reason == "LocalQuotaReached"
        await eventually(lambda: waiting(returns, {"ReturnSwitchOff": 1, "ReturnBeyondLocalReplicas": 1}),
                         what="the pod beyond LOCAL_REPLICAS stays")
        await set_switch(c, "false")
        await land(c, "quota-1", "idc-1", "quota")  # LOCAL_REPLICAS 0 whatever the local count
        rounds = returns.stats.rounds
        await eventually(lambda: returns.stats.rounds >= rounds + 3, what="three more rounds")
        assert returns.stats.evictions == 0 and await terminating(c, "app in (web,quota)") == []


async def test_returns_are_rate_limited_cluster_wide(services_env: ServiceEnv, bus: Bus) -> None:
    async with returning(services_env, bus, maxPerMinute=1) as (c, returns):
        await burst(c, replica("a-0", "a"), replica("b-0", "b"))
        await set_switch(c, "true")
        await eventually(lambda: returns.stats.evictions == 1, what="one return")
        await eventually(lambda: waiting(returns, {"ReturnRateLimited": 1}), what="the other one waits a minute")
        assert len(await terminating(c, "app in (a,b)")) == 1
