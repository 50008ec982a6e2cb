"""The clock a loop runs on: wall time, monotonic time and sleep behind one seam.

Code that waits or measures takes a `Clock` (default `SYSTEM_CLOCK`), so a test can hand it a fake
one and drive time by hand instead of sleeping for real.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Where time comes from: `time()` for timestamps written out, `monotonic()` for intervals."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: `time.time`, `time.monotonic`, `asyncio.sleep`."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
