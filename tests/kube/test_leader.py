"""Leader-scoped work (`LeaderElector.while_leading`) on a fake clock, with the lease's answers
scripted: the work runs once per term, is cancelled when the lease is lost, starts again when
it is regained; its failure is not swallowed. And one identity per elector."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from spillway.kube.leader import LeaderElector, leader_identity
from tests.fixtures.clock import FakeClock

RENEW = 2.0


class ScriptedElector(LeaderElector):
    """An elector whose lease rounds answer `holds` instead of asking an API server."""

    def __init__(self, clock: FakeClock) -> None:
        # no API client: the lease rounds are scripted
        super().__init__(client=None, namespace="spillway", name="lease", identity="me",  # type: ignore[arg-type]
                         renew_period=RENEW, clock=clock)
        self.holds = True

    async def try_acquire_or_renew(self) -> bool:
        return self.holds


async def next_round(clock: FakeClock) -> None:
    """Let the lease loop run one more round (it sleeps `RENEW` on the clock between rounds)."""
    await clock.parked()
    clock.advance(RENEW)
    await clock.parked()


async def stop(*tasks: asyncio.Task[Any]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_work_runs_while_leading_is_cancelled_on_loss_and_starts_again_when_regained() -> None:
    clock = FakeClock()
    elector = ScriptedElector(clock)
    events: asyncio.Queue[str] = asyncio.Queue()

    async def work() -> None:
        await events.put("started")
        try:
            await asyncio.Event().wait()
        finally:
            events.put_nowait("cancelled")

    lease = asyncio.create_task(elector.run())
    leading = asyncio.create_task(elector.while_leading(work))
    assert await events.get() == "started"
    elector.holds = False
    await next_round(clock)
    assert await events.get() == "cancelled" and not elector.is_leader
    await next_round(clock)  # standing by: nothing runs
    assert events.empty()
    elector.holds = True
    await next_round(clock)
    assert await events.get() == "started"  # a second term, a second start
    await stop(leading)
    assert await events.get() == "cancelled"  # cancelling while_leading cancels the work
    await stop(lease)


async def test_work_that_returns_waits_for_the_next_term() -> None:
    clock = FakeClock()
    elector = ScriptedElector(clock)
    runs: asyncio.Queue[None] = asyncio.Queue()

    async def once() -> None:
        await runs.put(None)

    lease = asyncio.create_task(elector.run())
    leading = asyncio.create_task(elector.while_leading(once))
    await runs.get()
    for _ in range(3):
        await next_round(clock)
    assert runs.empty() and elector.is_leader and not leading.done()  # still the same term
    elector.holds = False
    await next_round(clock)
    elector.holds = True
    await next_round(clock)
    await runs.get()  # the next term runs it again
    assert runs.empty()
    await stop(leading, lease)


async def test_work_that_fails_ends_while_leading_with_its_error() -> None:
    clock = FakeClock()
    elector = ScriptedElector(clock)

    async def broken() -> None:
        raise RuntimeError("the API refused the take-over")

    lease = asyncio.create_task(elector.run())
    with pytest.raises(RuntimeError, match="refused the take-over"):
        await elector.while_leading(broken)
    await stop(lease)


def test_leader_identity_names_the_pod_and_is_unique(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "placement-7d9f-abcde")
    first, second = leader_identity(), leader_identity()
    assert first.startswith("placement-7d9f-abcde-") and second.startswith("placement-7d9f-abcde-")
    assert first != second


class FailingElector(ScriptedElector):
    """Holds the lease on the first round; every round after it fails as an unreachable API does."""

    async def try_acquire_or_renew(self) -> bool:
        if not self.is_leader:
            return True
        raise OSError("connection refused")


async def test_a_leader_that_cannot_renew_stops_acting_before_its_lease_can_expire() -> None:
    clock = FakeClock(auto_advance=True)
    elector = FailingElector(clock)
    task = asyncio.create_task(elector.run())
    try:
        await elector.wait_until_leader()
        leading_since = clock.monotonic()
        await elector.wait_until_follower()
        stepped_down_after = clock.monotonic() - leading_since
        # client-go's renew deadline, 10 s of the 15 s lease: no standby can hold it yet
        assert 10.0 <= stepped_down_after < elector.lease_duration
    finally:
        await stop(task)


async def test_a_renewal_that_hangs_is_given_up_at_the_deadline() -> None:
    class Hanging(ScriptedElector):
        async def try_acquire_or_renew(self) -> bool:
            if not self.is_leader:
                return True
            await asyncio.Event().wait()  # an API call that never answers
            return True

    elector = Hanging(FakeClock(auto_advance=True))
    elector.renew_deadline = 0.2  # real seconds: the deadline bounds the call itself
    task = asyncio.create_task(elector.run())
    try:
        await elector.wait_until_leader()
        await asyncio.wait_for(elector.wait_until_follower(), 5)
    finally:
        await stop(task)
