"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does.

One active replica (placement's decision-maker, cloud-provisioner's GC, node-status), the
others stand by and take over once the lease expires (default 15 s). Optimistic concurrency
on the Lease's resourceVersion is the only lock; the clock is injected for tests.

`run()` keeps the lease; `while_leading(fn)` is the leader-scoped work (client-go's
OnStartedLeading/OnStoppedLeading): `fn` runs while this replica holds the lease, is cancelled
when it is lost, and starts again when it is regained.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from spillway.kube.client import KubeClient, collection_path, object_path
from spillway.kube.errors import Conflict, KubeError, NotFound
from spillway.loops import SYSTEM_CLOCK, Clock
from spillway.telemetry.metrics import LEADER

log = logging.getLogger(__name__)


def leader_identity() -> str:
    """Who holds a lease: the pod's name (POD_NAME, else the host name), the pid and a random
    suffix, so two replicas, or two electors in one process (tests), never share an identity."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def micro_time(epoch: float) -> str:
    """MicroTime as the API writes it: `2026-01-01T00:00:00.000000Z`."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str | None) -> float:
    if not text:
        return 0.0
    text = text.rstrip("Z")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in text else "%Y-%m-%dT%H:%M:%S"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp()


@dataclass
class LeaderElector:
    """Acquire and renew `namespace/name`; `is_leader` tells whether this replica may act."""

    client: KubeClient
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_period: float = 2.0
    renew_deadline: float | None = None
    """A leader that has not renewed for this long stops acting, before its lease can expire and a
    standby take it (client-go: 10 s of a 15 s lease); default two thirds of `lease_duration`."""
    clock: Clock = SYSTEM_CLOCK
    is_leader: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    """Set (and replaced by a fresh one) at every change of `is_leader`."""
    _last_ok: float = field(default=0.0, init=False, repr=False)
    """clock.monotonic() of the last successful renewal."""

    @property
    def _path(self) -> str:
        return object_path("coordination.k8s.io/v1", "leases", self.name, self.namespace)

    def _spec(self, now: float, transitions: int, acquire_time: str | None) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "acquireTime": acquire_time or micro_time(now),
            "renewTime": micro_time(now),
            "leaseTransitions": transitions,
        }

    async def try_acquire_or_renew(self) -> bool:
        """One round: True when we hold the lease afterwards."""
        now = self.clock.time()
        try:
            lease = await self.client.get_as(self._path, dict[str, Any])
        except NotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(now, 0, None),
            }
            try:
                await self.client.request(
                    "POST", collection_path("coordination.k8s.io/v1", "leases", self.namespace), body=body
                )
                return True
            except Conflict:
                return False
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        renewed = parse_micro_time(spec.get("renewTime"))
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        if holder and holder != self.identity and now < renewed + duration:
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if holder == self.identity else 1)
        acquire = spec.get("acquireTime") if holder == self.identity else None
        lease["spec"] = self._spec(now, transitions, acquire)
        try:
            await self.client.request("PUT", self._path, body=lease)
            return True
        except Conflict:
            return False

    def _set(self, leading: bool) -> None:
        LEADER.labels(self.name).set(1 if leading else 0)
        if leading != self.is_leader:
            self.is_leader = leading
            log.info("leadership changed", extra={"lease": f"{self.namespace}/{self.name}", "leader": leading})
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    async def run(self) -> None:
        """Forever: renew while leading, retry while standing by. Cancel to stop (the lease then
        expires on its own; call `release()` first for a fast hand-over)."""
        deadline = self.renew_deadline if self.renew_deadline is not None else self.lease_duration * 2 / 3
        while True:
            try:
                async with asyncio.timeout(deadline):  # a hanging API call must not outlast the deadline
                    self._set(await self.try_acquire_or_renew())
            except (TimeoutError, KubeError, OSError) as exc:
                log.warning("lease round failed", extra={"error": str(exc)})
                if self.is_leader and self.clock.monotonic() >= self._last_ok + deadline:
                    self._set(False)
            else:
                if self.is_leader:
                    self._last_ok = self.clock.monotonic()
            await self.clock.sleep(self.renew_period)

    async def release(self) -> None:
        """Give the lease up on graceful shutdown so a standby takes over at once."""
        if not self.is_leader:
            return
        try:
            lease = await self.client.get_as(self._path, dict[str, Any])
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["renewTime"] = micro_time(0)
                lease["spec"]["holderIdentity"] = ""
                await self.client.request("PUT", self._path, body=lease)
        except (KubeError, OSError):
            pass
        self._set(False)

    async def wait_until_leader(self) -> None:
        await self._wait_until(True)

    async def wait_until_follower(self) -> None:
        await self._wait_until(False)

    async def _wait_until(self, leading: bool) -> None:
        while self.is_leader is not leading:
            await self._changed.wait()

    async def while_leading(self, fn: Callable[[], Awaitable[object]]) -> None:
        """Until cancelled: run `fn()` whenever this replica holds the lease, cancelling it as soon
        as the lease is lost. Needs `run()` going (another task keeps the lease).

        `fn` that returns has finished this term's work: it starts again at the next term. `fn` that
        raises ends `while_leading` with that error (a supervisor restarts it, with backoff)."""
        lease = f"{self.namespace}/{self.name}"

        async def term() -> None:
            await fn()

        while True:
            await self.wait_until_leader()
            work = asyncio.create_task(term(), name=f"leading:{lease}")
            lost = asyncio.create_task(self.wait_until_follower())
            try:
                await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (work, lost):
                    task.cancel()
                await asyncio.gather(work, lost, return_exceptions=True)
            if not work.cancelled() and (error := work.exception()) is not None:
                raise error
            if lost.cancelled():  # the work ended first: the rest of this term has nothing to run
                await self.wait_until_follower()
            log.info("leadership lost: leader-scoped work stopped", extra={"lease": lease})
