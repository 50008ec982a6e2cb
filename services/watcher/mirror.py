"""What the watcher does with each watch event: keep the KV view, publish the change events.

Why one object per cluster view: the pod handler needs the last classification it published per
pod (to publish a bound/terminating event once, not on every status update) and the KV buckets;
everything it writes goes through a KeyedPipeline, so one object's writes stay in order while
thousands of pods are mirrored concurrently. Kubernetes objects are decoded once, with msgspec,
into the slim views of `spillway.model.kube`; those views are what the buckets hold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from opentelemetry import context as otel_context

from services.watcher.classify import classify, message_id, signature
from services.watcher.pipeline import KeyedPipeline
from spillway.bus import Bus
from spillway.kube.reflector import RawEvent
from spillway.model import messages as m
from spillway.model.kube import EKS_CONFIG_NAME, ConfigMap, Node, Pod, decode_node, decode_pod
from spillway.telemetry import pod_trace_context

log = logging.getLogger("spillway.watcher")
Clock = Callable[[], float]
_configmap_decoder = msgspec.json.Decoder(ConfigMap)


class ClusterMirror:
    """Reflector handlers for pods, nodes, the eks-config ConfigMap and the owner/volume kinds."""

    def __init__(self, bus: Bus, pipeline: KeyedPipeline, clock: Clock = time.time) -> None:
        self.bus = bus
        self.pipeline = pipeline
        self.clock = clock
        self._published: dict[str, tuple[str, str, str, str]] = {}
        self.published_events = 0

    # ---- pods -------------------------------------------------------------------------------

    async def on_pod(self, event: RawEvent) -> None:
        key = event.key
        pod = decode_pod(event.raw)
        if event.type == "DELETED":
            self._published.pop(key, None)
            await self.pipeline.submit(key, lambda: self._pod_deleted(key, pod))
            return
        change = classify(event.type, pod)
        sig = signature(change, pod)
        publish = change is not None and self._published.get(key) != sig
        self._published[key] = sig
        await self.pipeline.submit(key, lambda: self._pod_changed(key, pod, change if publish else None))

    async def _pod_changed(self, key: str, pod: Pod, change: m.PodChange | None) -> None:
        pods = await self.bus.kv(m.KV_PODS)
        await pods.put(key, m.encode(pod))
        if change is not None:
            await self._publish(m.PodEvent(change=change, pod=pod, observed_at=self.clock()), message_id(change, pod))

    async def _pod_deleted(self, key: str, pod: Pod) -> None:
        """The API sends the last state; a relist tombstone has only the name, so the KV state
        (written before) stands in for it."""
        pods = await self.bus.typed_kv(m.KV_PODS, Pod)
        if not pod.metadata.uid:
            pod = await pods.get(key) or pod
        await self._publish(m.PodEvent(change="deleted", pod=pod, observed_at=self.clock()),
                            message_id("deleted", pod))
        await pods.delete(key)

    # ---- nodes ------------------------------------------------------------------------------

    async def on_node(self, event: RawEvent) -> None:
        key = event.key
        node = decode_node(event.raw)
        if event.type == "DELETED":
            await self.pipeline.submit(key, lambda: self._node_deleted(key, node))
        else:
            await self.pipeline.submit(key, lambda: self._node_changed(key, node))

    async def _node_changed(self, key: str, node: Node) -> None:
        await (await self.bus.kv(m.KV_NODES)).put(key, m.encode(node))
        await self._publish(m.NodeEvent(change="changed", node=node, observed_at=self.clock()),
                            f"{key}:{node.metadata.resource_version}:node")

    async def _node_deleted(self, key: str, node: Node) -> None:
        nodes = await self.bus.typed_kv(m.KV_NODES, Node)
        if not node.metadata.uid:
            node = await nodes.get(key) or node
        await self._publish(m.NodeEvent(change="deleted", node=node, observed_at=self.clock()),
                            f"{node.metadata.uid or key}:node-deleted")
        await nodes.delete(key)

    # ---- the eks-config ConfigMap -----------------------------------------------------------

    async def on_config(self, event: RawEvent) -> None:
        cm = _configmap_decoder.decode(event.raw)
        if cm.metadata.name and cm.metadata.name != EKS_CONFIG_NAME:
            return  # the field selector should make this impossible; never trust a wrong object
        deleted = event.type == "DELETED"
        msg = m.ConfigEvent(data={} if deleted else dict(cm.data), deleted=deleted,
                            resource_version=event.resource_version, observed_at=self.clock())
        msg_id = f"{m.CONFIG_KEY_EKS}:{event.resource_version}" + (":deleted" if deleted else "")
        await self.pipeline.submit(m.CONFIG_KEY_EKS, lambda: self._config_changed(msg, msg_id))

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
        await (await self.bus.kv(m.KV_CONFIG)).put(m.CONFIG_KEY_EKS, m.encode(msg))
        await self._publish(msg, msg_id)

    # ---- kinds kept only as state (owners, volumes) -----------------------------------------

    def state_only(self, bucket: str, view: type[Any]) -> Callable[[RawEvent], Awaitable[None]]:
        """A handler that mirrors a kind into `bucket` as its slim `view` and publishes nothing."""
        decoder = msgspec.json.Decoder(view)

        async def handle(event: RawEvent) -> None:
            key = event.key
            if event.type == "DELETED":
                async def delete() -> None:
                    await (await self.bus.kv(bucket)).delete(key)
                await self.pipeline.submit(f"{bucket}:{key}", delete)
                return
            data = m.encode(decoder.decode(event.raw))

            async def put() -> None:
                await (await self.bus.kv(bucket)).put(key, data)
            await self.pipeline.submit(f"{bucket}:{key}", put)

        return handle

    # ---- after the first list: forget what vanished while no watcher ran --------------------

    async def prune(self, bucket: str, live: set[str]) -> int:
        """Remove KV entries whose object no longer exists (deleted while the watcher was down),
        publishing the deleted event for pods and nodes. Returns how many were pruned."""
        kv = await self.bus.kv(bucket)
        try:
            keys = await kv.keys()
        except Exception:  # NoKeysError: empty bucket
            return 0
        gone = [k for k in keys if k not in live]
        for key in gone:
            await self.pipeline.submit(key if bucket in (m.KV_PODS, m.KV_NODES) else f"{bucket}:{key}",
                                       self._pruner(bucket, key))
        if gone:
            log.info("pruned objects deleted while away", extra={"bucket": bucket, "count": len(gone)})
        return len(gone)

    def _pruner(self, bucket: str, key: str) -> Callable[[], Awaitable[None]]:
        async def prune_one() -> None:
            if bucket == m.KV_PODS:
                await self._pod_deleted(key, Pod())
            elif bucket == m.KV_NODES:
                await self._node_deleted(key, Node())
            else:
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
