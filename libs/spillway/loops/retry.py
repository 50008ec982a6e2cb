"""`call_with_retry(fn, policy)`: one call, tried again as a `RetryPolicy` says, on an injectable clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from spillway.loops.backoff import RetryPolicy
from spillway.loops.clock import SYSTEM_CLOCK, Clock

T = TypeVar("T")


async def call_with_retry(fn: Callable[[], Awaitable[T]], policy: RetryPolicy, *,
                          retry_on: tuple[type[Exception], ...] = (Exception,), clock: Clock = SYSTEM_CLOCK,
                          max_elapsed: float | None = None) -> T:
    """`fn()` until it succeeds. An error of a `retry_on` type is retried after the wait `policy`
    gives; it is raised when the policy gives up (None) or when that wait would end more than
    `max_elapsed` seconds after the first try. Any other error is raised at once."""
    start = clock.monotonic()
    attempt = 0
    while True:
        try:
            return await fn()
        except retry_on as error:
            attempt += 1
            delay = policy(attempt, error)
            if delay is None or (max_elapsed is not None and clock.monotonic() - start + delay > max_elapsed):
                raise
            await clock.sleep(delay)
