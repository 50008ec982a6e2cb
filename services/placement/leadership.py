"""Only the leader decides: it consumes pending-pod events and resyncs; standbys keep a warm view.

Why the consumer is started here and not registered with the runtime: a standby must not take
messages off the shared durable consumer (it would have to hand them back, burning deliveries).
While holding the lease (`LeaderElector.while_leading`): wait for the view (and a moment for the
previous leader's last writes to reach it), start consuming, decide every pod still pending (the
old leader may have died mid-burst; its unacked messages come back only after ack_wait), then
resync on every poke and every `resync_seconds`. On losing it: stop consuming at once. On
shutdown: drain, then release the lease so a standby takes over immediately instead of after
lease expiry.

Nothing one pod does may end these loops: a failed take-over step (the API down, a list it cannot
read) is logged and tried again with a growing pause (`until_ok`); a failed resync or decision is
logged and the next resync tries again (`every`).
"""

from __future__ import annotations

import asyncio
import logging

from services.placement.decider import Decider
from spillway.bus import Bus, Consumer, HandlerSpec
from spillway.kube.leader import LeaderElector
from spillway.loops import SYSTEM_CLOCK, Backoff, Clock, Liveness, every, until_ok
from spillway.model import messages as m
from spillway.policy import Trigger

log = logging.getLogger("spillway.placement")
DURABLE = "decide"
TAKE_OVER_BACKOFF = Backoff(initial=0.5, cap=30.0, jitter=0.0)
COALESCE_SECONDS = 0.05
"""A resync waits this long after its poke, so a burst of node or config updates is one resync."""


class Leadership:
    def __init__(self, bus: Bus, elector: LeaderElector, decider: Decider, *, concurrency: int,
                 resync_seconds: float, grace: float = 5.0, settle_seconds: float = 1.0,
                 clock: Clock = SYSTEM_CLOCK, liveness: Liveness | None = None) -> None:
        self.bus = bus
        self.elector = elector
        self.decider = decider
        self.concurrency = concurrency
        self.resync_seconds = resync_seconds
        self.grace = grace
        self.settle_seconds = settle_seconds
        self.clock = clock
        self.liveness = liveness
        self.consumer: Consumer | None = None
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
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
        """Keep the lease and lead while holding it; on the way out stop consuming, then release it."""
        elector_task = asyncio.create_task(self.elector.run(), name="placement:lease")
        try:
            await self.elector.while_leading(self._lead)
        finally:
            await self._stop_consumer()
            await self.elector.release()
            elector_task.cancel()
            await asyncio.gather(elector_task, return_exceptions=True)

    async def _lead(self) -> None:
        """One term as leader; cancelled when the lease is lost."""
        try:
            await self.decider.view.synced.wait()
            # the previous leader's last writes may still be on their way through the watcher
            # into our view; counting before they arrive would keep replicas too many local
            # (seen under load: 36 local instead of 10). Read the pods from the API itself.
            await self.clock.sleep(self.settle_seconds)
            await until_ok("placement take-over", TAKE_OVER_BACKOFF.initial, self._take_over,
                           backoff=TAKE_OVER_BACKOFF, clock=self.clock, liveness=self.liveness)
            # the first round runs at once: a new leader first looks at everything still pending
            await every("placement resync", self.resync_seconds, self._resync_round, wake=self._wake,
                        clock=self.clock, liveness=self.liveness)
        finally:
            await self._stop_consumer()

    async def _take_over(self) -> None:
        """Refresh the view from the API and start consuming (stopped again when a step fails)."""
        try:
            await self.decider.refresh_pods()
            log.info("leading: consuming pending pods", extra={"identity": self.elector.identity})
            self.consumer = Consumer(self.bus, self.spec())
            await self.consumer.start()
        except Exception:
            await self._stop_consumer()
            raise

    async def _stop_consumer(self) -> None:
        if self.consumer is not None:
            consumer, self.consumer = self.consumer, None
            await consumer.stop(self.grace)

    async def _resync_round(self) -> None:
        await self.clock.sleep(COALESCE_SECONDS)
        await self.resync()

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
