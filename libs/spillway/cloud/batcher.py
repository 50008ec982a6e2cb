"""Coalesce concurrent single-item requests into batched API calls (after Karpenter's batcher).

Items arriving within an idle window (reset by each arrival, bounded by `max_wait`) go out
together; a batch that reaches `max_items` goes out at once. With a 20/s API limit this is what
lets thousands of per-pod describes and deletes fit: 250 concurrent describes → 3 calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Generic, TypeVar

from spillway.loops import SYSTEM_CLOCK, Clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Batcher(Generic[K, V]):
    """`await batcher.submit(key)` → the result for `key` (or `default` when the batch had none)."""

    def __init__(self, run: Callable[[list[K]], Awaitable[Mapping[K, V]]], *, max_items: int,
                 default: V, idle: float = 0.005, max_wait: float = 0.05, clock: Clock | None = None) -> None:
        self._run = run
        self._max_items = max_items
        self._default = default
        self._idle = idle
        self._max_wait = max_wait
        self._clock = clock or SYSTEM_CLOCK
        self._pending: dict[K, list[asyncio.Future[V]]] = {}
        self._arrivals = 0
        self._timer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # calls made, for tests and metrics

    async def submit(self, key: K) -> V:
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append(future)
        self._arrivals += 1
        if len(self._pending) >= self._max_items:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._wait_then_flush())
        return await future

    async def _wait_then_flush(self) -> None:
        start = self._clock.monotonic()
        try:
            while True:
                seen = self._arrivals
                await self._clock.sleep(self._idle)
                if seen == self._arrivals or self._clock.monotonic() - start >= self._max_wait:
                    break
        finally:
            self._timer = None
        self._flush()

    def _flush(self) -> None:
        while self._pending:
            keys = list(self._pending)[: self._max_items]
            batch = {k: self._pending.pop(k) for k in keys}
            task = asyncio.create_task(self._execute(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _execute(self, batch: dict[K, list[asyncio.Future[V]]]) -> None:
        self.batches += 1
        try:
            results = await self._run(list(batch))
        except BaseException as err:  # every waiter gets the batch's failure
            for futures in batch.values():
                for f in futures:
                    if not f.done():
                        f.set_exception(err)
            if isinstance(err, asyncio.CancelledError):
                raise
            return
        for key, futures in batch.items():
            for f in futures:
                if not f.done():
                    f.set_result(results.get(key, self._default))

    async def close(self) -> None:
        tasks = [t for t in (self._timer, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for futures in self._pending.values():
            for f in futures:
                f.cancel()
        self._pending.clear()
