"""Redelivery backoff: a pure function of the attempt number, injectable per handler.

Why not the consumer's server-side `backoff` list: with backoff set the server lowers ack_wait to
backoff[0] (a slow handler gets redelivered while still running) and `nak()` ignores it anyway
(see docs/reference). So ack_wait stays long and every nak carries an explicit delay from here.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# attempt (1 = first delivery), error -> seconds to wait before redelivery, or None = give up now
RetryPolicy = Callable[[int, BaseException], float | None]


def exponential_backoff(
    base: float = 0.5, factor: float = 2.0, cap: float = 60.0, jitter: float = 0.1,
    rng: Callable[[], float] = random.random,
) -> RetryPolicy:
    """base·factor^(attempt-1), capped, ±jitter (fraction); never zero, so a nak is never a hot loop."""

    def policy(attempt: int, error: BaseException) -> float | None:
        delay = min(cap, base * factor ** max(0, attempt - 1))
        delay *= 1 + jitter * (2 * rng() - 1)
        return max(0.05, delay)

    return policy


default_retry: RetryPolicy = exponential_backoff()
