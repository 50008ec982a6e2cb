"""Retry as data: a `should_retry(attempt, error) -> delay | None` policy and one loop that runs it.

We do not use the SDK's retryer (see the reference: it re-raises the first error after a
success and sleeps after the last attempt). Backoff is exponential with full jitter, bounded
both in attempts and in total time; the clock is injected so tests never wait.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from spillway.cloud.clock import Clock, SystemClock
from spillway.cloud.errors import CloudError, RetryableError

T = TypeVar("T")
ShouldRetry = Callable[[int, CloudError], float | None]
"""attempt (1 = the first call failed) and its error → seconds to wait, or None to give up."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter for `RetryableError`s; throttling backs off from a larger base."""

    base: float = 0.2
    throttled_base: float = 0.5
    cap: float = 10.0
    max_attempts: int = 8
    rng: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __call__(self, attempt: int, error: CloudError) -> float | None:
        if not isinstance(error, RetryableError) or attempt >= self.max_attempts:
            return None
        base = self.throttled_base if error.throttled else self.base
        return float(self.rng() * min(self.cap, base * 2 ** (attempt - 1)))


NO_RETRY: ShouldRetry = lambda attempt, error: None  # noqa: E731


async def call_with_retry(fn: Callable[[], Awaitable[T]], should_retry: ShouldRetry, *,
                          clock: Clock | None = None, max_elapsed: float = 60.0) -> T:
    """Run `fn` until it succeeds, the policy gives up, or the next wait would pass `max_elapsed`."""
    clock = clock or SystemClock()
    start = clock.monotonic()
    attempt = 0
    while True:
        try:
            return await fn()
        except CloudError as error:
            attempt += 1
            delay = should_retry(attempt, error)
            if delay is None or clock.monotonic() - start + delay > max_elapsed:
                raise
            await clock.sleep(delay)
