"""A default-scheduler simulation: binds pending pods whose schedulerName is one of ours
(default-scheduler, tke-scheduler by default) to the node `scheduling.schedule` picks, through
the store's binding path, and marks the rest PodScheduled=False (Unschedulable or
SchedulingGated) with the real message, writing the condition only when it changes.

The queue follows kube-scheduler's: new and changed pods go to the active queue; a pod that
does not fit waits in the unschedulable set until something that may help happens (a node
added or changed, a pod deleted or finished), then returns through a per-pod exponential
backoff (1 s doubling to 10 s). Such moves are coalesced to one per loop iteration, status-only
updates of a pending pod (our own condition writes) never requeue it, and a periodic flush
(60 s) catches anything missed, so thousands of pending pods cost one pass per event batch and
nothing when idle. Node accounting (requests, pod count, host ports) is incremental.

Pods bound by someone else (Spillway binds pods to super nodes itself) are simply accounted:
already bound → never scheduled here; a bind that loses the race (409) is dropped quietly.
Not simulated: preemption, pod (anti-)affinity, topology spread, volume binding, preferred
affinity and taint scoring, nominated nodes, multiple profiles.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spillway.sandbox import scheduling
from spillway.sandbox.controllers.base import feed
from spillway.sandbox.errors import ApiError
from spillway.sandbox.scheduling import NodeInfo, Port
from spillway.sandbox.semantics import not_scheduled, rfc3339
from spillway.sandbox.store import Store

if TYPE_CHECKING:
    from spillway.sandbox.server import Sandbox

Obj = dict[str, Any]
PodKey = tuple[str, str]
log = logging.getLogger(__name__)
DEFAULT_SCHEDULER_NAMES = ("default-scheduler", "tke-scheduler")
YIELD_EVERY = 50


@dataclass
class Bound:
    node: str
    requests: dict[str, int]
    ports: list[Port]


class Scheduler:
    def __init__(self, store: Store, names: Sequence[str] = DEFAULT_SCHEDULER_NAMES, *,
                 initial_backoff: float = 1.0, max_backoff: float = 10.0, flush_interval: float = 60.0,
                 events: bool = True, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.names = frozenset(names)
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.flush_interval = flush_interval
        self.events = events
        self.now = monotonic
        self.nodes: dict[str, NodeInfo] = {}
        self._node_shape: dict[str, Any] = {}
        self.bound: dict[PodKey, Bound] = {}
        self.pending: dict[PodKey, Obj] = {}
        self.active: dict[PodKey, None] = {}
        self.unschedulable: dict[PodKey, float] = {}  # key → backoff expiry
        self._backoff: list[tuple[float, PodKey]] = []
        self.attempts: dict[PodKey, int] = {}
        self._move_requested = False
        self._last_flush = self.now()
        self.wake = asyncio.Event()
        self.passes = 0
        self.evaluations = 0

    # ---- events ------------------------------------------------------------------------------

    def on_node(self, type_: str, node: Obj) -> None:
        name = node["metadata"]["name"]
        if type_ == "DELETED":
            self.nodes.pop(name, None)
            self._node_shape.pop(name, None)
            return
        shape = (node.get("spec"), node["metadata"].get("labels"), (node.get("status") or {}).get("allocatable"))
        if self._node_shape.get(name) == shape and name in self.nodes:
            return
        self._node_shape[name] = shape
        info = NodeInfo.from_node(node)
        for b in self.bound.values():
            if b.node == name:
                info.add(b.requests, b.ports)
        self.nodes[name] = info
        self._request_move()

    def on_pod(self, type_: str, pod: Obj) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        key = (meta.get("namespace", ""), meta["name"])
        finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        if type_ == "DELETED" or finished:
            self._unbind(key)
            self._forget(key)
            return
        node = spec.get("nodeName")
        if node:
            self._forget(key)
            if key not in self.bound:
                self._account(key, node, spec)
            return
        if meta.get("deletionTimestamp") or spec.get("schedulerName", "default-scheduler") not in self.names:
            self._forget(key)
            return
        old = self.pending.get(key)
        self.pending[key] = pod
        if old is None or old.get("spec") != spec or old["metadata"].get("labels") != meta.get("labels"):
            self.unschedulable.pop(key, None)
            self.active[key] = None
            self.wake.set()

    def _account(self, key: PodKey, node: str, spec: Obj) -> None:
        bound = Bound(node, scheduling.pod_requests(spec), scheduling.host_ports(spec))
        self.bound[key] = bound
        info = self.nodes.get(node)
        if info is not None:
            info.add(bound.requests, bound.ports)

    def _unbind(self, key: PodKey) -> None:
        bound = self.bound.pop(key, None)
        if bound is not None:
            info = self.nodes.get(bound.node)
            if info is not None:
                info.add(bound.requests, bound.ports, -1)
            self._request_move()

    def _forget(self, key: PodKey) -> None:
        self.pending.pop(key, None)
        self.active.pop(key, None)
        self.unschedulable.pop(key, None)
        self.attempts.pop(key, None)

    def _request_move(self) -> None:
        if self.unschedulable:
            self._move_requested = True
            self.wake.set()

    # ---- the loop ----------------------------------------------------------------------------

    def _requeue(self) -> None:
        now = self.now()
        flush = now - self._last_flush >= self.flush_interval
        if self._move_requested or flush:
            self._move_requested = False
            self._last_flush = now
            for key, expiry in self.unschedulable.items():
                heapq.heappush(self._backoff, (expiry, key))
            self.unschedulable.clear()
        while self._backoff and self._backoff[0][0] <= now:
            _, key = heapq.heappop(self._backoff)
            if key in self.pending:
                self.active[key] = None

    def _next_deadline(self) -> float:
        deadlines = [self._last_flush + self.flush_interval]
        if self._backoff:
            deadlines.append(self._backoff[0][0])
        return max(0.0, min(deadlines) - self.now())

    async def run_once(self) -> None:
        """One pass over the active queue."""
        self._requeue()
        batch = list(self.active)
        self.active.clear()
        self.passes += 1
        for i, key in enumerate(batch):
            pod = self.pending.get(key)
            if pod is not None:
                await self._schedule_one(key, pod)
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self._next_deadline())
            self.wake.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("scheduler pass failed")
                await asyncio.sleep(1)

    async def _schedule_one(self, key: PodKey, pod: Obj) -> None:
        self.evaluations += 1
        spec = pod.get("spec") or {}
        if spec.get("schedulingGates"):
            await self._set_condition(pod, scheduling.GATED_REASON, scheduling.GATED_MESSAGE)
            return
        placement = scheduling.schedule(spec, self.nodes)
        if placement.node is None:
            attempts = self.attempts[key] = self.attempts.get(key, 0) + 1
            delay = min(self.initial_backoff * 2 ** (attempts - 1), self.max_backoff)
            self.unschedulable[key] = self.now() + delay
            if await self._set_condition(pod, "Unschedulable", placement.message):
                await self._event(pod, "Warning", "FailedScheduling", placement.message)
            return
        try:
            await self.store.bind(key[0], key[1], {"metadata": {"name": key[1], "uid": pod["metadata"]["uid"]},
                                                   "target": {"kind": "Node", "name": placement.node}})
        except ApiError as err:
            log.debug("binding %s/%s: %s", key[0], key[1], err.message)
            return
        self._forget(key)
        if key not in self.bound:
            self._account(key, placement.node, spec)
        await self._event(pod, "Normal", "Scheduled",
                          f"Successfully assigned {key[0]}/{key[1]} to {placement.node}")

    async def _set_condition(self, pod: Obj, reason: str, message: str) -> bool:
        """PodScheduled=False with this reason and message, written only when it changes."""
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False" \
                    and cond.get("reason") == reason and cond.get("message") == message:
                return False
        meta = pod["metadata"]
        condition = not_scheduled(reason, message, self.store.clock())
        try:
            await self.store.patch("pods", meta["namespace"], meta["name"], {"status": {"conditions": [condition]}},
                                   "application/strategic-merge-patch+json", subresource="status",
                                   user="system:kube-scheduler")
        except ApiError:
            return False
        return True

    async def _event(self, pod: Obj, type_: str, reason: str, message: str) -> None:
        if not self.events:
            return
        meta = pod["metadata"]
        now = rfc3339(self.store.clock())
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta["namespace"]},
                 "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": meta["namespace"],
                                    "name": meta["name"], "uid": meta.get("uid", "")},
                 "reason": reason, "message": message, "type": type_, "count": 1,
                 "firstTimestamp": now, "lastTimestamp": now, "source": {"component": "default-scheduler"},
                 "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler"}
        try:
            await self.store.create("events", event, namespace=meta["namespace"], user="system:kube-scheduler")
        except ApiError:
            log.debug("event for %s/%s refused", meta["namespace"], meta["name"])


async def run_scheduler(sb: Sandbox, scheduler: Scheduler | None = None) -> None:
    """The `SandboxOptions.controllers` entry: feed nodes then pods, then loop."""
    sched = scheduler or Scheduler(sb.store, sb.options.scheduler_names)
    feeds = [asyncio.create_task(feed(sb.store, "nodes", sched.on_node, sched.wake)),
             asyncio.create_task(feed(sb.store, "pods", sched.on_pod, sched.wake))]
    try:
        await sched.run()
    finally:
        for task in feeds:
            task.cancel()
