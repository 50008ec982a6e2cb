"""Ordered per key, concurrent across keys, latest state wins: how the watcher writes KV and publishes.

Why: a sequential `await publish` caps at ~5,000/s and every pod event costs a KV put plus a
publish (docs/design.md §9). Work for one object runs one job at a time; work for different objects
overlaps, up to `limit` keys at once, which also back-pressures the watch stream when NATS is slow.

Why one slot and one pending job per key: a job is a flush of the key's latest state (the caller
keeps whatever must still be published in that state), so a newer job supersedes an older one that
has not run yet. A pod updated 1000 times while NATS is slow is one pending job, not 1000 slots;
one busy object can never take the slots every other object needs.

Failures are told apart by `spillway.bus.is_permanent`: a retryable one (connection, timeout) is
retried with backoff (`WRITE_BACKOFF`), and the key gives its slot back while it waits; a permanent one (too big, an
invalid key, unencodable) is logged, counted and handed to the job's `report` callback, never
retried, so it costs one attempt and affects no other key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.watcher.metrics import MIRROR_LAG, PIPELINE_COALESCED, PIPELINE_PERMANENT, PIPELINE_RETRIES
from spillway.bus import is_permanent
from spillway.loops import SYSTEM_CLOCK, Backoff, Clock

log = logging.getLogger(__name__)
Job = Callable[[], Awaitable[None]]
Report = Callable[[BaseException], None]

WRITE_BACKOFF = Backoff(initial=0.1, cap=5.0, jitter=0.0)
"""A key's failed write is tried again after 0.1 s, 0.2 s … 5 s; a success starts it over."""


@dataclass(frozen=True, slots=True)
class _Pending:
    job: Job
    report: Report | None
    since: float
    """clock.monotonic() when the oldest change this job writes arrived (a job replacing one keeps its time)."""


class KeyedPipeline:
    def __init__(self, limit: int = 256, backoff: Backoff = WRITE_BACKOFF, clock: Clock = SYSTEM_CLOCK) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._pending: dict[str, _Pending] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._backoff = backoff
        self._clock = clock

    @property
    def active_keys(self) -> int:
        """Keys with work queued, running or backing off."""
        return len(self._workers)

    @property
    def pending_jobs(self) -> int:
        """Jobs waiting to run (at most one per key)."""
        return len(self._pending)

    async def submit(self, key: str, job: Job, *, report: Report | None = None) -> None:
        """Make `job` the next work of `key`, replacing a job of that key that has not started.

        A key that already has work takes no new slot and returns at once; a new key waits for a
        free slot. `report` is called (synchronously) with the error when the job fails permanently.
        """
        pending = _Pending(job, report, self._clock.monotonic())
        if self._queue_behind_worker(key, pending):
            return
        await self._slots.acquire()
        if self._queue_behind_worker(key, pending):  # a worker started while we waited
            self._slots.release()
            return
        self._pending[key] = pending
        self._workers[key] = asyncio.create_task(self._work(key), name=f"pipeline:{key}")

    def _queue_behind_worker(self, key: str, pending: _Pending) -> bool:
        if key not in self._workers:
            return False
        replaced = self._pending.get(key)
        if replaced is not None:
            PIPELINE_COALESCED.inc()
            pending = dataclasses.replace(pending, since=replaced.since)
        self._pending[key] = pending
        return True

    async def _work(self, key: str) -> None:
        """Run the key's pending job until none is left; holds one slot except while backing off."""
        holding = True  # the slot submit() acquired for this worker
        failures = 0
        try:
            while (pending := self._pending.pop(key, None)) is not None:
                if not holding:
                    await self._slots.acquire()
                    holding = True
                try:
                    await pending.job()
                    MIRROR_LAG.observe(self._clock.monotonic() - pending.since)
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if is_permanent(exc):
                        self._give_up(key, pending, exc)
                        continue
                    # retry it, unless a newer state of the object arrived meanwhile: that one wins
                    self._pending.setdefault(key, pending)
                    PIPELINE_RETRIES.labels(type(exc).__name__).inc()
                    failures += 1
                    delay = self._backoff.delay(failures)
                    log.warning("watcher write failed, retrying", extra={"key": key, "error": repr(exc),
                                                                        "delay": delay})
                    self._slots.release()
                    holding = False
                    await self._clock.sleep(delay)
        finally:
            if holding:
                self._slots.release()
            if self._workers.get(key) is asyncio.current_task():
                del self._workers[key]

    @staticmethod
    def _give_up(key: str, pending: _Pending, exc: Exception) -> None:
        PIPELINE_PERMANENT.labels(type(exc).__name__).inc()
        log.error("watcher write refused for good; not retried", extra={"key": key, "error": repr(exc)})
        if pending.report is None:
            return
        try:
            pending.report(exc)
        except Exception:  # a broken report must not stop the key's later work
            log.exception("reporting a refused write failed", extra={"key": key})

    async def drain(self) -> None:
        """Until every job submitted so far has finished (or was given up)."""
        while self._workers:
            await asyncio.wait(set(self._workers.values()))

    async def cancel(self) -> None:
        tasks = list(self._workers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pending.clear()
