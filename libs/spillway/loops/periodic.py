"""`every(name, interval, fn)`: the one way to run something periodically, supervised.

    await every("pod status sync", settings.status_sync_seconds, sync.sync_once,
                clock=clock, liveness=ctx.liveness)

Each round calls `fn()`. A round that raises is logged with the loop's name, counted in
`spillway_loop_failures_total{loop=name}`, and followed by a wait from its `Backoff` (by default
from the interval up to ten intervals, at most 30 s) instead of the interval; the loop goes on.
Only cancellation stops it (then it leaves the liveness registry quietly). Every round beats the
loop's heartbeat, so a round that never returns makes `/healthz` fail after `stuck_after` seconds.
Setting `wake` (an asyncio.Event) ends the current wait early: something changed, look now.
`until_ok(...)` is the same loop that returns after its first successful round (a registration
that must happen before anything else).

Run it as a task (`asyncio.create_task(every(...))`) or await it inside one; a task that holds
several loops (leader-scoped work) cancels them together when it stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from spillway.loops.backoff import Backoff
from spillway.loops.clock import SYSTEM_CLOCK, Clock
from spillway.loops.labels import bounded
from spillway.loops.liveness import Liveness
from spillway.telemetry import redact
from spillway.telemetry.metrics import LOOP_FAILURES

log = logging.getLogger("spillway.loops")
Round = Callable[[], Awaitable[object]]
MAX_ERROR_CHARS = 500


def default_max_backoff(interval: float) -> float:
    """Ten intervals, at most 30 s (but never under the interval): a failing loop slows down, and
    still comes back soon once what it needs does."""
    return max(interval, min(30.0, 10 * interval))


def default_stuck_after(interval: float, max_backoff: float) -> float:
    """Generous: a pod restart is a big hammer, kept for a round that clearly hangs. One cloud call
    may retry for a minute during an outage, and a round makes a few: five minutes at least."""
    return max(10 * interval, 3 * max_backoff, 300.0)


def describe_error(exc: BaseException) -> str:
    """`Type: message`, secrets masked, cut to a bounded length (it goes into logs and /healthz)."""
    text = redact(f"{type(exc).__name__}: {exc}")
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "…"


def default_backoff(interval: float) -> Backoff:
    """A failing round is tried again after `interval`, then twice that… up to `default_max_backoff`."""
    return Backoff(initial=interval, cap=default_max_backoff(interval))


async def every(
    name: str, interval: float, fn: Round, *, clock: Clock = SYSTEM_CLOCK, liveness: Liveness | None = None,
    backoff: Backoff | None = None, stuck_after: float | None = None, wake: asyncio.Event | None = None,
) -> None:
    """Run `fn` every `interval` seconds until cancelled; failures back off and never end the loop."""
    await _loop(name, interval, fn, clock=clock, liveness=liveness, backoff=backoff, stuck_after=stuck_after,
                wake=wake, until_success=False)


async def until_ok(
    name: str, pause: float, fn: Round, *, clock: Clock = SYSTEM_CLOCK, liveness: Liveness | None = None,
    backoff: Backoff | None = None, stuck_after: float | None = None,
) -> None:
    """Call `fn` until one call succeeds, backing off (from `pause` by default) between failures."""
    await _loop(name, pause, fn, clock=clock, liveness=liveness, backoff=backoff, stuck_after=stuck_after,
                wake=None, until_success=True)


async def _loop(
    name: str, interval: float, fn: Round, *, clock: Clock, liveness: Liveness | None, backoff: Backoff | None,
    stuck_after: float | None, wake: asyncio.Event | None, until_success: bool,
) -> None:
    backoff = default_backoff(interval) if backoff is None else backoff
    registry = liveness if liveness is not None else Liveness(clock)
    heart = registry.track(name, kind="loop", stuck_after=(
        default_stuck_after(interval, max(interval, backoff.cap)) if stuck_after is None else stuck_after))
    failures = 0
    LOOP_FAILURES.labels(bounded(name))  # the series exists at 0, so the first failure shows in increase()
    try:
        while True:
            heart.beat()
            if wake is not None:
                wake.clear()
            try:
                await fn()
            except Exception as exc:
                failures += 1
                LOOP_FAILURES.labels(bounded(name)).inc()
                delay = backoff.delay(failures)
                log.warning("loop %r failed (%d in a row), next try in %.2fs: %s", name, failures, delay,
                            describe_error(exc), exc_info=exc if failures == 1 else None,
                            extra={"loop": name, "failures": failures, "error": describe_error(exc)})
            else:
                if failures:
                    log.info("loop %r recovered after %d failures", name, failures,
                             extra={"loop": name, "failures": failures})
                failures, delay = 0, interval
                if until_success:
                    heart.close()
                    return
            heart.beat()
            await _pause(clock, delay, wake)
    except asyncio.CancelledError:
        heart.close()
        raise
    except BaseException as exc:  # SystemExit, KeyboardInterrupt…: the loop is gone, say so
        heart.die(f"exited: {describe_error(exc)}")
        log.error("loop %r exited", name, exc_info=exc, extra={"loop": name})
        raise


async def _pause(clock: Clock, seconds: float, wake: asyncio.Event | None) -> None:
    """`clock.sleep(seconds)`, ended early when `wake` is set."""
    if wake is None:
        await clock.sleep(seconds)
        return
    if wake.is_set():
        return
    sleeping = asyncio.create_task(clock.sleep(seconds))
    woken = asyncio.create_task(wake.wait())
    try:
        await asyncio.wait({sleeping, woken}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeping, woken):
            task.cancel()
        await asyncio.gather(sleeping, woken, return_exceptions=True)
