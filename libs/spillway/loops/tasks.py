"""`supervise(name, fn)`: a long-running task that is restarted, kubelet style, when it ends.

A task that returns or raises is logged with its name, counted in
`spillway_task_restarts_total{task=name}`, and started again after a capped exponential backoff
(1 s, 2 s, 4 s … 60 s). After `unhealthy_after` ends in a row it is reported dead on `/healthz`
(so Kubernetes restarts the pod) while it keeps being restarted in-process; a run that lasted
`stable_after` seconds resets the count, and a restarted task is healthy again once it has run
that long. Cancellation stops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from spillway.loops.backoff import Backoff
from spillway.loops.clock import SYSTEM_CLOCK, Clock
from spillway.loops.labels import bounded
from spillway.loops.liveness import Liveness
from spillway.loops.periodic import describe_error
from spillway.telemetry.metrics import TASK_RESTARTS

log = logging.getLogger("spillway.loops")
RESTART_BACKOFF = Backoff(initial=1.0, cap=60.0)


def raise_if_cancelled() -> None:
    """Raise CancelledError when this task was asked to stop. Call it after awaiting a library
    that may lose a cancellation (Python 3.11's `asyncio.wait_for`, under nats-py's requests, drops
    one that arrives as the answer does): the request returns, and the task would otherwise go on
    to wait for ever."""
    current = asyncio.current_task()
    if current is not None and current.cancelling():
        raise asyncio.CancelledError


async def supervise(
    name: str, fn: Callable[[], Awaitable[object]], *, clock: Clock = SYSTEM_CLOCK, liveness: Liveness | None = None,
    backoff: Backoff = RESTART_BACKOFF, unhealthy_after: int = 5, stable_after: float = 60.0,
) -> None:
    """Run `fn()` for ever: restart it with backoff whenever it returns or raises; see the module doc."""
    registry = liveness if liveness is not None else Liveness(clock)
    heart = registry.track(name, kind="task")
    TASK_RESTARTS.labels(bounded(name))  # the series exists at 0, so the first restart shows in increase()
    ends = 0
    try:
        while True:
            started = clock.monotonic()
            heart.revive(stable_after)
            error: Exception | None = None
            try:
                await fn()
                why = "returned"
            except Exception as exc:
                error, why = exc, f"raised {describe_error(exc)}"
            raise_if_cancelled()  # `fn` ended because a cancel was lost under it: stop, never restart
            if clock.monotonic() - started >= stable_after:
                ends = 0
            ends += 1
            TASK_RESTARTS.labels(bounded(name)).inc()
            delay = backoff.delay(ends)
            if ends >= unhealthy_after:
                heart.die(f"{why}; ended {ends} times in a row")
            log.error("task %r %s; restarting in %.1fs (attempt %d)", name, why, delay, ends + 1, exc_info=error,
                      extra={"task": name, "attempt": ends + 1})
            await clock.sleep(delay)
    except asyncio.CancelledError:
        heart.close()
        raise
    except BaseException as exc:
        heart.die(f"exited: {describe_error(exc)}")
        raise
