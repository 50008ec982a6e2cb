"""Per-workload cloud-failure back-off, learned from the instance events cloud-provisioner publishes.

Why: when the cloud answers every create the same way (quota used up, credentials or spec
refused), each failed pod is replaced by its controller and would burst again at once (hundreds
of failed pods a minute). Every placement replica hears `spillway.instance.failed` and
`spillway.instance.running` live (a plain subscription: a standby taking over already knows the
back-offs; a replica that restarts forgets them, which costs at most one more failed pod per
workload). The arithmetic and the rule are pure (`spillway.policy.rules.backoff`); this module
maps an instance event to its workload (the view's pod, else the pod's decision record) and keeps
one entry per workload, at most `MAX_WORKLOADS` (least recently failed dropped first).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.placement.view import ClusterView
from spillway.bus import Bus
from spillway.model import messages as m
from spillway.policy import WorkloadKey
from spillway.policy.rules.backoff import CloudBackoff, next_backoff

log = logging.getLogger("spillway.placement")
MAX_WORKLOADS = 10_000
SUBJECTS = (m.INSTANCE_FAILED, m.INSTANCE_RUNNING)
NOT_COUNTED = frozenset({"ZoneSoldOut"})
"""Failures with a remedy of their own: a sold-out zone is avoided by the zone cool-down."""


@dataclass
class _Entry:
    backoff: CloudBackoff
    announced: bool = False


class WorkloadBackoffs:
    """The current back-off of each workload whose cloud pods failed (bounded)."""

    def __init__(self, max_workloads: int = MAX_WORKLOADS) -> None:
        self.max_workloads = max_workloads
        self._entries: OrderedDict[WorkloadKey, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def failed(self, workload: WorkloadKey, at: float, reason: str) -> CloudBackoff | None:
        """Count a failure at `at`; the new back-off, or None when the current one covers it."""
        entry = self._entries.get(workload)
        backoff = next_backoff(entry.backoff if entry else None, at, reason)
        if backoff is None:
            return None
        self._entries[workload] = _Entry(backoff)
        self._entries.move_to_end(workload)
        while len(self._entries) > self.max_workloads:
            self._entries.popitem(last=False)
        return backoff

    def succeeded(self, workload: WorkloadKey) -> bool:
        """A cloud pod of the workload runs: forget its back-off. True when there was one."""
        return self._entries.pop(workload, None) is not None

    def current(self, workload: WorkloadKey, now: float) -> CloudBackoff | None:
        entry = self._entries.get(workload)
        return entry.backoff if entry is not None and entry.backoff.active(now) else None

    def first_announcement(self, workload: WorkloadKey) -> bool:
        """True once per back-off: the workload's Warning event is recorded once, not per pod."""
        entry = self._entries.get(workload)
        if entry is None or entry.announced:
            return False
        entry.announced = True
        return True

    def announcement_failed(self, workload: WorkloadKey) -> None:
        """The Warning was not recorded: the workload's next refused pod tries again."""
        entry = self._entries.get(workload)
        if entry is not None:
            entry.announced = False


class InstanceOutcomes:
    """Feeds `WorkloadBackoffs` from the bus; `wake(why)` asks for a resync when a back-off ends."""

    def __init__(self, bus: Bus, view: ClusterView, backoffs: WorkloadBackoffs,
                 wake: Callable[[str], None] = lambda why: None, clock: Callable[[], float] = time.time) -> None:
        self.bus = bus
        self.clock = clock
        self.view = view
        self.backoffs = backoffs
        self.wake = wake
        self.undecodable = 0
        self._subs: list[Subscription] = []
        self._timers: dict[WorkloadKey, asyncio.TimerHandle] = {}

    async def start(self) -> None:
        for subject in SUBJECTS:
            self._subs.append(await self.bus.nc.subscribe(subject, cb=self._on_message))

    async def stop(self) -> None:
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # closing anyway: a dead connection has no subscription left
                log.debug("unsubscribe failed", extra={"error": repr(exc)})
        self._subs.clear()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    async def _on_message(self, msg: Msg) -> None:
        """One message; nothing it holds may end the subscription."""
        try:
            event = m.decode_as(m.InstanceEvent, msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.undecodable += 1
            log.warning("undecodable instance event ignored", extra={"subject": msg.subject, "error": str(exc)})
            return
        try:
            await self.apply(event)
        except Exception as exc:
            log.warning("instance event not applied", extra={"pod": f"{event.namespace}/{event.name}",
                                                             "status": event.status, "error": repr(exc)})

    async def apply(self, event: m.InstanceEvent) -> None:
        if event.status not in ("failed", "running"):
            return
        workload = await self.workload_of(event)
        if workload is None:
            log.debug("instance event of an unknown pod", extra={"pod": f"{event.namespace}/{event.name}"})
            return
        if event.status == "running":
            if self.backoffs.succeeded(workload):
                log.info("cloud back-off reset: a cloud pod runs", extra={"workload": str(workload)})
                self.wake("backoff reset")
            return
        if event.reason in NOT_COUNTED:
            return
        at = event.observed_at or self.clock()
        backoff = self.backoffs.failed(workload, at, event.reason)
        if backoff is None:
            return
        log.warning("cloud instances of a workload fail: backing off", extra={
            "workload": str(workload), "reason": event.reason, "failures": backoff.failures,
            "cooldown": backoff.cooldown})
        self._wake_at_end(workload, backoff)

    def _wake_at_end(self, workload: WorkloadKey, backoff: CloudBackoff) -> None:
        loop = asyncio.get_running_loop()
        old = self._timers.pop(workload, None)
        if old is not None:
            old.cancel()
        if len(self._timers) >= self.backoffs.max_workloads:
            return  # the periodic resync still retries the workload's pods when the cool-down ends
        delay = max(0.0, backoff.until - self.clock())
        self._timers[workload] = loop.call_later(delay, self._ended, workload)

    def _ended(self, workload: WorkloadKey) -> None:
        self._timers.pop(workload, None)
        self.wake("backoff ended")

    async def workload_of(self, event: m.InstanceEvent) -> WorkloadKey | None:
        """The pod's workload: from the view while it has the pod (same uid), else from the pod's
        decision record (kept an hour)."""
        pod = self.view.pods.get(f"{event.namespace}/{event.name}")
        if pod is not None and pod.metadata.uid == event.uid:
            return self.view.workload(pod)
        decisions = await self.bus.typed_kv(m.KV_DECISIONS, m.PlacementDecision)
        record = await decisions.get(m.kv_key(event.namespace, event.name))
        if record is None or record.uid != event.uid:
            return None
        try:
            return WorkloadKey.parse(record.workload)
        except ValueError:
            return None
