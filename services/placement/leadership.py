"""Only the leader decides: it consumes pending-pod events and resyncs; standbys keep a warm view.

Why the consumer is started here and not registered with the runtime: a standby must not take
messages off the shared durable consumer (it would have to hand them back, burning deliveries).
On gaining the lease: wait for the view (and a moment for the previous leader's last
writes to reach it), start consuming, decide every pod still pending (the old
leader may have died mid-burst; its unacked messages come back only after ack_wait). On losing
it: stop consuming at once. On shutdown: drain, then release the lease so a standby takes over
immediately instead of after lease expiry.

Nothing one pod does may end these loops: a failed take-over step (the API down, a list it cannot
read) is logged and tried again with a growing pause; a failed resync or decision is logged and
the next resync tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.placement.decider import Decider
from spillway.bus import Bus, Consumer, HandlerSpec
from spillway.kube.leader import LeaderElector
from spillway.model import messages as m
from spillway.policy import Trigger

log = logging.getLogger("spillway.placement")
DURABLE = "decide"
RETRY_BASE_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


class Leadership:
    def __init__(self, bus: Bus, elector: LeaderElector, decider: Decider, *, concurrency: int,
                 resync_seconds: float, grace: float = 5.0, settle_seconds: float = 1.0) -> None:
        self.bus = bus
        self.elector = elector
        self.decider = decider
        self.concurrency = concurrency
        self.resync_seconds = resync_seconds
        self.grace = grace
        self.settle_seconds = settle_seconds
        self.consumer: Consumer | None = None
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self.takeover_failures = 0
        self.resync_failures = 0
        decider.view.triggers.append(self.poke)

    def spec(self) -> HandlerSpec:
        return HandlerSpec(
            fn=self.decider.on_event, subjects=(m.POD_PENDING_GATED, m.POD_PENDING_UNSCHEDULABLE), durable=DURABLE,
            max_deliver=10, ack_wait=10.0, batch=max(20, self.concurrency), concurrency=self.concurrency,
        )

    def poke(self, why: str = "") -> None:
        """Something that may change refusals changed (switch, nodes, zones): resync soon."""
        self._wake.set()

    async def run(self) -> None:
        elector_task = asyncio.create_task(self.elector.run(), name="placement:lease")
        try:
            while True:
                await self.elector.wait_until_leader()
                await self.decider.view.synced.wait()
                # the previous leader's last writes may still be on their way through the watcher
                # into our view; counting before they arrive would keep replicas too many local
                # (seen under load: 36 local instead of 10). Read the pods from the API itself.
                await asyncio.sleep(self.settle_seconds)
                if not await self._take_over():
                    continue
                resync = asyncio.create_task(self._resync_loop(), name="placement:resync")
                try:
                    while self.elector.is_leader:
                        self.elector.changed.clear()
                        await self.elector.changed.wait()
                finally:
                    resync.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await resync
                    await self._stop_consumer()
                log.warning("lost the lease: standing by", extra={"identity": self.elector.identity})
        finally:
            await self._stop_consumer()
            await self.elector.release()
            elector_task.cancel()
            await asyncio.gather(elector_task, return_exceptions=True)

    async def _take_over(self) -> bool:
        """Refresh the view from the API and start consuming; False (after a pause growing with
        each failure in a row) when a step failed or the lease went meanwhile."""
        try:
            await self.decider.refresh_pods()
            if not self.elector.is_leader:
                return False
            log.info("leading: consuming pending pods", extra={"identity": self.elector.identity})
            self.consumer = Consumer(self.bus, self.spec())
            await self.consumer.start()
        except Exception as exc:
            self.takeover_failures += 1
            pause = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** min(self.takeover_failures - 1, 10))
            log.warning("take-over failed; trying again", extra={"error": repr(exc), "retry_in": pause,
                                                                "failures": self.takeover_failures})
            await self._stop_consumer()
            await asyncio.sleep(pause)
            return False
        self.takeover_failures = 0
        return True

    async def _stop_consumer(self) -> None:
        if self.consumer is not None:
            consumer, self.consumer = self.consumer, None
            await consumer.stop(self.grace)

    async def _resync_loop(self) -> None:
        self._wake.set()  # a new leader first looks at everything still pending
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.resync_seconds)
            self._wake.clear()
            await asyncio.sleep(0.05)  # coalesce a burst of node/config updates
            try:
                await self.resync()
            except Exception as exc:  # the next round tries again; this loop must outlive any pod
                self.resync_failures += 1
                log.warning("resync failed", extra={"error": repr(exc), "failures": self.resync_failures})

    async def resync(self) -> None:
        """Warn about super nodes that are not ours, then decide every pod the view shows as still
        pending (concurrently, bounded)."""
        try:
            await self.decider.warn_unmanaged()
        except Exception as exc:
            log.warning("unmanaged super nodes not reported", extra={"error": repr(exc)})
        pending = self.decider.pending()
        if pending:
            log.info("resync", extra={"pending": len(pending)})
        await asyncio.gather(*(self._decide(key, trigger) for key, trigger in pending))

    async def _decide(self, key: str, trigger: Trigger) -> None:
        async with self._slots:
            try:
                await self.decider.decide_pod(key, trigger)
            except Exception as exc:  # the event path or the next resync retries it
                log.warning("resync decision failed", extra={"pod": key, "error": repr(exc)})
