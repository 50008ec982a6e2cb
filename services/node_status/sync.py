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
from typing import Any

import msgspec

from services.node_status.podstatus import TERMINAL, pod_status
from spillway.cloud import Instance, InstanceProvider, instance_name
from spillway.kube import Conflict, KubeClient, NotFound, pod_path
from spillway.kube.client import collection_path
from spillway.kube.events import EventRecorder, ObjectRef
from spillway.model.kube import Pod

log = logging.getLogger("spillway.node-status.sync")
DAEMONSET_MESSAGE = ("DaemonSet pods cannot run on a super node (each would become a paid cloud instance); "
                     "exclude super nodes with a nodeAffinity on node.kubernetes.io/instance-type NotIn eklet")


class _PodList(msgspec.Struct):
    items: list[Pod] = []


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


def fingerprint(status: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(status, sort_keys=True).encode()).hexdigest()


def is_daemonset(pod: Pod) -> bool:
    ref = pod.metadata.controller_ref()
    return ref is not None and ref.kind == "DaemonSet"


class PodSync:
    """The tracked pods of our super nodes and what `sync_once` does with them."""

    def __init__(self, *, client: KubeClient, provider: InstanceProvider, cluster_id: str,
                 host_ips: Mapping[str, str], recorder: EventRecorder | None = None,
                 clock: Callable[[], float] = time.time,
                 on_running: Callable[[Tracked, Instance], Awaitable[None]] | None = None) -> None:
        self.client = client
        self.provider = provider
        self.cluster_id = cluster_id
        self.host_ips = dict(host_ips)
        self.recorder = recorder
        self.clock = clock
        self.on_running = on_running
        self.tracked: dict[str, Tracked] = {}
        self.unannounced: dict[str, Instance] = {}
        """uid → the instance seen Running, for pods whose running announcement is still owed."""

    # ---- hints --------------------------------------------------------------------------------

    def observe(self, pod: Pod) -> None:
        """A pod view (from the bus or a list) for a pod bound to one of our nodes."""
        if pod.spec.node_name not in self.host_ips:
            return
        uid = pod.metadata.uid
        t = self.tracked.get(uid)
        if t is None:
            t = self.tracked[uid] = Tracked(pod, instance_name(self.cluster_id, uid))
        t.pod = pod
        t.terminating = t.terminating or pod.is_terminating()
        t.terminal = t.terminal or pod.status.phase in TERMINAL

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
        """Replace the tracked set by the pods the API has on our nodes (keeping what we learnt)."""
        seen: set[str] = set()
        for node in self.host_ips:
            raw = await self.client.request("GET", collection_path("v1", "pods"),
                                            params={"fieldSelector": f"spec.nodeName={node}"})
            for pod in msgspec.json.decode(raw, type=_PodList).items:
                seen.add(pod.metadata.uid)
                self.observe(pod)
        for uid in [u for u in self.tracked if u not in seen]:
            self.forget(uid)

    # ---- one round ----------------------------------------------------------------------------

    async def sync_once(self) -> None:
        for t in list(self.tracked.values()):
            if is_daemonset(t.pod) and not t.terminal and not t.terminating:
                await self._fail(t, "DaemonsetForbidden", DAEMONSET_MESSAGE)
        active = [t for t in self.tracked.values() if t.terminating or not t.terminal]
        ids = [t.instance_id for t in active if t.instance_id]
        names = [t.name for t in active if not t.instance_id]
        by_id, by_name = await asyncio.gather(self.provider.describe(ids), self.provider.describe_by_names(names))
        lost_names = [t.name for t in active if t.instance_id and t.instance_id not in by_id]
        if lost_names:  # an id that vanished: make sure no instance of that name is left either
            by_name.update(await self.provider.describe_by_names(lost_names))
        for t in active:
            found = by_id.get(t.instance_id or "") or by_name.get(t.name)
            await self._apply(t, found)

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
            await self.client.patch(pod_path(t.pod.metadata.namespace, t.pod.metadata.name) + "/status",
                                    {"status": status})
        except NotFound:
            self.forget(t.pod.metadata.uid)
            return
        t.fingerprint = fp
        t.terminal = status["phase"] in TERMINAL
        if status["phase"] == "Running" and not t.announced_running and self.on_running is not None:
            self.unannounced[t.pod.metadata.uid] = inst

    async def announce_pending(self) -> None:
        """Send the owed running announcements, oldest first; raises on the first that fails (the
        rest wait for the next round: when one publish fails, the bus is down for all of them)."""
        if self.on_running is None:
            return
        for uid, inst in list(self.unannounced.items()):
            t = self.tracked.get(uid)
            if t is not None and not t.announced_running:
                await self.on_running(t, inst)
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
        patch = {"status": {"phase": "Failed", "reason": reason, "message": message,
                            "conditions": [{"type": "Ready", "status": "False", "reason": reason},
                                           {"type": "ContainersReady", "status": "False", "reason": reason}]}}
        try:
            await self.client.patch(pod_path(meta.namespace, meta.name) + "/status", patch)
        except NotFound:
            self.forget(meta.uid)
            return
        t.terminal = True
        log.warning("pod failed", extra={"pod": t.pod.key, "uid": meta.uid, "reason": reason})
        if self.recorder is not None:
            with contextlib.suppress(NotFound):
                await self.recorder.record(ObjectRef("Pod", meta.namespace, meta.name, meta.uid), "Warning",
                                           reason, message)
