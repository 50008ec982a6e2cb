"""Placement end to end on the sandbox: watcher → bus → placement → API (patch, bind, events)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from spillway.bus import Bus
from spillway.cli import explain
from tests.fixtures.eventually import eventually
from tests.services.conftest import ServiceEnv, pod_body
from tests.services.placement.scenario import GATE, Cluster, cluster, decider_of, leadership_of, leads, placement_of


def replica(name: str, n: int | None, *, workload: str = "web", extra: dict[str, str] | None = None,
            namespace: str = "default") -> dict[str, Any]:
    """A pod of Deployment `workload` (through ReplicaSet `<workload>-5d4f`), gated as admission would."""
    annotations = {"LOCAL_REPLICAS": str(n)} if n is not None else {}
    annotations |= extra or {}
    return pod_body(name, namespace, annotations=annotations, labels={"app": workload, "pod-template-hash": "5d4f"},
                    owner=("ReplicaSet", f"{workload}-5d4f"), gates=[GATE])


async def outcomes(c: Cluster, selector: str) -> dict[str, str]:
    return {p.metadata.name: placement_of(p) for p in await c.pods("default", selector)}


async def settled(c: Cluster, selector: str, count: int) -> dict[str, str] | None:
    got = await outcomes(c, selector)
    return got if len(got) == count and not {"gated", "cloud-unbound"} & set(got.values()) else None


async def test_local_replicas_1_with_4_replicas(services_env: ServiceEnv, bus: Bus,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    async with cluster(services_env, bus) as c:
        await c.create(*(replica(f"web-{i}", 1) for i in range(4)))
        got = await eventually(lambda: settled(c, "app=web", 4), what="all four decided")
        assert sorted(got.values()) == ["cloud", "cloud", "cloud", "local"]
        pods = await c.pods("default", "app=web")
        for pod in pods:
            record = await c.decision("default", pod.metadata.name)
            assert record is not None and record.workload == "Deployment/default/web"
            assert record.local_replicas == 1
            events = await c.events("default", pod.metadata.name)
            if placement_of(pod) == "cloud":
                assert record.outcome == "cloud" and record.node == pod.spec.node_name
                assert record.local_count == 1 and record.reason == "LocalQuotaReached"
                assert pod.metadata.annotations["controller.kubernetes.io/pod-deletion-cost"] == "-100"
                assert any(t.key == "eks.tke.cloud.tencent.com/eklet" for t in pod.spec.tolerations)
                assert [e["reason"] for e in events] == ["BurstToCloud"]
            else:
                assert record.outcome == "local" and record.local_count == 0
                assert [e["reason"] for e in events] == ["KeptLocal"]
                assert not any(t.key == "eks.tke.cloud.tencent.com/eklet" for t in pod.spec.tolerations)
        # spread over both super nodes (least loaded)
        nodes = {p.spec.node_name for p in pods if p.spec.node_name}
        assert nodes == {"eklet-subnet-a", "eklet-subnet-b"}
        # `spillway explain` answers for every pod, in words and as JSON
        capsys.readouterr()
        for pod in pods:
            name, url = pod.metadata.name, services_env.nats_url
            assert await asyncio.to_thread(explain.main, [f"default/{name}", "--nats", url]) == 0
            text = capsys.readouterr().out
            assert f"Pod:        default/{name}" in text and "LOCAL_REPLICAS=1" in text
            assert ("→ node eklet-subnet-" in text) is (placement_of(pod) == "cloud")
            assert "Trace:      " in text and "node-affinity" in text
            assert await asyncio.to_thread(explain.main, [f"default/{name}", "--json", "--nats", url]) == 0
            record = json.loads(capsys.readouterr().out)
            assert record["name"] == name and record["outcome"] in ("cloud", "local")
            assert len(record["trace_id"]) == 32
        assert await asyncio.to_thread(explain.main, ["default/nope", "--nats", services_env.nats_url]) == 1
        assert "no placement decision recorded for default/nope" in capsys.readouterr().err


@pytest.mark.slow
async def test_local_replicas_10_with_100_at_once(services_env: ServiceEnv, bus: Bus) -> None:
    async with cluster(services_env, bus) as c:
        await c.create(*(replica(f"big-{i}", 10, workload="big") for i in range(100)))
        got = await eventually(lambda: settled(c, "app=big", 100), seconds=60, interval=0.3, what="all 100 decided")
        values = list(got.values())
        assert values.count("local") == 10 and values.count("cloud") == 90


SWITCH_ROWS = [
    # (global, workload, bursts)
    ("true", "false", True), ("true", None, True), ("true", "true", True),
    ("false", "false", False), ("false", None, False), ("false", "true", True),
    (None, "false", True), (None, None, True), (None, "true", True),
]


async def test_nine_switch_rows_with_live_configmap_changes(services_env: ServiceEnv, bus: Bus) -> None:
    """Unschedulable pods, one per workload value, under each global value set live."""
    async with cluster(services_env, bus) as c:
        for global_value in ("true", "false", None):
            await c.set_global(global_value)
            await c.wait_global(global_value)
            tag = global_value or "unset"
            rows = [(w, bursts) for g, w, bursts in SWITCH_ROWS if g == global_value]
            names = []
            for workload_value, _ in rows:
                name = f"g-{tag}-w-{workload_value or 'unset'}"
                annotations = {"AUTO_SCALE_EKS": workload_value} if workload_value else {}
                await c.create(pod_body(name, annotations=annotations, labels={"row": tag}))
                names.append(name)
            await c.mark_unschedulable("default", *names)

            async def decided(names: list[str] = names) -> bool:
                return all([await c.decision("default", n) is not None for n in names])

            await eventually(decided, what=f"rows of global={tag} decided")
            for name, (workload_value, bursts) in zip(names, rows, strict=True):
                pod = await c.pod("default", name)
                record = await c.decision("default", name)
                assert record is not None
                assert (placement_of(pod) == "cloud") is bursts, (global_value, workload_value)
                assert record.outcome == ("cloud" if bursts else "refused")
                assert record.global_switch == global_value and record.workload_switch == workload_value
                if not bursts:
                    reasons = [e["reason"] for e in await c.events("default", name) if e["type"] == "Warning"]
                    assert reasons == [record.switch_reason]
        # the refused pods burst once the global switch turns on again, without any restart
        await c.set_global("true")
        refused = ["g-false-w-false", "g-false-w-unset"]

        async def all_cloud() -> bool:
            return all([placement_of(await c.pod("default", n)) == "cloud" for n in refused])

        await eventually(all_cloud, what="refused pods burst after the switch turned on")


RESTRICTED = [
    pytest.param({"owner": ("DaemonSet", "agent")}, "default", "DaemonsetForbidden", id="daemonset"),
    pytest.param({}, "kube-system", "NamespaceExcluded", id="namespace"),
    pytest.param({"annotations": {"tke.cloud.tencent.com/vpc-ip-claim-delete-policy": "Never"}}, "default",
                 "FixedIPForbidden", id="fixed-ip"),
    pytest.param({"securityContext": {"sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": "60000 65000"}]}},
                 "default", "SysctlPortRangeConflict", id="sysctl"),
    pytest.param({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 62000}]}]}, "default",
                 "ReservedContainerPort", id="container-port"),
    pytest.param({"containers": [{"name": "a", "image": "x",
                                  "livenessProbe": {"tcpSocket": {"port": 63000}}}]}, "default",
                 "ReservedProbePort", id="probe-port"),
    pytest.param({"volumes": [{"name": "d", "iscsi": {"targetPortal": "1.2.3.4", "iqn": "x", "lun": 0}}]},
                 "default", "UnsupportedVolume", id="volume"),
    pytest.param({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "100"}}}]},
                 "default", "PodTooLarge", id="size"),
    pytest.param({"nodeSelector": {"disktype": "ssd"}}, "default", "NodeAffinityMismatch", id="affinity"),
]


@pytest.mark.parametrize(("spec", "namespace", "reason"), RESTRICTED)
async def test_ineligible_unschedulable_pod_stays_pending_with_warning(
    services_env: ServiceEnv, bus: Bus, spec: dict[str, Any], namespace: str, reason: str,
) -> None:
    async with cluster(services_env, bus) as c:
        spec = dict(spec)
        kwargs = {k: spec.pop(k) for k in ("owner", "annotations", "containers") if k in spec}
        await c.create(pod_body("odd", namespace, **kwargs, **spec), pod_body("fine", namespace))
        await c.mark_unschedulable(namespace, "odd", "fine")
        record = await eventually(lambda: c.decision(namespace, "odd"), what="decision recorded")
        assert record.outcome == "refused" and record.reason == reason
        assert next(r.reason for r in record.rules if r.code != "Allowed") == reason
        warnings = [e for e in await c.events(namespace, "odd") if e["type"] == "Warning"]
        assert [e["reason"] for e in warnings] == [reason] and warnings[0]["count"] == 1
        pod = await c.pod(namespace, "odd")
        assert not pod.spec.node_name
        assert not any(t.key == "eks.tke.cloud.tencent.com/eklet" for t in pod.spec.tolerations)
        if reason != "NamespaceExcluded":  # a normal neighbour bursts
            fine = await eventually(lambda: _bound(c, namespace, "fine"), what="eligible pod bursts")
            assert fine.startswith("eklet-")


async def _bound(c: Cluster, namespace: str, name: str) -> str:
    return (await c.pod(namespace, name)).spec.node_name


@pytest.mark.slow
async def test_killing_the_leader_mid_burst_loses_no_pod_and_over_bursts_none(services_env: ServiceEnv,
                                                                              bus: Bus) -> None:
    from services.placement.main import build_service as build_placement
    from tests.services.placement.scenario import PLACEMENT_CONFIG

    async with cluster(services_env, bus) as c, services_env.run(build_placement, config=PLACEMENT_CONFIG) as standby:
        leader = c.placements[0]
        assert leadership_of(standby).consumer is None
        await c.create(*(replica(f"ha-{i}", 10, workload="ha") for i in range(60)))

        async def some_decided() -> bool:
            return decider_of(leader).stats.decided >= 5

        await eventually(some_decided, seconds=20, interval=0.01, what="the leader started deciding")
        await leader.kill()
        await eventually(lambda: leads(standby), seconds=15, what="the standby took over")
        got = await eventually(lambda: settled(c, "app=ha", 60), seconds=40, interval=0.3, what="every pod decided")
        values = list(got.values())
        assert values.count("local") == 10 and values.count("cloud") == 50
        assert decider_of(standby).stats.decided > 0  # really mid-burst
