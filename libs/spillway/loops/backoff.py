"""Capped exponential backoff with jitter, as a pure function of the failure count."""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(failures: int, *, base: float, cap: float, jitter: float = 0.1,
                  rng: Callable[[], float] = random.random) -> float:
    """base·2^(failures-1), at most `cap`, ±`jitter` (a fraction) so replicas do not retry in step.

    Never below 50 ms: a failing loop must not spin.
    """
    exponent = min(max(0, failures - 1), 62)  # 2**62 is already past any cap; keeps the float finite
    delay = min(cap, base * 2.0 ** exponent)
    delay *= 1 + jitter * (2 * rng() - 1)
    return max(0.05, delay)
