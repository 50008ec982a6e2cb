"""Which cloud errors are retried and how long to wait: a thin layer on `spillway.loops.Backoff`.

We do not use the SDK's retryer (see the reference: it re-raises the first error after a
success and sleeps after the last attempt). Only `RetryableError`s are retried, throttling from a
larger base, with full jitter; bounded in attempts here and in total time by the caller
(`call_with_retry(..., max_elapsed=)`), on an injected clock so tests never wait.
"""

from __future__ import annotations

from dataclasses import dataclass

from spillway.cloud.errors import RetryableError
from spillway.loops import Backoff, RetryPolicy

RETRYABLE_BACKOFF = Backoff(initial=0.2, cap=10.0, jitter=1.0, floor=0.0)
THROTTLED_BACKOFF = Backoff(initial=0.5, cap=10.0, jitter=1.0, floor=0.0)


@dataclass(frozen=True)
class CloudRetry:
    """The cloud client's RetryPolicy: `backoff` for retryable errors, `throttled` for throttling."""

    backoff: Backoff = RETRYABLE_BACKOFF
    throttled: Backoff = THROTTLED_BACKOFF
    max_attempts: int = 8

    def __call__(self, attempt: int, error: BaseException) -> float | None:
        if not isinstance(error, RetryableError) or attempt >= self.max_attempts:
            return None
        return (self.throttled if error.throttled else self.backoff).delay(attempt)


NO_RETRY: RetryPolicy = lambda attempt, error: None  # noqa: E731
