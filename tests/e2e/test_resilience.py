"""Resilience end to end: every service its own process on sandbox + emulator + NATS.

- Each service killed with SIGKILL mid-burst and started again → no duplicate and no lost
  instance: exactly one instance per running cloud pod, none without a pod (orphan GC grace
  shortened to a few seconds so "after GC" is checkable), every replica Running.
- Emulator faults (rate limit, internal errors — also the kind that strikes after the create
  took effect —, a sold-out zone, instances failing after start) → every pod ends Running, or
  Failed with a reason; none is stuck Pending silently (without a Warning event).

The chaos suite (`tests/chaos/`) runs the same checks on bigger bursts with repeated trouble.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from spillway.cli.stack import SERVICES
from tests.chaos.harness import (
    create_bare_pods,
    dead_letters,
    running_stack,
    start_burst,
    stuck_silently,
    wait_converged,
)

pytestmark = pytest.mark.slow

BURST = 60
FAULT_PODS = 40
SETTLE_SECONDS = 90.0


@pytest.mark.parametrize("service", SERVICES)
async def test_service_killed_mid_burst_loses_and_duplicates_nothing(service: str, tmp_path: Path) -> None:
    async with running_stack(tmp_path) as (stack, kube):
        app = f"restart-{service}"
        await start_burst(kube, app, BURST)
        await asyncio.sleep(1.0)  # mid-burst: pods are being decided, bound and created right now
        await stack.kill(service)
        await stack.restart(service)
        verdict, _ = await wait_converged(stack, kube, app, BURST, SETTLE_SECONDS)
        letters = await dead_letters(stack.nats_url)
    assert verdict.running == BURST and verdict.cloud_running == BURST, verdict.summary()
    assert verdict.duplicates == {}, f"two instances for one pod: {verdict.duplicates}"
    assert verdict.missing_instance == [], f"running cloud pods without an instance: {verdict.missing_instance}"
    assert verdict.orphans == [], f"instances without a pod after GC: {verdict.orphans}"
    assert verdict.instances == BURST
    assert letters == []


@dataclass
class FaultCase:
    faults: dict[str, Any]
    allowed_failures: set[str] = field(default_factory=set)
    some_fail: bool = False  # the fault must show: at least one pod Failed with an allowed reason


FAULTS = {
    "rate-limit": FaultCase({"errors": [{"code": "RequestLimitExceeded", "rate": 0.3}]}),
    "internal-errors": FaultCase({"errors": [{"code": "InternalError", "rate": 0.15}]}),
    "internal-error-after-effect": FaultCase({"errors": [
        {"code": "InternalError", "rate": 0.3, "action": "CreateEKSContainerInstances", "after_effect": True}]}),
    "sold-out-zone": FaultCase({"sold_out_zones": ["ap-guangzhou-3"]}, {"ZoneSoldOut"}),
    "instances-failing-after-start": FaultCase(
        {"fail_after_start": {"fraction": 0.25, "after_seconds": 1.0, "exit_code": 137, "reason": "OOMKilled"}},
        {"Error"}, some_fail=True),
}


@pytest.mark.parametrize("case", list(FAULTS))
async def test_cloud_faults_end_running_or_failed_with_a_reason(case: str, tmp_path: Path) -> None:
    fault = FAULTS[case]
    async with running_stack(tmp_path) as (stack, kube):
        await stack.emulator_faults(fault.faults)
        app = f"faults-{case}"
        await create_bare_pods(kube, app, FAULT_PODS)
        verdict, _ = await wait_converged(stack, kube, app, FAULT_PODS, SETTLE_SECONDS, settled_only=True)
        silent = await stuck_silently(kube, verdict)
        state = await stack.emulator_state()
    print(f"{case}: {verdict.summary()}; cloud errors {state['errors']}")
    assert silent == [], f"Pending without a Warning event: {silent}"
    assert verdict.settled, verdict.summary()
    assert verdict.running + sum(verdict.failed_by_reason.values()) == FAULT_PODS
    assert set(verdict.failed_by_reason) <= fault.allowed_failures, verdict.failed_by_reason
    assert verdict.duplicates == {}
    if fault.some_fail:
        assert verdict.failed_by_reason, "the injected failures must show as Failed pods"
    injected = sum(n for codes in state["errors"].values() for n in codes.values())
    assert injected or "fail_after_start" in fault.faults, "the fault was never hit: the case proves nothing"
