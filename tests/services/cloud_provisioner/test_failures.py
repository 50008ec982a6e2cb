"""Cloud errors: retried until they pass, or a Warning event + pod Failed with an actionable reason."""

from __future__ import annotations

import time
from typing import Any

import pytest

from spillway.bus import Bus
from spillway.cloud import InstanceNaming
from spillway.emulator.faults import ErrorRule
from spillway.emulator.server import Emulator
from spillway.kube import KubeClient
from spillway.model import messages as m
from spillway.model.kube import Pod
from spillway.sandbox import Sandbox
from tests.fixtures.eventually import eventually
from tests.services.cloud_provisioner.conftest import RunProvisioner
from tests.services.cloud_provisioner.harness import (
    NODE_A,
    announce,
    create_and_bind,
    get_pod,
    pod_body,
)


async def failed(kube: KubeClient, name: str) -> Pod | None:
    pod = await get_pod(kube, name)
    return pod if pod.status.phase == "Failed" else None


async def warning_events(kube: KubeClient) -> dict[str, str]:
    events = await kube.get_as("/api/v1/namespaces/default/events", dict[str, Any])
    return {e["reason"]: e["message"] for e in events["items"] if e["type"] == "Warning"}


async def test_every_pod_ends_with_exactly_one_instance_under_throttling_and_internal_errors(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, run_provisioner: RunProvisioner,
    naming: InstanceNaming,
) -> None:
    emulator.faults.errors = [ErrorRule(code="RequestLimitExceeded", rate=0.3),
                              ErrorRule(code="InternalError", rate=0.1, after_effect=True)]
    async with run_provisioner():
        pods = [await create_and_bind(sandbox, kube, pod_body(f"burst-{i}")) for i in range(12)]
        for pod in pods:
            await announce(bus, pod)
        names = [naming.name(p.metadata.uid) for p in pods]
        await eventually(lambda: all(emulator.state.count_by_name(n) for n in names), seconds=30,
                         what="an instance for every pod")
    assert [emulator.state.count_by_name(n) for n in names] == [1] * len(names)
    assert emulator.state.errors  # the faults really happened


@pytest.mark.parametrize(("case", "setup", "reason", "event", "hint"), [
    ("quota", {"quota": 0}, "QuotaExceeded", "ProvisioningFailed", "quota"),
    ("invalid", {"error": "InvalidParameterValue"}, "InstanceCreateFailed", "ProvisioningFailed", "fix the pod spec"),
    ("too-big", {"cpu": "100"}, "NotEligible", "ProvisioningFailed", "largest spec"),
], ids=lambda v: v if isinstance(v, str) else "")
async def test_permanent_failures_fail_the_pod_with_an_event(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, run_provisioner: RunProvisioner,
    case: str, setup: dict[str, str | int], reason: str, event: str, hint: str,
) -> None:
    if "quota" in setup:
        emulator.options.quota = int(setup["quota"])
    if "error" in setup:
        emulator.faults.errors = [ErrorRule(code=str(setup["error"]), rate=1.0, action="CreateEKSContainerInstances")]
    body = pod_body(case)
    if "cpu" in setup:
        body["spec"]["containers"][0]["resources"] = {"requests": {"cpu": setup["cpu"], "memory": "1Gi"}}
    instance_failed = await bus.nc.subscribe(m.INSTANCE_FAILED)
    async with run_provisioner():
        pod = await create_and_bind(sandbox, kube, body)
        await announce(bus, pod)
        done = await eventually(lambda: failed(kube, case), what="the pod Failed")
        msg = await instance_failed.next_msg(timeout=10)
    assert done.status.reason == reason and hint in (done.status.message or "")
    warnings = await warning_events(kube)
    assert hint in warnings[event]
    assert m.decode(m.INSTANCE_FAILED, msg.data).reason == reason
    assert not emulator.state.records


async def test_sold_out_zone_fails_the_pod_and_cools_the_zone_down(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, run_provisioner: RunProvisioner,
) -> None:
    emulator.faults.sold_out_zones = ["ap-guangzhou-3"]
    cooldowns = await bus.nc.subscribe(m.ZONE_COOLDOWN)
    async with run_provisioner(placement={"soldOutCooldownSeconds": 600}):
        pod = await create_and_bind(sandbox, kube, pod_body("sold"), NODE_A)
        await announce(bus, pod)
        done = await eventually(lambda: failed(kube, "sold"), what="the sold-out pod Failed")
        msg = await cooldowns.next_msg(timeout=10)
    zones = await bus.typed_kv(m.KV_ZONES, m.ZoneCooldown)
    stored = await zones.get("ap-guangzhou-3")
    published = m.decode(m.ZONE_COOLDOWN, msg.data)
    assert done.status.reason == "ZoneSoldOut"
    assert stored is not None and stored == published and stored.zone == "ap-guangzhou-3"
    assert stored.until > time.time() + 500 and stored.reason.startswith("ResourceInsufficient")
    assert "ap-guangzhou-3" in (await warning_events(kube))["ZoneSoldOut"]
