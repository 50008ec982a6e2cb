"""A fake kubelet (kwok-style stages) for the sandbox's own nodes only — those carrying
`sandbox.spillway.io/managed: "true"` (topology.py). Super nodes and any other node are never
touched: their pods belong to Spillway's node-status.

Per managed node: Ready condition (set once when missing), a Lease in `kube-node-lease`
renewed every `lease_interval`. Per pod bound there: Pending → Running after `start_delay`
(podIP from the node's 10.244.N.0/24, hostIP, containerStatuses running/ready, Initialized/
Ready/ContainersReady/PodScheduled, startTime); Job pods (controller kind Job) → Succeeded with
exit code 0 after `job_duration`; a graceful deletion is finished after `delete_delay` (at most
the grace period) by DELETE with grace 0 and the uid precondition, like status_manager.go.
Waiting goes through an injectable `sleep`, so tests can run with zero delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from spillway.sandbox.controllers.base import feed
from spillway.sandbox.errors import ApiError
from spillway.sandbox.semantics import rfc3339
from spillway.sandbox.store import Store
from spillway.sandbox.topology import POD_CIDR_ANNOTATION, is_managed

if TYPE_CHECKING:
    from spillway.sandbox.server import Sandbox

Obj = dict[str, Any]
Sleep = Callable[[float], Awaitable[None]]
log = logging.getLogger(__name__)
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION = 40
SMP = "application/strategic-merge-patch+json"


def micro_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class ManagedNode:
    name: str
    host_ip: str
    network: ipaddress.IPv4Network
    used: dict[str, str] = field(default_factory=dict)  # pod uid → ip

    def allocate(self, uid: str) -> str:
        if uid in self.used:
            return self.used[uid]
        taken = set(self.used.values())
        for host in list(self.network.hosts())[1:]:
            ip = str(host)
            if ip not in taken:
                self.used[uid] = ip
                return ip
        raise RuntimeError(f"node {self.name}: pod range {self.network} exhausted")


class FakeKubelet:
    def __init__(self, store: Store, *, start_delay: float = 0.5, job_duration: float = 1.0,
                 delete_delay: float | None = None, lease_interval: float = 10.0,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.store = store
        self.start_delay = start_delay
        self.job_duration = job_duration
        self.delete_delay = start_delay if delete_delay is None else delete_delay
        self.lease_interval = lease_interval
        self.sleep = sleep
        self.nodes: dict[str, ManagedNode] = {}
        self._staged: set[tuple[str, str]] = set()  # (pod uid, stage)
        self._tasks: set[asyncio.Task[None]] = set()
        self._lease_wake = asyncio.Event()

    # ---- events ------------------------------------------------------------------------------

    def on_node(self, type_: str, node: Obj) -> None:
        name = node["metadata"]["name"]
        if type_ == "DELETED" or not is_managed(node):
            self.nodes.pop(name, None)
            return
        if name not in self.nodes:
            self.nodes[name] = self._managed(node)
            self._lease_wake.set()
            self._spawn(self._ensure_ready(name))

    def _managed(self, node: Obj) -> ManagedNode:
        status = node.get("status") or {}
        addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
        cidr = ((node["metadata"].get("annotations") or {}).get(POD_CIDR_ANNOTATION)
                or (node.get("spec") or {}).get("podCIDR") or f"10.244.{len(self.nodes) + 100}.0/24")
        return ManagedNode(node["metadata"]["name"], str(addresses.get("InternalIP") or "127.0.0.1"),
                           ipaddress.IPv4Network(cidr, strict=False))

    def on_pod(self, type_: str, pod: Obj) -> None:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        node = self.nodes.get(spec.get("nodeName") or "")
        if node is None:
            return
        uid = meta.get("uid", "")
        if type_ == "DELETED":
            node.used.pop(uid, None)
            self._staged -= {(uid, "start"), (uid, "complete"), (uid, "delete")}
            return
        if status.get("podIP") and not spec.get("hostNetwork"):
            node.used.setdefault(uid, status["podIP"])
        phase = status.get("phase")
        if meta.get("deletionTimestamp"):
            grace = float(meta.get("deletionGracePeriodSeconds") or 0)
            self._stage(uid, "delete", min(self.delete_delay, grace), self._finish_deletion(pod))
        elif phase == "Pending":
            self._stage(uid, "start", self.start_delay, self._start(pod, node))
        elif phase == "Running" and _owner_kind(pod) == "Job":
            self._stage(uid, "complete", self.job_duration, self._complete(pod))

    def _stage(self, uid: str, stage: str, delay: float, action: Awaitable[None]) -> None:
        if (uid, stage) in self._staged:
            if asyncio.iscoroutine(action):
                action.close()
            return
        self._staged.add((uid, stage))
        self._spawn(self._after(delay, action))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after(self, delay: float, action: Awaitable[None]) -> None:
        if delay > 0:
            await self.sleep(delay)
        try:
            await action
        except ApiError as err:
            log.debug("kubelet: %s", err.message)

    # ---- stages ------------------------------------------------------------------------------

    def _current(self, pod: Obj) -> Obj | None:
        meta = pod["metadata"]
        current = self.store.try_get("pods", meta["namespace"], meta["name"])
        if current is None or current["metadata"].get("uid") != meta.get("uid"):
            return None
        return current

    async def _start(self, pod: Obj, node: ManagedNode) -> None:
        current = self._current(pod)
        if current is None or current["metadata"].get("deletionTimestamp") \
                or (current.get("status") or {}).get("phase") != "Pending":
            return
        spec = current.get("spec") or {}
        uid = current["metadata"]["uid"]
        ip = node.host_ip if spec.get("hostNetwork") else node.allocate(uid)
        status = running_status(spec, uid, node.host_ip, ip, rfc3339(self.store.clock()))
        await self._patch_status(current, status)

    async def _complete(self, pod: Obj) -> None:
        current = self._current(pod)
        if current is None or (current.get("status") or {}).get("phase") != "Running":
            return
        now = rfc3339(self.store.clock())
        containers = []
        for c in (current.get("status") or {}).get("containerStatuses") or []:
            started = ((c.get("state") or {}).get("running") or {}).get("startedAt", now)
            containers.append({**c, "ready": False, "started": False, "state": {"terminated": {
                "exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": now,
                "containerID": c.get("containerID")}}})
        status = {"phase": "Succeeded", "containerStatuses": containers,
                  "conditions": [_cond("Ready", "False", now, "PodCompleted"),
                                 _cond("ContainersReady", "False", now, "PodCompleted")]}
        await self._patch_status(current, status)

    async def _finish_deletion(self, pod: Obj) -> None:
        current = self._current(pod)
        if current is None:
            return
        meta = current["metadata"]
        await self.store.delete("pods", meta["namespace"], meta["name"], grace_period_seconds=0,
                                preconditions={"uid": meta["uid"]})

    async def _patch_status(self, pod: Obj, status: Obj) -> None:
        meta = pod["metadata"]
        await self.store.patch("pods", meta["namespace"], meta["name"], {"status": status}, SMP,
                               subresource="status", user=f"system:node:{pod['spec'].get('nodeName', '')}")

    async def _ensure_ready(self, name: str) -> None:
        node = self.store.try_get("nodes", None, name)
        if node is None:
            return
        ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
        if ready is not None and ready.get("status") == "True":
            return
        now = rfc3339(self.store.clock())
        cond = {"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}
        await self.store.patch("nodes", None, name, {"status": {"conditions": [cond]}}, SMP, subresource="status",
                               user=f"system:node:{name}")

    # ---- leases ------------------------------------------------------------------------------

    async def renew_leases(self) -> None:
        """One round of every node's lease. Each renewal lets the server answer in between: the
        store's writes do not suspend, so 500 nodes renewed in one go stopped the API for 150 ms
        (real kubelets renew independently)."""
        for name in list(self.nodes):
            await asyncio.sleep(0)
            now = micro_time(self.store.clock())
            lease = self.store.try_get("leases", LEASE_NAMESPACE, name)
            try:
                if lease is None:
                    node = self.store.try_get("nodes", None, name)
                    owner = [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}] \
                        if node else []
                    await self.store.create("leases", {
                        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": name, "namespace": LEASE_NAMESPACE, "ownerReferences": owner},
                        "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION, "renewTime": now}},
                        namespace=LEASE_NAMESPACE, user=f"system:node:{name}")
                else:
                    await self.store.patch("leases", LEASE_NAMESPACE, name, {"spec": {"renewTime": now}},
                                           "application/merge-patch+json", user=f"system:node:{name}")
            except ApiError as err:
                log.debug("lease %s: %s", name, err.message)

    async def lease_loop(self) -> None:
        while True:
            await self.renew_leases()
            self._lease_wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lease_wake.wait(), self.lease_interval)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def running_status(spec: Obj, uid: str, host_ip: str, pod_ip: str, now: str) -> Obj:
    """The status a kubelet reports once the pod's containers run (and its init containers ran)."""
    containers = [{"name": c["name"], "image": c.get("image", ""), "imageID": _image_id(c.get("image", "")),
                   "containerID": _container_id(uid, c["name"]), "ready": True, "started": True,
                   "restartCount": 0, "state": {"running": {"startedAt": now}}}
                  for c in spec.get("containers") or []]
    status: Obj = {
        "phase": "Running", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}], "startTime": now, "containerStatuses": containers,
        "conditions": [_cond("PodReadyToStartContainers", "True", now), _cond("Initialized", "True", now),
                       _cond("Ready", "True", now), _cond("ContainersReady", "True", now),
                       _cond("PodScheduled", "True", now)],
    }
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [
            {"name": c["name"], "image": c.get("image", ""), "imageID": _image_id(c.get("image", "")),
             "containerID": _container_id(uid, c["name"]), "ready": True, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now,
                                      "finishedAt": now}}} for c in spec["initContainers"]]
    return status


def _owner_kind(pod: Obj) -> str:
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("kind", ""))
    return ""


def _cond(type_: str, status: str, now: str, reason: str | None = None) -> Obj:
    cond: Obj = {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": now}
    if reason:
        cond["reason"] = reason
    return cond


def _image_id(image: str) -> str:
    digest = hashlib.sha256(image.encode()).hexdigest()
    name = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{name}@sha256:{digest}"


def _container_id(uid: str, name: str) -> str:
    return "containerd://" + hashlib.sha256(f"{uid}/{name}".encode()).hexdigest()


async def run_kubelet(sb: Sandbox, kubelet: FakeKubelet | None = None) -> None:
    """The `SandboxOptions.controllers` entry."""
    opts = sb.options
    k = kubelet or FakeKubelet(sb.store, start_delay=opts.kubelet_delay, job_duration=opts.kubelet_job_duration,
                               lease_interval=opts.kubelet_lease_interval)
    wake = asyncio.Event()
    tasks = [asyncio.create_task(feed(sb.store, "nodes", k.on_node, wake))]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(feed(sb.store, "pods", k.on_pod, wake)))
    try:
        await k.lease_loop()
    finally:
        for task in tasks:
            task.cancel()
        await k.close()
