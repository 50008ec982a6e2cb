"""`every(name, interval, fn)`: the one way to run something periodically, supervised.

    await every("pod status sync", settings.status_sync_seconds, sync.sync_once,
                clock=clock, liveness=ctx.liveness)

Each round calls `fn()`. A round that raises is logged with the loop's name, counted in
`spillway_loop_failures_total{loop=name}`, and followed by a capped exponential backoff with jitter
instead of the interval; the loop goes on. Only cancellation stops it (then it leaves the liveness
registry quietly). Every round beats the loop's heartbeat, so a round that never returns makes
`/healthz` fail after `stuck_after` seconds. `until_ok(...)` is the same loop that returns after
its first successful round (a registration that must happen before anything else).

Run it as a task (`asyncio.create_task(every(...))`) or await it inside one; a task that holds
several loops (leader-scoped work) cancels them together when it stops.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from spillway.loops.backoff import backoff_delay
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


async def every(
    name: str, interval: float, fn: Round, *, clock: Clock = SYSTEM_CLOCK, liveness: Liveness | None = None,
    max_backoff: float | None = None, stuck_after: float | None = None, rng: Callable[[], float] = random.random,
) -> None:
    """Run `fn` every `interval` seconds until cancelled; failures back off and never end the loop."""
    await _loop(name, interval, fn, clock=clock, liveness=liveness, max_backoff=max_backoff,
                stuck_after=stuck_after, rng=rng, until_success=False)


async def until_ok(
    name: str, pause: float, fn: Round, *, clock: Clock = SYSTEM_CLOCK, liveness: Liveness | None = None,
    max_backoff: float | None = None, stuck_after: float | None = None, rng: Callable[[], float] = random.random,
) -> None:
    """Call `fn` until one call succeeds, backing off from `pause` between failures."""
    await _loop(name, pause, fn, clock=clock, liveness=liveness, max_backoff=max_backoff,
                stuck_after=stuck_after, rng=rng, until_success=True)


async def _loop(
    name: str, interval: float, fn: Round, *, clock: Clock, liveness: Liveness | None, max_backoff: float | None,
    stuck_after: float | None, rng: Callable[[], float], until_success: bool,
) -> None:
    cap = default_max_backoff(interval) if max_backoff is None else max(interval, max_backoff)
    registry = liveness if liveness is not None else Liveness(clock)
    heart = registry.track(name, kind="loop",
                           stuck_after=default_stuck_after(interval, cap) if stuck_after is None else stuck_after)
    failures = 0
    try:
        while True:
            heart.beat()
            try:
                await fn()
            except Exception as exc:
                failures += 1
                LOOP_FAILURES.labels(bounded(name)).inc()
                delay = backoff_delay(failures, base=interval, cap=cap, rng=rng)
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
            await clock.sleep(delay)
    except asyncio.CancelledError:
        heart.close()
        raise
    except BaseException as exc:  # SystemExit, KeyboardInterrupt…: the loop is gone, say so
        heart.die(f"exited: {describe_error(exc)}")
        log.error("loop %r exited", name, exc_info=exc, extra={"loop": name})
        raise
