"""Supervised loops and tasks on a fake clock: failures are logged, counted, backed off, never fatal;
liveness names a dead or stuck one."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY

from spillway.loops import Liveness, backoff_delay, every, supervise, until_ok
from tests.fixtures.clock import FakeClock

NO_JITTER = 0.5  # rng() = 0.5 → jitter factor 1


def failures_counted(metric: str, label: str, name: str) -> float:
    return REGISTRY.get_sample_value(metric, {label: name}) or 0.0


class Script:
    """A round function that fails with the queued errors, then succeeds; counts its calls."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


def test_backoff_doubles_from_base_up_to_the_cap_and_jitters_around_it() -> None:
    delays = [backoff_delay(n, base=1.0, cap=8.0, rng=lambda: NO_JITTER) for n in range(1, 7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert backoff_delay(3, base=1.0, cap=8.0, jitter=0.1, rng=lambda: 0.0) == pytest.approx(3.6)
    assert backoff_delay(3, base=1.0, cap=8.0, jitter=0.1, rng=lambda: 1.0) == pytest.approx(4.4)
    assert backoff_delay(10_000, base=1.0, cap=8.0, rng=lambda: NO_JITTER) == 8.0  # no overflow
    assert backoff_delay(1, base=0.0, cap=8.0) == 0.05  # never a hot loop


async def test_every_logs_counts_and_backs_off_each_failure_then_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    liveness = Liveness(clock)
    fn = Script(RuntimeError("bus down"), RuntimeError("bus down"), RuntimeError("bus down"))
    before = failures_counted("spillway_loop_failures_total", "loop", "unit flaky")
    with caplog.at_level(logging.WARNING, logger="spillway.loops"):
        task = asyncio.create_task(every("unit flaky", 5.0, fn, clock=clock, liveness=liveness, max_backoff=15.0,
                                         rng=lambda: NO_JITTER))
        for _ in range(5):
            await clock.parked()
            clock.advance(clock.slept[-1])
        await clock.parked()
    assert clock.slept == [5.0, 10.0, 15.0, 5.0, 5.0, 5.0]  # backoff 5 → 10 → cap 15, then the interval again
    assert fn.calls == 6
    assert failures_counted("spillway_loop_failures_total", "loop", "unit flaky") - before == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3 and all("unit flaky" in r.getMessage() and "bus down" in r.getMessage()
                                      for r in warnings)
    assert liveness.problems() == []  # failing is not dead: a restart would not help
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert liveness.names() == []  # cancelled: gone from the registry, not reported dead


async def test_every_survives_any_exception_type() -> None:
    class BusError(Exception):
        pass

    clock = FakeClock()
    fn = Script(BusError("publish gave up"), KeyError("x"), ValueError("y"))
    task = asyncio.create_task(every("unit any", 1.0, fn, clock=clock, rng=lambda: NO_JITTER))
    for _ in range(4):
        await clock.parked()
        clock.advance(100.0)
    await clock.parked()
    assert fn.calls == 5 and not task.done()
    task.cancel()


async def test_a_round_that_never_returns_is_reported_stuck_then_healthy_again() -> None:
    clock = FakeClock()
    liveness = Liveness(clock)
    release = asyncio.Event()
    entered = asyncio.Event()
    rounds = 0

    async def hangs_once() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 2:
            entered.set()
            await release.wait()

    task = asyncio.create_task(every("unit hang", 1.0, hangs_once, clock=clock, liveness=liveness, stuck_after=30.0))
    await clock.parked()
    clock.advance(1.0)
    await entered.wait()
    clock.advance(30.0)
    assert liveness.problems() == []  # exactly at the deadline: not yet
    clock.advance(1.0)
    [problem] = liveness.problems()
    assert "'unit hang' is stuck" in problem and "no heartbeat for 31s" in problem and "deadline 30s" in problem
    release.set()
    await clock.parked()
    assert liveness.problems() == []
    task.cancel()


async def test_until_ok_returns_after_the_first_success_and_leaves_the_registry() -> None:
    clock = FakeClock()
    liveness = Liveness(clock)
    fn = Script(OSError("refused"), OSError("refused"))
    task = asyncio.create_task(until_ok("unit register", 1.0, fn, clock=clock, liveness=liveness,
                                        rng=lambda: NO_JITTER))
    for _ in range(2):
        await clock.parked()
        assert liveness.names() == ["unit register"]
        clock.advance(10.0)
    await task
    assert fn.calls == 3 and clock.slept == [1.0, 2.0]
    assert liveness.names() == []


async def test_supervised_task_is_restarted_with_backoff_and_reported_dead_after_repeated_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    liveness = Liveness(clock)
    runs = 0
    steady = asyncio.Event()

    async def crashes_four_times_then_returns_then_runs() -> None:
        nonlocal runs
        runs += 1
        if runs <= 4:
            raise RuntimeError(f"lost the watch #{runs}")
        if runs == 5:
            return
        steady.set()
        await asyncio.Event().wait()

    before = failures_counted("spillway_task_restarts_total", "task", "unit watch")
    with caplog.at_level(logging.ERROR, logger="spillway.loops"):
        task = asyncio.create_task(supervise("unit watch", crashes_four_times_then_returns_then_runs, clock=clock,
                                             liveness=liveness, base=1.0, cap=4.0, unhealthy_after=5,
                                             stable_after=60.0, rng=lambda: NO_JITTER))
        for expected_problems in (0, 0, 0, 0):
            await clock.parked()
            assert len(liveness.problems()) == expected_problems
            clock.advance(clock.slept[-1])
        await clock.parked()
    assert clock.slept == [1.0, 2.0, 4.0, 4.0, 4.0]
    [problem] = liveness.problems()  # the fifth end in a row
    assert problem == "task 'unit watch' is dead: returned; ended 5 times in a row"
    assert failures_counted("spillway_task_restarts_total", "task", "unit watch") - before == 5
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors[0] == "task 'unit watch' raised RuntimeError: lost the watch #1; restarting in 1.0s (attempt 2)"
    assert errors[4].startswith("task 'unit watch' returned; restarting in 4.0s (attempt 6)")
    clock.advance(4.0)
    await steady.wait()
    assert liveness.problems() == [problem]  # restarted, but not yet trusted
    clock.advance(60.0)
    assert liveness.problems() == []  # ran for stable_after: healthy again
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert liveness.names() == []


async def test_a_long_run_resets_the_crash_count() -> None:
    clock = FakeClock()
    liveness = Liveness(clock)
    runs = 0

    async def crashes_after_a_long_run() -> None:
        nonlocal runs
        runs += 1
        clock.advance(100.0)  # this run lasted longer than stable_after
        raise RuntimeError("late crash")

    task = asyncio.create_task(supervise("unit late", crashes_after_a_long_run, clock=clock, liveness=liveness,
                                         unhealthy_after=2, stable_after=60.0, rng=lambda: NO_JITTER))
    for _ in range(4):
        await clock.parked()
        clock.advance(clock.slept[-1])
    await clock.parked()
    assert clock.slept == [1.0] * 5 and liveness.problems() == []
    task.cancel()
