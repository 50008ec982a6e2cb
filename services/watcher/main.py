"""The watcher service: the only service that watches Kubernetes (docs/design.md §2).

List+watch (resume by resourceVersion, relist on 410, reconnect with backoff — `Reflector`) of
pods in all namespaces, nodes, the kube-system/eks-config ConfigMap, ReplicaSets (a Deployment
behind a ReplicaSet is the workload) and PVCs/PVs (the volume rule). Every object's latest slim
view goes to its KV bucket; pod, node and config changes are published as events with
meaningful Nats-Msg-Ids (see `classify`), so other services build their views from the bus.

Replicas: active-active. Every replica publishes the same events with the same ids, and
JetStream drops the duplicates (2-minute window); the KV buckets converge on the last state.
A restart relists: events already in the stream are de-duplicated, events lost in a crash are
published, and objects deleted meanwhile are pruned from KV with a deleted event. /readyz turns
ready once every collection was listed and mirrored.

One bad object stays one object's problem: an object that does not decode is skipped by its
reflector, and one the bus can never take (too big, an invalid key) is given up by the pipeline;
either is logged, counted (`spillway_watcher_objects_refused_total`) and, for a pod, recorded as a
Warning Event on it (`RefusalReason`), while every other object flows on.

Run it with `spillway run watcher --config FILE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field

from services.watcher.mirror import ClusterMirror
from services.watcher.pipeline import KeyedPipeline
from services.watcher.report import RefusalReporter, identity_of
from spillway.kube import KubeClient
from spillway.kube.events import EventRecorder
from spillway.kube.reflector import BadObject, Handler, Reflector
from spillway.model import messages as m
from spillway.model.kube import (
    EKS_CONFIG_NAME,
    EKS_CONFIG_NAMESPACE,
    PersistentVolume,
    PersistentVolumeClaim,
    ReplicaSet,
)
from spillway.runtime import Context, Service

PODS = "/api/v1/pods"
NODES = "/api/v1/nodes"
CONFIGMAPS = f"/api/v1/namespaces/{EKS_CONFIG_NAMESPACE}/configmaps"
REPLICASETS = "/apis/apps/v1/replicasets"
PVCS = "/api/v1/persistentvolumeclaims"
PVS = "/api/v1/persistentvolumes"


@dataclass
class WatcherState:
    """What one running watcher holds (per Service instance, so tests can run two)."""

    client: KubeClient | None = None
    pipeline: KeyedPipeline = field(default_factory=KeyedPipeline)
    mirror: ClusterMirror | None = None
    reporter: RefusalReporter = field(default_factory=RefusalReporter)
    reflectors: dict[str, Reflector] = field(default_factory=dict)


class WatcherService(Service):
    """The Service with its state exposed (tests and tools read `state`)."""

    def __init__(self) -> None:
        super().__init__("watcher")
        self.state = WatcherState()


def build_service() -> WatcherService:
    service = WatcherService()
    state = service.state

    @service.on_startup
    async def connect(ctx: Context) -> None:
        service.set_ready(False)
        state.client = await KubeClient.connect(ctx.config.kubernetes.kubeconfig or None)
        state.pipeline = KeyedPipeline(clock=ctx.clock)
        client = state.client
        state.reporter = reporter = RefusalReporter(EventRecorder(client, "spillway-watcher", socket.gethostname()))
        state.mirror = mirror = ClusterMirror(ctx.bus, state.pipeline, reporter=reporter)

        def reflector(path: str, kind: str, handler: Handler, field_selector: str | None = None) -> Reflector:
            def bad_object(bad: BadObject) -> None:
                _, _, uid = identity_of(bad.raw)
                reporter.refuse(kind, bad.key, bad.error, uid=uid)
            return Reflector(client, path, handler, on_bad_object=bad_object, field_selector=field_selector,
                             clock=ctx.clock)

        state.reflectors = {
            m.KV_PODS: reflector(PODS, "Pod", mirror.on_pod),
            m.KV_NODES: reflector(NODES, "Node", mirror.on_node),
            m.KV_CONFIG: reflector(CONFIGMAPS, "ConfigMap", mirror.on_config,
                                   field_selector=f"metadata.name={EKS_CONFIG_NAME}"),
            m.KV_REPLICASETS: reflector(REPLICASETS, "ReplicaSet", mirror.state_only(m.KV_REPLICASETS, ReplicaSet)),
            m.KV_PVCS: reflector(PVCS, "PersistentVolumeClaim", mirror.state_only(m.KV_PVCS, PersistentVolumeClaim)),
            m.KV_PVS: reflector(PVS, "PersistentVolume", mirror.state_only(m.KV_PVS, PersistentVolume)),
        }

    @service.background
    async def watch(ctx: Context) -> None:
        # nodes first: a pod on a node known to be local needs no event (`classify`), so knowing the
        # nodes before the first pod list spares every consumer a start-up flood of events to drop
        nodes = state.reflectors[m.KV_NODES]
        tasks = [asyncio.create_task(nodes.run(), name=f"reflector:{m.KV_NODES}")]
        try:
            await nodes.synced.wait()
            tasks += [asyncio.create_task(r.run(), name=f"reflector:{b}") for b, r in state.reflectors.items()
                      if r is not nodes]
            await asyncio.gather(*(r.synced.wait() for r in state.reflectors.values()))
            await _after_first_sync(state)
            service.set_ready(True)
            ctx.log.info("watcher synced", extra={"objects": {b: len(r.known) for b, r in state.reflectors.items()}})
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @service.on_shutdown
    async def close(ctx: Context) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.pipeline.drain(), 5.0)
        await state.pipeline.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.reporter.drain(), 2.0)
        await state.reporter.close()
        if state.client is not None:
            await state.client.close()
            state.client = None

    return service


async def _after_first_sync(state: WatcherState) -> None:
    """Prune what vanished while no watcher ran, then wait until the first list is mirrored."""
    mirror = state.mirror
    assert mirror is not None
    for bucket in (m.KV_PODS, m.KV_NODES, m.KV_REPLICASETS, m.KV_PVCS, m.KV_PVS):
        await mirror.prune(bucket, set(state.reflectors[bucket].known))
    if not state.reflectors[m.KV_CONFIG].known:
        await mirror.config_absent()
    await state.pipeline.drain()


service = build_service()
