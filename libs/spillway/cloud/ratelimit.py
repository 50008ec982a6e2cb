"""Token buckets: the client stays below the API's per-action limit instead of hitting it.

The client waits its turn with `acquire` (or `reserve`s a token and waits itself).
"""

from __future__ import annotations

from collections.abc import Mapping

from spillway.loops import SYSTEM_CLOCK, Clock


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up."""

    def __init__(self, rate: float, burst: float | None = None, clock: Clock | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock or SYSTEM_CLOCK
        self._tokens = self.burst
        self._last = self._clock.monotonic()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def reserve(self) -> float:
        """Take a token now, possibly on credit; return how long to wait before using it.

        Reserving (rather than polling) keeps callers in arrival order without a queue.
        """
        self._refill()
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await self._clock.sleep(delay)


class ActionRateLimiter:
    """One bucket per API action (the cloud limits each action separately)."""

    def __init__(self, default_rate: float, per_action: Mapping[str, float] | None = None,
                 clock: Clock | None = None) -> None:
        self._default = default_rate
        self._per_action = dict(per_action or {})
        self._clock = clock or SYSTEM_CLOCK
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, action: str) -> TokenBucket:
        bucket = self._buckets.get(action)
        if bucket is None:
            rate = self._per_action.get(action, self._default)
            bucket = self._buckets[action] = TokenBucket(rate, clock=self._clock)
        return bucket

    async def acquire(self, action: str) -> None:
        """Wait for a token of `action`; a rate of 0 means no limit (benchmarks, tests)."""
        if self._per_action.get(action, self._default) <= 0:
            return
        await self.bucket(action).acquire()
