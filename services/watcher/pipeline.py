"""Ordered per key, concurrent across keys: how the watcher writes KV and publishes fast.

Why: a sequential `await publish` caps at ~5,000/s and every pod event costs a KV put plus a
publish (DESIGN §9). Jobs for one object run in submission order (its KV state and events must
not overtake each other); jobs for different objects overlap, up to `limit` at once, which also
back-pressures the watch stream when NATS is slow. A failing job is retried with backoff until it
succeeds: an event the watcher saw is never dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)
Job = Callable[[], Awaitable[None]]


class KeyedPipeline:
    def __init__(self, limit: int = 256, max_backoff: float = 5.0) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._max_backoff = max_backoff

    async def submit(self, key: str, job: Job) -> None:
        """Queue `job` after the previous job of `key`; waits only for a free slot."""
        await self._slots.acquire()
        previous = self._tails.get(key)
        task = asyncio.create_task(self._run(key, previous, job))
        self._tails[key] = task

    async def _run(self, key: str, previous: asyncio.Task[None] | None, job: Job) -> None:
        try:
            if previous is not None and not previous.done():
                await asyncio.wait({previous})
            delay = 0.1
            while True:
                try:
                    await job()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("publish job failed, retrying", extra={"key": key, "error": repr(exc),
                                                                      "delay": delay})
                    await asyncio.sleep(delay)
                    delay = min(self._max_backoff, delay * 2)
        finally:
            self._slots.release()
            if self._tails.get(key) is asyncio.current_task():
                del self._tails[key]

    async def drain(self) -> None:
        """Until every job submitted so far has finished."""
        while self._tails:
            await asyncio.wait(set(self._tails.values()))

    async def cancel(self) -> None:
        tasks = list(self._tails.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
