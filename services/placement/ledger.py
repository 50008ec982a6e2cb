"""Placement's bookkeeping: what the decider has begun, still owes and already reported, per pod.

Why apart from the decider: these rules (when an in-flight decision is over, which bind is owed,
which Event or record is a repeat) are what keeps LOCAL_REPLICAS exact and the reports single;
kept pure (no I/O, no clock) they are tested as tables.

Bounded: an in-flight entry lives from the decision until the view shows its result, its failure
or the pod's deletion; what was reported about a pod goes with the pod. A write arriving after the
pod's deletion (a decision that was awaiting the API meanwhile) is not kept: `gone` holds the uids
of deleted pods (the view's tombstones). Per-workload locks live only while someone holds or
waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Collection, Container, Mapping
from dataclasses import dataclass, field

from spillway.model.kube import PLACEMENT_GATE, Pod
from spillway.policy.local_count import InFlight

Summary = tuple[str, str, str]
"""(outcome, reason, node) of a decision record: a record equal to the last one is not repeated."""


@dataclass
class _Reports:
    events: set[tuple[str, str]] = field(default_factory=set)  # (reason, message) recorded or being recorded
    last: Summary | None = None


class Ledger:
    """Per pod uid: the decision in flight (and its super node), the bind still owed, what was reported.
    Per node: the foreign super nodes already warned about."""

    def __init__(self, gone: Container[str] = frozenset()) -> None:
        self.gone = gone
        self._in_flight: dict[str, InFlight] = {}
        self._in_flight_node: dict[str, str] = {}
        self._unbound: dict[str, str] = {}  # uid → node: patched for the cloud, bind still owed
        self._reports: dict[str, _Reports] = {}
        self._warned_nodes: set[str] = set()

    # ---- decisions in flight --------------------------------------------------------------------

    @property
    def in_flight(self) -> Mapping[str, InFlight]:
        """uid → the decision taken but not yet seen back from the API (what `count_local` adds)."""
        return self._in_flight

    def began(self, uid: str, target: InFlight, node: str | None = None) -> None:
        """A decision is about to be carried out (recorded before the patch, under the workload's lock)."""
        if uid in self.gone:
            return
        self._in_flight[uid] = target
        if target == "cloud" and node is not None:
            self._in_flight_node[uid] = node

    def is_in_flight(self, uid: str) -> bool:
        return uid in self._in_flight

    def pending_binds(self) -> Counter[str]:
        """node → cloud decisions headed there that the view does not show bound yet."""
        return Counter(self._in_flight_node.values())

    def observed(self, pod: Pod) -> None:
        """The view shows the pod: its in-flight decision is over once the result shows (the
        gate gone for local, a node for cloud) or the pod terminates."""
        uid = pod.metadata.uid
        state = self._in_flight.get(uid)
        if state is None:
            return
        if pod.is_terminating() or (state == "local" and not pod.is_gated_by(PLACEMENT_GATE)) or \
                (state == "cloud" and bool(pod.spec.node_name)):
            self.settled(uid)

    def settled(self, uid: str) -> None:
        """The decision is over (seen, refused or the pod not ours any more): nothing in flight, no bind owed."""
        self._in_flight.pop(uid, None)
        self._in_flight_node.pop(uid, None)
        self._unbound.pop(uid, None)

    def forget(self, uid: str) -> None:
        """The pod is deleted: everything remembered about it goes."""
        self.settled(uid)
        self._reports.pop(uid, None)

    # ---- binds this decider owes ----------------------------------------------------------------

    def owe_bind(self, uid: str, node: str) -> None:
        """Patched for `node`: the bind is owed until `bound` (a failed bind is finished on the next decision)."""
        if uid not in self.gone:
            self._unbound[uid] = node

    def bound(self, uid: str) -> None:
        self._unbound.pop(uid, None)

    def owed(self, uid: str) -> str | None:
        return self._unbound.get(uid)

    # ---- reports ----------------------------------------------------------------------------------

    def should_record_event(self, uid: str, reason: str, message: str) -> bool:
        """True once per (pod, reason, message): the caller records the Event, and calls
        `event_not_recorded` when that failed. Claimed before the caller's await, so two
        concurrent decisions of one pod record it once."""
        if uid in self.gone:
            return True  # reported, but nothing kept about a deleted pod
        events = self._reports.setdefault(uid, _Reports()).events
        if (reason, message) in events:
            return False
        events.add((reason, message))
        return True

    def event_not_recorded(self, uid: str, reason: str, message: str) -> None:
        """The Event was refused or failed: a later decision of the pod tries again."""
        reports = self._reports.get(uid)
        if reports is not None:
            reports.events.discard((reason, message))

    def should_publish(self, uid: str, summary: Summary) -> bool:
        """True when the pod's decision record differs from the last one published (then it is the last)."""
        if uid in self.gone:
            return True
        reports = self._reports.setdefault(uid, _Reports())
        if reports.last == summary:
            return False
        reports.last = summary
        return True

    def remembers(self, uid: str) -> bool:
        """Anything at all is kept about the pod."""
        return uid in self._in_flight or uid in self._unbound or uid in self._reports

    # ---- super nodes that are not ours --------------------------------------------------------------

    def foreign_nodes(self, names: Collection[str]) -> None:
        """The foreign super nodes now: one that left and comes back is warned about again."""
        self._warned_nodes.intersection_update(names)

    def should_warn_about(self, node: str) -> bool:
        return node not in self._warned_nodes

    def warned_about(self, node: str) -> None:
        """The node's Warning was recorded (only then: a refused one is tried again)."""
        self._warned_nodes.add(node)


@dataclass
class _Held:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holding or waiting


class WorkloadLocks:
    """One asyncio.Lock per workload, dropped as soon as nobody holds or waits for it."""

    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        held = self._held.get(key)
        if held is None:
            held = self._held[key] = _Held()
        held.users += 1
        try:
            async with held.lock:
                yield
        finally:
            held.users -= 1
            if held.users == 0:
                del self._held[key]
