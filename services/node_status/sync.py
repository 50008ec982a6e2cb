"""Pod status from instance status, deletions finished, and pods that can never run failed.

Level-triggered: bus events (bound, terminating, deleted, instance created/deleted) only add
hints to the tracked set; every `statusSyncSeconds` one batched describe of all tracked instances
(≤ 100 ids a call, through the provider's batcher) decides, and every `resyncSeconds` the pods
on the super nodes are listed from the API, so a missed event costs latency, never correctness.

A conclusion that the instance is gone is drawn only from a describe that succeeded, and is
checked twice (by id, then by name) before a running pod is failed with `InstanceLost`.

Status never waits on the bus: a pod seen Running for the first time is queued for its
`spillway.instance.running` announcement, which `announce_pending` (its own loop) publishes, so a
NATS outage delays announcements, not pod status or finished deletions.

One pod never stops the others: each pod's step of a round (its status patch, its final delete,
failing it) runs on its own. A failure is logged, counted, and backs that pod off for a growing
number of rounds, so a pod the API keeps refusing (too large to store with its status, invalid
metadata) costs one call now and then, not one per round, and the pods that work go first. A
refusal no retry can fix is also told on the pod, once, as a `PodUpdateRefused` Warning event.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import msgspec

from services.node_status.metrics import POD_STEP_FAILURES, UNDECODABLE_PODS
from services.node_status.podstatus import pod_status
from spillway.bus import is_permanent
from spillway.cloud import Instance, InstanceNaming, InstanceProvider
from spillway.kube import Conflict, KubeClient, KubeError, NotFound, pod_path
from spillway.kube.client import collection_path
from spillway.kube.events import EventRecorder, ObjectRef
from spillway.loops.periodic import describe_error
from spillway.model.kube import FINISHED_PHASES, Pod, decode_pod, decode_pod_list, raw_uid
from spillway.policy.patches import failed_status_patch
from spillway.policy.rules.daemonset import REASON as DAEMONSET_FORBIDDEN

log = logging.getLogger("spillway.node-status.sync")
DAEMONSET_MESSAGE = ("DaemonSet pods cannot run on a super node (each would become a paid cloud instance); "
                     "exclude super nodes with a nodeAffinity on node.kubernetes.io/instance-type NotIn eklet")
POD_UPDATE_REFUSED = "PodUpdateRefused"
"""Warning event reason: the API server refuses node-status's write to this pod, for good."""
MAX_SKIPPED_ROUNDS = 64
"""A failing pod is retried after 1, 2, 4… rounds, at most this many."""


def is_refusal(exc: BaseException) -> bool:
    """True when the API server will answer the same to the same write: a 4xx other than 408/429,
    etcd's "request is too large" (a 500 that no retry heals), an object that does not decode."""
    if isinstance(exc, KubeError):
        return (400 <= exc.status < 500 and exc.status not in (408, 429)) or "request is too large" in exc.message
    return isinstance(exc, msgspec.DecodeError)


@dataclass
class Tracked:
    pod: Pod
    name: str
    """The deterministic instance name."""
    instance_id: str | None = None
    seen_instance: bool = False
    fingerprint: str = ""
    terminal: bool = False
    terminating: bool = False
    announced_running: bool = False
    failures: int = 0
    """Consecutive failed steps of this pod; it sits out rounds until `next_round`."""
    next_round: int = 0
    refusal_reported: bool = False


def fingerprint(status: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(status, sort_keys=True).encode()).hexdigest()


class PodSync:
    """The tracked pods of our super nodes and what `sync_once` does with them."""

    def __init__(self, *, client: KubeClient, provider: InstanceProvider, naming: InstanceNaming,
                 host_ips: Mapping[str, str], recorder: EventRecorder | None = None,
                 clock: Callable[[], float] = time.time,
                 on_running: Callable[[Tracked, Instance], Awaitable[None]] | None = None) -> None:
        self.client = client
        self.provider = provider
        self.naming = naming
        self.host_ips = dict(host_ips)
        self.recorder = recorder
        self.clock = clock
        self.on_running = on_running
        self.tracked: dict[str, Tracked] = {}
        self.unannounced: dict[str, Instance] = {}
        """uid → the instance seen Running, for pods whose running announcement is still owed."""
        self.rounds = 0

    # ---- hints --------------------------------------------------------------------------------

    def observe(self, pod: Pod) -> None:
        """A pod view (from the bus or a list) for a pod bound to one of our nodes."""
        if pod.spec.node_name not in self.host_ips:
            return
        uid = pod.metadata.uid
        t = self.tracked.get(uid)
        if t is None:
            t = self.tracked[uid] = Tracked(pod, self.naming.name(uid))
        t.pod = pod
        t.terminating = t.terminating or pod.is_terminating()
        t.terminal = t.terminal or pod.is_finished()

    def instance_created(self, uid: str, instance_id: str) -> None:
        t = self.tracked.get(uid)
        if t is not None and instance_id:
            t.instance_id = instance_id

    def instance_failed(self, uid: str) -> None:
        t = self.tracked.get(uid)
        if t is not None:
            t.terminal = True  # the provisioner failed the pod; nothing will run it

    def forget(self, uid: str) -> None:
        self.tracked.pop(uid, None)
        self.unannounced.pop(uid, None)

    async def resync(self) -> None:
        """Replace the tracked set by the pods the API has on our nodes (keeping what we learnt).

        Per node and per pod: a node whose list fails keeps its tracked pods (raised after the
        other nodes are done), and a pod that does not decode is kept as last seen (all of its
        node's pods are, when not even its uid can be read)."""
        seen: set[str] = set()
        unlisted: set[str] = set()
        errors: list[Exception] = []
        for node in self.host_ips:
            try:
                raw = await self.client.request("GET", collection_path("v1", "pods"),
                                                params={"fieldSelector": f"spec.nodeName={node}"})
                items = decode_pod_list(raw).items
            except Exception as exc:
                unlisted.add(node)
                errors.append(exc)
                continue
            for item in items:
                try:
                    pod = decode_pod(item)
                except msgspec.DecodeError as exc:
                    uid = raw_uid(item)
                    seen.add(uid)
                    if not uid:  # which tracked pod it is cannot be told: keep all of this node's
                        unlisted.add(node)
                    UNDECODABLE_PODS.inc()
                    log.warning("pod not decodable; kept as last seen", extra={
                        "node": node, "uid": uid, "error": describe_error(exc)})
                    continue
                seen.add(pod.metadata.uid)
                self.observe(pod)
        for uid in [u for u, t in self.tracked.items() if u not in seen and t.pod.spec.node_name not in unlisted]:
            self.forget(uid)
        if errors:
            raise errors[0]

    # ---- one round ----------------------------------------------------------------------------

    async def sync_once(self) -> None:
        self.rounds += 1
        for t in list(self.tracked.values()):
            if t.pod.is_daemonset_pod() and not t.terminal and not t.terminating and self._due(t):
                await self._isolated(t, "fail", partial(self._fail, t, DAEMONSET_FORBIDDEN, DAEMONSET_MESSAGE))
        # pods that keep failing go last: a slow refusal never delays the pods that work
        active = sorted((t for t in self.tracked.values() if (t.terminating or not t.terminal) and self._due(t)),
                        key=lambda t: t.failures)
        ids = [t.instance_id for t in active if t.instance_id]
        names = [t.name for t in active if not t.instance_id]
        by_id, by_name = await asyncio.gather(self.provider.describe(ids), self.provider.describe_by_names(names))
        lost_names = [t.name for t in active if t.instance_id and t.instance_id not in by_id]
        if lost_names:  # an id that vanished: make sure no instance of that name is left either
            by_name.update(await self.provider.describe_by_names(lost_names))
        for t in active:
            found = by_id.get(t.instance_id or "") or by_name.get(t.name)
            await self._isolated(t, "deletion" if t.terminating else "status", partial(self._apply, t, found))

    def _due(self, t: Tracked) -> bool:
        return t.next_round <= self.rounds

    async def _isolated(self, t: Tracked, step: str, work: Callable[[], Awaitable[None]]) -> None:
        """One pod's step: its failure is logged, counted and backed off (in rounds), and never
        reaches the round, so the other pods go on."""
        try:
            await work()
        except Exception as exc:
            t.failures += 1
            t.next_round = self.rounds + min(2 ** min(t.failures - 1, 30), MAX_SKIPPED_ROUNDS)
            POD_STEP_FAILURES.labels(step).inc()
            refused = is_refusal(exc)
            log.warning("pod step failed; the other pods go on", extra={
                "pod": t.pod.key, "uid": t.pod.metadata.uid, "step": step, "failures": t.failures,
                "refused": refused, "retry_in_rounds": t.next_round - self.rounds, "error": describe_error(exc)})
            if refused and not t.refusal_reported:
                t.refusal_reported = await self._report_refusal(t, step, exc)
        else:
            t.failures, t.next_round = 0, 0

    async def _report_refusal(self, t: Tracked, step: str, exc: Exception) -> bool:
        """One Warning event on the pod; best effort (False when it could not be recorded)."""
        if self.recorder is None:
            return False
        what = {"status": "write the pod's status from its cloud instance",
                "deletion": "remove the pod once its cloud instance was gone",
                "fail": "mark the pod Failed"}.get(step, step)
        answer = f"{exc.status} {exc.message}" if isinstance(exc, KubeError) else describe_error(exc)
        message = (f"node-status could not {what}: the API server answered {answer[:300]}; "
                   "it retries with a growing pause. Make the pod smaller or fix what the answer names, "
                   "or delete the pod")
        meta = t.pod.metadata
        try:
            return await self.recorder.record(ObjectRef("Pod", meta.namespace, meta.name, meta.uid), "Warning",
                                              POD_UPDATE_REFUSED, message)
        except Exception as record_exc:
            log.warning("could not record the refusal event", extra={"pod": t.pod.key,
                                                                     "error": describe_error(record_exc)})
            return False

    async def _apply(self, t: Tracked, inst: Instance | None) -> None:
        if inst is not None:
            t.instance_id, t.seen_instance = inst.id, True
        if t.terminating:
            if inst is None:
                await self._finish_deletion(t)
            return
        if inst is None:
            if t.seen_instance:
                await self._instance_lost(t)
            return
        status = pod_status(t.pod, inst, self.host_ips[t.pod.spec.node_name])
        fp = fingerprint(status)
        if fp == t.fingerprint:
            return
        try:
            await self.client.patch_pod_status(t.pod.metadata.namespace, t.pod.metadata.name, {"status": status},
                                               uid=t.pod.metadata.uid)
        except NotFound:
            self.forget(t.pod.metadata.uid)
            return
        t.fingerprint = fp
        t.terminal = status["phase"] in FINISHED_PHASES
        if status["phase"] == "Running" and not t.announced_running and self.on_running is not None:
            self.unannounced[t.pod.metadata.uid] = inst

    async def announce_pending(self) -> None:
        """Send the owed running announcements, oldest first; raises on the first that fails for
        a reason that may pass (the rest wait for the next round: when one publish fails, the bus
        is down for all of them). One that can never be sent is dropped, logged, and skipped."""
        if self.on_running is None:
            return
        for uid, inst in list(self.unannounced.items()):
            t = self.tracked.get(uid)
            if t is not None and not t.announced_running:
                try:
                    await self.on_running(t, inst)
                except Exception as exc:
                    if not is_permanent(exc):
                        raise
                    POD_STEP_FAILURES.labels("announcement").inc()
                    log.warning("running announcement dropped: the bus can never carry it", extra={
                        "pod": t.pod.key, "uid": uid, "error": describe_error(exc)})
                t.announced_running = True
            self.unannounced.pop(uid, None)

    async def _finish_deletion(self, t: Tracked) -> None:
        """The instance is gone: remove the pod for good (grace 0, only this incarnation)."""
        meta = t.pod.metadata
        with contextlib.suppress(NotFound, Conflict):
            await self.client.delete(pod_path(meta.namespace, meta.name), grace_seconds=0, uid=meta.uid)
            log.info("pod deletion finished", extra={"pod": t.pod.key, "uid": meta.uid})
        self.forget(meta.uid)

    async def _instance_lost(self, t: Tracked) -> None:
        """Re-read the pod first: an instance deleted because the pod is terminating is not lost."""
        meta = t.pod.metadata
        try:
            fresh = await self.client.get_as(pod_path(meta.namespace, meta.name), Pod)
        except NotFound:
            self.forget(meta.uid)
            return
        if fresh.metadata.uid != meta.uid:
            self.forget(meta.uid)
            return
        self.observe(fresh)
        if t.terminating:
            await self._finish_deletion(t)
        elif not t.terminal:
            await self._fail(t, "InstanceLost", f"the cloud container instance {t.instance_id} no longer exists; "
                                                "its controller will replace the pod")

    async def _fail(self, t: Tracked, reason: str, message: str) -> None:
        meta = t.pod.metadata
        try:
            await self.client.patch_pod_status(meta.namespace, meta.name, failed_status_patch(reason, message),
                                               uid=meta.uid)
        except NotFound:
            self.forget(meta.uid)
            return
        t.terminal = True
        log.warning("pod failed", extra={"pod": t.pod.key, "uid": meta.uid, "reason": reason})
        if self.recorder is not None:
            with contextlib.suppress(NotFound):
                await self.recorder.record(ObjectRef("Pod", meta.namespace, meta.name, meta.uid), "Warning",
                                           reason, message)
