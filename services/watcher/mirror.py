"""What the watcher does with each watch event: keep the KV view, publish the change events.

Why one object per cluster view: the pod handler needs the last classification it published per
pod (to publish a bound/terminating event once, not on every status update) and the KV buckets;
everything it writes goes through a KeyedPipeline, so one object's writes stay in order while
thousands of pods are mirrored concurrently. Kubernetes objects are decoded once, with msgspec,
into the slim views of `spillway.model.kube`; those views are what the buckets hold.

Why a backlog per pod and node: the pipeline keeps only the latest job of a key, so what is still
owed for an object lives here: the change events not yet published, in order (a pending kind
seen again replaces its unpublished predecessor: the newest state is the one worth a look), then
the latest state for KV. Each step is isolated: a step no retry can fix (too big, an invalid
key) is reported for that object (`RefusalReporter`) and skipped; the rest still goes out. A
pod that cannot be stored in KV still has its events published, so placement can decide on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec
from opentelemetry import context as otel_context

from services.watcher.classify import classify, message_id, node_fields, signature, view_digest
from services.watcher.pipeline import KeyedPipeline
from services.watcher.report import RefusalReporter
from spillway.bus import Bus, is_permanent
from spillway.bus.kv import is_valid_key
from spillway.kube.reflector import RawEvent
from spillway.model import messages as m
from spillway.model.kube import EKS_CONFIG_NAME, ConfigMap, Node, Pod, decode_node, decode_pod, local_pod_view
from spillway.telemetry import pod_trace_context

log = logging.getLogger("spillway.watcher")
Clock = Callable[[], float]
_configmap_decoder = msgspec.json.Decoder(ConfigMap)
V = TypeVar("V")
_COALESCING_POD_CHANGES = frozenset({"gated", "unschedulable"})


@dataclass
class _Backlog(Generic[V]):
    """What the pipeline still owes one object: (change, state) steps in order, then `latest` for KV."""

    steps: list[tuple[str, V]] = field(default_factory=list)
    latest: V | None = None

    def owe(self, change: str, state: V, coalescing: frozenset[str]) -> None:
        if self.steps and change in coalescing and self.steps[-1][0] == change:
            self.steps[-1] = (change, state)  # not started yet (a running step is popped first)
        else:
            self.steps.append((change, state))


class ClusterMirror:
    """Reflector handlers for pods, nodes, the eks-config ConfigMap and the owner/volume kinds."""

    def __init__(self, bus: Bus, pipeline: KeyedPipeline, clock: Clock = time.time,
                 reporter: RefusalReporter | None = None) -> None:
        self.bus = bus
        self.pipeline = pipeline
        self.clock = clock
        self.reporter = reporter or RefusalReporter()
        self._published: dict[str, tuple[str, str, str, str]] = {}
        self._pods: dict[str, _Backlog[Pod]] = {}
        self._nodes: dict[str, _Backlog[Node]] = {}
        self.local_nodes: set[str] = set()
        """Nodes known not to be super nodes: their pods concern no cloud service (`classify`)."""
        self._counted: dict[str, int] = {}  # pod on a local node → digest of what its bucket entry holds
        self._node_digests: dict[str, int] = {}
        self.published_events = 0
        self.skipped_updates = 0
        """Pod and node updates that changed nothing any consumer reads, so nothing was written."""

    # ---- pods -------------------------------------------------------------------------------

    def is_local(self, pod: Pod) -> bool:
        """Bound to a node known not to be a super node: no cloud service acts on it."""
        return bool(pod.spec.node_name) and pod.spec.node_name in self.local_nodes

    async def on_pod(self, event: RawEvent) -> None:
        """Raises msgspec.DecodeError for a pod that is not a pod (the reflector reports it)."""
        key = event.key
        backlog = self._pods.get(key) or _Backlog[Pod]()
        if event.type == "DELETED":
            pod = _decode_or_tombstone(decode_pod, event.raw, Pod)
            self._published.pop(key, None)
            self._counted.pop(key, None)
            backlog.latest = None
            backlog.owe("forgotten" if self.is_local(pod) else "deleted", pod, frozenset())
        else:
            pod = decode_pod(event.raw)
            change = classify(event.type, pod)
            sig = signature(change, pod)
            local = self.is_local(pod)
            if change is not None and self._published.get(key) != sig and not local:
                backlog.owe(change, pod, _COALESCING_POD_CHANGES)
            self._published[key] = sig
            if local:
                pod = local_pod_view(pod)
                counted = view_digest(pod)
                if self._counted.get(key) == counted and not backlog.steps:
                    self.skipped_updates += 1  # a status flap of a local pod: nobody reads it
                    return
                self._counted[key] = counted
            else:
                self._counted.pop(key, None)
            backlog.latest = pod
        self._pods[key] = backlog
        await self.pipeline.submit(key, lambda: self._flush_pod(key),
                                   report=lambda exc: self._refused("Pod", key, exc))

    async def _flush_pod(self, key: str) -> None:
        backlog = self._pods.get(key)
        if backlog is None:
            return
        while backlog.steps:
            change, pod = backlog.steps.pop(0)
            try:
                if change == "deleted":
                    await self._pod_deleted(key, pod)
                elif change == "forgotten":  # a local pod: out of the bucket, no event
                    if is_valid_key(key):
                        await (await self.bus.typed_kv(m.KV_PODS, Pod)).delete(key)
                else:
                    await self._store(m.KV_PODS, key, m.encode(pod), "Pod", pod.metadata.uid)
                    event = m.PodEvent(change=change, pod=pod, observed_at=self.clock())  # type: ignore[arg-type]
                    await self._publish(event, message_id(change, pod))  # type: ignore[arg-type]
            except Exception as exc:
                if not is_permanent(exc):
                    backlog.steps.insert(0, (change, pod))  # retried first, in order
                    raise
                self._refused("Pod", key, exc, uid=pod.metadata.uid, what=f"its {change} event was not published")
        latest = backlog.latest
        if latest is not None:
            await self._store(m.KV_PODS, key, m.encode(latest), "Pod", latest.metadata.uid)
            if backlog.latest is latest:
                backlog.latest = None
        if not backlog.steps and backlog.latest is None and self._pods.get(key) is backlog:
            del self._pods[key]

    async def _pod_deleted(self, key: str, pod: Pod) -> None:
        """The API sends the last state; a relist tombstone has only the name, so the KV state
        (written before) stands in for it."""
        pods = await self.bus.typed_kv(m.KV_PODS, Pod)
        valid = is_valid_key(key)
        if not pod.metadata.uid and valid:
            pod = await pods.get(key) or pod
        await self._publish(m.PodEvent(change="deleted", pod=pod, observed_at=self.clock()),
                            message_id("deleted", pod))
        if valid:
            await pods.delete(key)

    # ---- nodes ------------------------------------------------------------------------------

    async def on_node(self, event: RawEvent) -> None:
        key = event.key
        backlog = self._nodes.get(key) or _Backlog[Node]()
        if event.type == "DELETED":
            self.local_nodes.discard(key)
            self._node_digests.pop(key, None)
            backlog.owe("deleted", _decode_or_tombstone(decode_node, event.raw, Node), frozenset())
        else:
            node = decode_node(event.raw)
            if node.is_super_node():
                self.local_nodes.discard(key)
            else:
                self.local_nodes.add(key)
            digest = node_fields(node)
            if self._node_digests.get(key) == digest and not backlog.steps:
                self.skipped_updates += 1  # a heartbeat: nothing anyone reads changed
                return
            self._node_digests[key] = digest
            backlog.owe("changed", node, frozenset({"changed"}))
        self._nodes[key] = backlog
        await self.pipeline.submit(key, lambda: self._flush_node(key),
                                   report=lambda exc: self._refused("Node", key, exc))

    async def _flush_node(self, key: str) -> None:
        backlog = self._nodes.get(key)
        if backlog is None:
            return
        while backlog.steps:
            change, node = backlog.steps.pop(0)
            try:
                if change == "deleted":
                    await self._node_deleted(key, node)
                else:
                    await self._node_changed(key, node)
            except Exception as exc:
                if not is_permanent(exc):
                    backlog.steps.insert(0, (change, node))
                    raise
                self._refused("Node", key, exc, uid=node.metadata.uid, what=f"its {change} event was not published")
        if self._nodes.get(key) is backlog:
            del self._nodes[key]

    async def _node_changed(self, key: str, node: Node) -> None:
        await self._store(m.KV_NODES, key, m.encode(node), "Node", node.metadata.uid)
        await self._publish(m.NodeEvent(change="changed", node=node, observed_at=self.clock()),
                            f"{key}:{node.metadata.resource_version}:node")

    async def _node_deleted(self, key: str, node: Node) -> None:
        nodes = await self.bus.typed_kv(m.KV_NODES, Node)
        valid = is_valid_key(key)
        if not node.metadata.uid and valid:
            node = await nodes.get(key) or node
        await self._publish(m.NodeEvent(change="deleted", node=node, observed_at=self.clock()),
                            f"{node.metadata.uid or key}:node-deleted")
        if valid:
            await nodes.delete(key)

    # ---- what cannot be done for one object -------------------------------------------------

    async def _store(self, bucket: str, key: str, data: bytes, kind: str, uid: str = "") -> None:
        """Put the object's latest view; one that KV can never hold is reported, not retried."""
        try:
            await self.bus.kv_put(bucket, key, data)
        except Exception as exc:
            if not is_permanent(exc):
                raise
            self._refused(kind, key, exc, uid=uid, what=f"its state was not stored in {bucket}")

    def _refused(self, kind: str, key: str, exc: BaseException, *, uid: str = "", what: str = "") -> None:
        self.reporter.refuse(kind, key, exc, uid=uid, what=what)

    # ---- the eks-config ConfigMap -----------------------------------------------------------

    async def on_config(self, event: RawEvent) -> None:
        cm = _configmap_decoder.decode(event.raw)
        if cm.metadata.name and cm.metadata.name != EKS_CONFIG_NAME:
            return  # the field selector should make this impossible; never trust a wrong object
        deleted = event.type == "DELETED"
        msg = m.ConfigEvent(data={} if deleted else dict(cm.data), deleted=deleted,
                            resource_version=event.resource_version, observed_at=self.clock())
        msg_id = f"{m.CONFIG_KEY_EKS}:{event.resource_version}" + (":deleted" if deleted else "")
        await self.pipeline.submit(m.CONFIG_KEY_EKS, lambda: self._config_changed(msg, msg_id),
                                   report=lambda exc: self._refused("ConfigMap", m.CONFIG_KEY_EKS, exc))

    async def config_absent(self) -> None:
        """After the first list found no eks-config: if KV still holds one (deleted while the
        watcher was down), record and publish the deletion."""
        configs = await self.bus.typed_kv(m.KV_CONFIG, m.ConfigEvent)
        current = await configs.get(m.CONFIG_KEY_EKS)
        if current is None or current.deleted:
            return
        msg = m.ConfigEvent(data={}, deleted=True, resource_version=current.resource_version,
                            observed_at=self.clock())
        msg_id = f"{m.CONFIG_KEY_EKS}:{current.resource_version}:deleted"
        await self.pipeline.submit(m.CONFIG_KEY_EKS, lambda: self._config_changed(msg, msg_id))

    async def _config_changed(self, msg: m.ConfigEvent, msg_id: str) -> None:
        await self.bus.kv_put(m.KV_CONFIG, m.CONFIG_KEY_EKS, m.encode(msg))
        await self._publish(msg, msg_id)

    # ---- kinds kept only as state (owners, volumes) -----------------------------------------

    def state_only(self, bucket: str, view: type[Any]) -> Callable[[RawEvent], Awaitable[None]]:
        """A handler that mirrors a kind into `bucket` as its slim `view` and publishes nothing."""
        decoder = msgspec.json.Decoder(view)

        kind = view.__name__

        async def handle(event: RawEvent) -> None:
            key = event.key
            report = lambda exc: self._refused(kind, key, exc)  # noqa: E731
            if event.type == "DELETED":
                async def delete() -> None:
                    if is_valid_key(key):  # an invalid key was never stored
                        await (await self.bus.kv(bucket)).delete(key)
                await self.pipeline.submit(f"{bucket}:{key}", delete, report=report)
                return
            data = m.encode(decoder.decode(event.raw))

            async def put() -> None:
                await self.bus.kv_put(bucket, key, data)
            await self.pipeline.submit(f"{bucket}:{key}", put, report=report)

        return handle

    # ---- after the first list: forget what vanished while no watcher ran --------------------

    async def prune(self, bucket: str, live: set[str]) -> int:
        """Remove KV entries whose object no longer exists (deleted while the watcher was down),
        publishing the deleted event for pods and nodes. Returns how many were pruned."""
        try:
            keys = await (await self.bus.typed_kv(bucket)).keys()
        except Exception as exc:  # the bus failed: the next start prunes instead, the watcher still starts
            log.warning("could not list the bucket to prune it", extra={"bucket": bucket, "error": repr(exc)[:300]})
            return 0
        gone = [k for k in keys if k not in live]
        for key in gone:
            if bucket == m.KV_PODS:
                await self.on_pod(RawEvent("DELETED", key, "", _tombstone_bytes(key)))
            elif bucket == m.KV_NODES:
                await self.on_node(RawEvent("DELETED", key, "", _tombstone_bytes(key)))
            else:
                await self.pipeline.submit(f"{bucket}:{key}", self._pruner(bucket, key))
        if gone:
            log.info("pruned objects deleted while away", extra={"bucket": bucket, "count": len(gone)})
        return len(gone)

    def _pruner(self, bucket: str, key: str) -> Callable[[], Awaitable[None]]:
        async def prune_one() -> None:
            await (await self.bus.kv(bucket)).delete(key)
        return prune_one

    async def _publish(self, msg: m.Message, msg_id: str) -> None:
        if isinstance(msg, m.PodEvent) and msg.pod.metadata.uid:
            # every service's work for this pod joins one trace (its uid), hop by hop from here
            token = otel_context.attach(pod_trace_context(msg.pod.metadata.uid))
            try:
                await self.bus.publish(msg, msg_id=msg_id)
            finally:
                otel_context.detach(token)
        else:
            await self.bus.publish(msg, msg_id=msg_id)
        self.published_events += 1


def _decode_or_tombstone(decode: Callable[[bytes], V], raw: bytes, view: type[V]) -> V:
    """A deleted object's last state, or an empty view when it does not decode: it is gone all
    the same, and the KV state (keyed by name) stands in for it."""
    try:
        return decode(raw)
    except msgspec.DecodeError:
        return view()


def _tombstone_bytes(key: str) -> bytes:
    namespace, _, name = key.rpartition("/")
    return msgspec.json.encode({"metadata": {"name": name, **({"namespace": namespace} if namespace else {})}})
