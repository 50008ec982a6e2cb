"""Supervised loops and tasks on a fake clock: failures are logged, counted, backed off, never fatal;
liveness names a dead or stuck one."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from prometheus_client import REGISTRY

from spillway.loops import Backoff, Liveness, call_with_retry, every, raise_if_cancelled, supervise, until_ok
from tests.fixtures.clock import FakeClock


def no_jitter() -> float:
    return 0.0  # rng() = 0 → the full delay


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


def test_backoff_grows_from_initial_up_to_the_cap_and_jitter_only_shortens() -> None:
    plain = Backoff(initial=1.0, cap=8.0, rng=no_jitter)
    assert [plain.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert Backoff(initial=1.0, factor=3.0, cap=100.0, rng=no_jitter).delay(3) == 9.0
    assert Backoff(initial=1.0, cap=8.0, jitter=0.1, rng=lambda: 1.0).delay(3) == pytest.approx(3.6)
    assert Backoff(initial=1.0, cap=8.0, jitter=0.1, rng=lambda: 1.0).delay(9) == pytest.approx(7.2)
    assert Backoff(initial=1.0, cap=8.0, jitter=1.0, floor=0.0, rng=lambda: 1.0).delay(2) == 0.0  # full jitter
    assert plain.delay(10_000) == 8.0  # no overflow
    assert Backoff(initial=0.0, cap=8.0).delay(1) == 0.05  # never a hot loop
    with pytest.raises(ValueError, match="jitter"):
        Backoff(jitter=1.5)


def test_backoff_as_a_retry_policy_gives_up_after_max_attempts() -> None:
    policy = Backoff(initial=0.5, cap=60.0, max_attempts=3, rng=no_jitter)
    error = RuntimeError("down")
    assert [policy(n, error) for n in (1, 2, 3, 4)] == [0.5, 1.0, None, None]  # 3 tries in all
    assert Backoff(rng=no_jitter)(1_000, error) == 60.0  # no limit by default


async def test_call_with_retry_waits_on_the_clock_and_gives_up_when_told() -> None:
    clock = FakeClock(auto_advance=True)
    outcomes: list[Exception | str] = [TimeoutError(), TimeoutError(), "ok"]

    async def flaky() -> str:
        out = outcomes.pop(0)
        if isinstance(out, Exception):
            raise out
        return out

    policy = Backoff(initial=1.0, cap=4.0, jitter=0.0)
    assert await call_with_retry(flaky, policy, retry_on=(TimeoutError,), clock=clock) == "ok"
    assert clock.slept == [1.0, 2.0]

    async def down() -> str:
        raise TimeoutError

    with pytest.raises(TimeoutError):  # the next wait (4 s) would end 7 s after the start: past 6 s
        await call_with_retry(down, policy, retry_on=(TimeoutError,), clock=clock, max_elapsed=6.0)
    assert clock.slept[2:] == [1.0, 2.0]
    with pytest.raises(TimeoutError):  # the policy's own limit
        await call_with_retry(down, Backoff(initial=1.0, jitter=0.0, max_attempts=2), clock=clock)
    assert clock.slept[4:] == [1.0]


async def test_every_logs_counts_and_backs_off_each_failure_then_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    liveness = Liveness(clock)
    fn = Script(RuntimeError("bus down"), RuntimeError("bus down"), RuntimeError("bus down"))
    before = failures_counted("spillway_loop_failures_total", "loop", "unit flaky")
    with caplog.at_level(logging.WARNING, logger="spillway.loops"):
        task = asyncio.create_task(every("unit flaky", 5.0, fn, clock=clock, liveness=liveness,
                                         backoff=Backoff(initial=5.0, cap=15.0, rng=no_jitter)))
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
    task = asyncio.create_task(every("unit any", 1.0, fn, clock=clock))
    for _ in range(4):
        await clock.parked()
        clock.advance(100.0)
    await clock.parked()
    assert fn.calls == 5 and not task.done()
    task.cancel()


async def test_wake_starts_the_next_round_at_once_and_a_poke_during_a_round_is_not_lost() -> None:
    clock = FakeClock()
    wake = asyncio.Event()
    rounds: asyncio.Queue[int] = asyncio.Queue()
    calls = 0

    async def fn() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            wake.set()  # something changed while this round was looking
        await rounds.put(calls)

    task = asyncio.create_task(every("unit wake", 30.0, fn, clock=clock, wake=wake))
    assert await rounds.get() == 1
    await clock.parked()
    wake.set()
    assert await rounds.get() == 2 and clock.now == 0.0  # no time passed
    await clock.parked()
    assert not wake.is_set()  # the round took the poke
    clock.advance(30.0)
    assert await rounds.get() == 3
    assert await rounds.get() == 4 and clock.now == 30.0  # the poke during round 3 ran round 4 at once
    await clock.parked()
    assert clock.slept == [30.0, 30.0, 30.0]  # after rounds 1, 2 and 4: round 3 was followed by no wait
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


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
                                        backoff=Backoff(initial=1.0, cap=10.0, rng=no_jitter)))
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
                                             liveness=liveness, backoff=Backoff(initial=1.0, cap=4.0, rng=no_jitter),
                                             unhealthy_after=5, stable_after=60.0))
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
                                         backoff=Backoff(initial=1.0, rng=no_jitter), unhealthy_after=2,
                                         stable_after=60.0))
    for _ in range(4):
        await clock.parked()
        clock.advance(clock.slept[-1])
    await clock.parked()
    assert clock.slept == [1.0] * 5 and liveness.problems() == []
    task.cancel()


async def test_a_cancel_that_the_task_swallows_still_stops_it_and_it_is_never_restarted() -> None:
    clock = FakeClock()
    runs = 0
    inside = asyncio.Event()

    async def swallows_cancellation() -> None:  # as a library that catches CancelledError and returns
        nonlocal runs
        runs += 1
        inside.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return

    task = asyncio.create_task(supervise("unit swallow", swallows_cancellation, clock=clock))
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert runs == 1 and clock.slept == []


async def test_raise_if_cancelled_turns_a_lost_cancellation_back_into_one() -> None:
    async def loses_a_cancel_then_checks() -> str:
        current = asyncio.current_task()
        assert current is not None
        raise_if_cancelled()  # nothing asked yet: a no-op
        current.cancel()
        # what asyncio.wait_for does in Python 3.11 when the answer arrives with the cancel
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0)
        raise_if_cancelled()
        return "went on"

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(loses_a_cancel_then_checks())
