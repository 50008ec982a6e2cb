"""A NATS outage longer than any reconnect window, in the middle of a burst.

The bus is stopped for 45 s while a burst is being decided, bound and created, then started again
on the same port and store. Nobody restarts a service by hand: afterwards the burst converges,
a scale-up runs (the new replicas Running) and a scale-down finishes (no pod stuck Terminating,
no instance left over). Restarts the stack's supervisor had to do are printed with the figures.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.scenarios import scale
from tests.chaos.harness import log_evidence, running_stack, start_burst, supervised_restarts, wait_converged

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

APP = "outage"
BURST = 30
SCALED_UP = 40
SCALED_DOWN = 10
NATS_DOWN_SECONDS = 45.0
CONVERGE_SECONDS = 120.0


async def test_nats_down_45_s_mid_burst_then_scale_up_and_down(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as (stack, kube):
        await start_burst(kube, APP, BURST)
        await asyncio.sleep(1.0)  # mid-burst: pods are being decided, bound and created right now
        down = await stack.restart_nats(down=NATS_DOWN_SECONDS)
        print(f"\n  NATS was down {down:.1f} s")
        after_outage, _ = await wait_converged(stack, kube, APP, BURST, CONVERGE_SECONDS)
        await scale(kube, APP, SCALED_UP)
        scaled_up, _ = await wait_converged(stack, kube, APP, SCALED_UP, CONVERGE_SECONDS)
        await scale(kube, APP, SCALED_DOWN)
        scaled_down, _ = await wait_converged(stack, kube, APP, SCALED_DOWN, CONVERGE_SECONDS)
        restarted = supervised_restarts(stack)
        evidence = log_evidence(stack)
    print(f"  supervised restarts: {restarted or 'none'}")
    assert after_outage.converged, f"after the outage: {after_outage.summary()}\n{evidence}"
    assert scaled_up.converged and scaled_up.cloud_running == SCALED_UP, \
        f"scale-up after the outage: {scaled_up.summary()}\n{evidence}"
    assert scaled_down.converged and not scaled_down.terminating, \
        f"scale-down after the outage: {scaled_down.summary()}\n{evidence}"
