"""The one retry schedule: capped exponential backoff with jitter, as data.

`Backoff(initial, factor, cap, jitter)` is the wait before try `attempt + 1` after `attempt`
failures: initial·factor^(attempt-1), at most `cap`, shortened at random by up to `jitter` (a
fraction; 1 = "full jitter") so replicas do not retry in step, never under `floor` so a failing
loop cannot spin. `cap` is a hard ceiling: jitter only ever shortens a wait.

A `Backoff` is also a `RetryPolicy` (any error is retried, `max_attempts` tries in all): what
bus redelivery and `call_with_retry` take. A policy that tells errors apart (the cloud's) is a
thin function on top of one or more `Backoff`s.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

RetryPolicy = Callable[[int, BaseException], float | None]
"""attempt (1 = the first try failed) and its error → seconds to wait before the next try, or None
to give up."""


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with jitter (see the module doc)."""

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.1
    floor: float = 0.05
    max_attempts: int | None = None
    """As a RetryPolicy: tries in all, the first included (None = no limit)."""
    rng: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter is a fraction in [0, 1], not {self.jitter}")
        if self.initial < 0 or self.cap < 0 or self.floor < 0 or self.factor < 1:
            raise ValueError("initial, cap and floor must be >= 0 and factor >= 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after `attempt` failures in a row (1 = the first failure)."""
        try:
            grown = self.initial * self.factor ** max(0, attempt - 1)
        except OverflowError:  # far past any cap
            grown = math.inf
        wait = min(self.cap, grown) * (1.0 - self.jitter * self.rng())
        return max(self.floor, wait)

    def __call__(self, attempt: int, error: BaseException) -> float | None:
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return None
        return self.delay(attempt)
