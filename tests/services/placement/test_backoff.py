"""A permanent cloud failure backs the workload off instead of storming: end to end on the sandbox
(Deployment and ReplicaSet controllers, scheduler), the emulator with its quota used up, the
watcher, placement and cloud-provisioner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.cloud_provisioner import main as provisioner_main
from services.placement.backoff import InstanceOutcomes, WorkloadBackoffs
from services.placement.main import build_service as build_placement
from services.placement.view import ClusterView
from services.watcher.main import build_service as build_watcher
from spillway.bus import Bus
from spillway.emulator.server import Emulator
from spillway.kube import KubeClient
from spillway.kube.client import collection_path
from spillway.model import messages as m
from spillway.policy import WorkloadKey
from tests.fixtures.eventually import eventually
from tests.fixtures.sandbox import SandboxFactory
from tests.services.cloud_provisioner.harness import cloud_config, fast_provider
from tests.services.conftest import ServiceEnv, bus_records, super_node_body
from tests.services.placement.scenario import leads

DEPLOYMENT = WorkloadKey("Deployment", "default", "quota")


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                                     "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}}},
    }


async def test_an_exhausted_quota_makes_a_handful_of_failed_pods_not_a_storm(
        make_sandbox: SandboxFactory, emulator: Emulator, nats_server: str, bus: Bus, tmp_path: Path) -> None:
    sandbox = await make_sandbox(workload_controllers=True, scheduler=True)
    env = ServiceEnv(sandbox, nats_server, tmp_path)
    emulator.options.quota = 0
    config = cloud_config(emulator, placement={"leaseDurationSeconds": 3, "leaseRenewSeconds": 0.5,
                                               "resyncSeconds": 2})
    kube = await KubeClient.connect(str(sandbox.kubeconfig_path))
    try:
        await kube.request("POST", collection_path("v1", "namespaces"),
                           body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "spillway"}})
        for subnet in ("subnet-aaa", "subnet-bbb"):
            await kube.request("POST", collection_path("v1", "nodes"), body=super_node_body(subnet))
        async with env.run(build_watcher, config=config), env.run(build_placement, config=config) as placement, \
                env.run(lambda: provisioner_main.build_service(provider_factory=fast_provider(emulator)),
                        config=config):
            await eventually(lambda: leads(placement), what="placement leads")
            await kube.request("POST", "/apis/apps/v1/namespaces/default/deployments", body=deployment("quota"))

            async def held_back() -> list[dict[str, Any]]:
                raw = await kube.get_as(collection_path("v1", "events", "default"), dict[str, Any])
                return [e for e in raw["items"] if e["involvedObject"]["kind"] == "Deployment"
                        and e["reason"] == "CloudFailureBackoff"]

            events = await eventually(held_back, seconds=30, what="the Deployment is backed off")
            assert len(events) == 1 and events[0]["type"] == "Warning"
            assert events[0]["involvedObject"]["name"] == "quota" and "QuotaExceeded" in events[0]["message"]

            async def pending_pod() -> m.PlacementDecision | None:
                decisions = await bus.typed_kv(m.KV_DECISIONS, m.PlacementDecision)
                raw = await kube.get_as(collection_path("v1", "pods", "default"), dict[str, Any],
                                        labelSelector="app=quota")
                for item in raw["items"]:
                    record = await decisions.get(m.kv_key("default", item["metadata"]["name"]))
                    if record is not None and record.reason == "CloudFailureBackoff":
                        return record
                return None

            record = await eventually(pending_pod, seconds=30, what="a replacement pod held pending")
            assert record.outcome == "refused" and not record.node
            # the held pod is the Deployment's one replica now: nothing else is created during the
            # cool-down, so what failed so far is all that fails in it
            failed = await bus_records(bus, m.INSTANCE_FAILED)
            assert 1 <= len(failed) <= 3, [r.message.name for r in failed]
            assert {r.message.reason for r in failed} == {"QuotaExceeded"}
            held = await kube.get_as(f"/api/v1/namespaces/default/pods/{record.name}", dict[str, Any])
            assert not held["spec"].get("nodeName")
    finally:
        await kube.close()


# ---- the bookkeeping ---------------------------------------------------------------------------


def test_backoffs_are_bounded_and_reset_by_a_running_pod() -> None:
    backoffs = WorkloadBackoffs(max_workloads=3)
    keys = [WorkloadKey("Deployment", "default", f"w{i}") for i in range(5)]
    for key in keys:
        assert backoffs.failed(key, 1000.0, "QuotaExceeded") is not None
    assert len(backoffs) == 3 and backoffs.current(keys[0], 1001.0) is None  # the oldest went first
    assert backoffs.current(keys[4], 1001.0) is not None and backoffs.current(keys[4], 1030.0) is None
    assert backoffs.first_announcement(keys[4]) and not backoffs.first_announcement(keys[4])
    grown = backoffs.failed(keys[4], 1031.0, "QuotaExceeded")
    assert grown is not None and grown.cooldown == 60.0 and backoffs.first_announcement(keys[4])
    assert backoffs.succeeded(keys[4]) and backoffs.current(keys[4], 1032.0) is None
    again = backoffs.failed(keys[4], 1033.0, "QuotaExceeded")
    assert again is not None and again.cooldown == 30.0


async def test_instance_events_reach_the_workload_through_the_decision_record(bus: Bus) -> None:
    """The failed pod may be gone from the view: its decision record still names its workload;
    a sold-out zone has its own cool-down and a pod nobody decided is ignored."""
    woken: list[str] = []
    outcomes = InstanceOutcomes(bus, ClusterView(), WorkloadBackoffs(), wake=woken.append, clock=lambda: 1000.0)
    decisions = await bus.typed_kv(m.KV_DECISIONS, m.PlacementDecision)
    await decisions.put(m.kv_key("default", "web-1"), m.PlacementDecision(
        namespace="default", name="web-1", uid="u1", workload=str(DEPLOYMENT), outcome="cloud"))
    web = WorkloadKey("Deployment", "default", "web")

    def event(status: m.InstanceStatus, reason: str = "", uid: str = "u1", name: str = "web-1") -> m.InstanceEvent:
        return m.InstanceEvent(namespace="default", name=name, uid=uid, status=status, reason=reason,
                               observed_at=1000.0)

    await outcomes.apply(event("failed", "ZoneSoldOut"))
    await outcomes.apply(event("failed", "QuotaExceeded", uid="another-incarnation"))
    await outcomes.apply(event("failed", "QuotaExceeded", name="never-decided"))
    assert outcomes.backoffs.current(DEPLOYMENT, 1001.0) is None and outcomes.backoffs.current(web, 1001.0) is None
    await outcomes.apply(event("failed", "QuotaExceeded"))
    backoff = outcomes.backoffs.current(DEPLOYMENT, 1001.0)
    assert backoff is not None and backoff.until == 1030.0
    await outcomes.apply(event("running"))
    assert outcomes.backoffs.current(DEPLOYMENT, 1001.0) is None and woken == ["backoff reset"]
    await outcomes.stop()
