"""The cloud-provisioner service: creates and deletes TKE Serverless container instances for pods
bound to super nodes, and collects orphaned instances (docs/design.md §2).

Handlers (acked after the side effect; redelivered with backoff; dead-lettered when hopeless):
- `spillway.pod.bound` → create the instance (`provisioner.Provisioner.on_bound`), many pods in
  parallel (`provisioner.createConcurrency`);
- `spillway.pod.terminating` / `spillway.pod.deleted` → delete it (`Provisioner.on_gone`).
Background: Lease leader election, and orphan GC on the leader (`gc.OrphanCollector`).

`build_service()` makes a fresh Service (tests run several); `service` is the one `spillway run
cloud-provisioner --config FILE` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from services.cloud_provisioner.gc import OrphanCollector
from services.cloud_provisioner.provisioner import Provisioner
from services.cloud_provisioner.resolve import Resolver
from services.cloud_provisioner.settings import super_nodes
from spillway.bus import exponential_backoff
from spillway.cloud import InstanceProvider, TkeProvider
from spillway.cloud.settings import tke_settings
from spillway.config import Config
from spillway.kube import KubeClient
from spillway.kube.events import EventRecorder
from spillway.kube.leader import LeaderElector
from spillway.model import messages as m
from spillway.model.kube import Node
from spillway.runtime import Context, Service

NAME = "cloud-provisioner"
GC_LEASE = "spillway-cloud-provisioner-gc"
ProviderFactory = Callable[[Config], InstanceProvider]


def default_provider(config: Config) -> InstanceProvider:
    return TkeProvider(tke_settings(config))


def identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class Parts:
    client: KubeClient
    provider: InstanceProvider
    provisioner: Provisioner
    elector: LeaderElector
    collector: OrphanCollector


def build_service(*, provider_factory: ProviderFactory = default_provider,
                  clock: Callable[[], float] = time.time) -> Service:
    """A cloud-provisioner Service; `provider_factory` and `clock` are seams for tests."""
    service = Service(NAME)
    parts: list[Parts] = []

    def running() -> Parts:
        return parts[0]

    @service.on_startup
    async def start(ctx: Context) -> None:
        config = ctx.config
        client = await KubeClient.connect(config.kubernetes.kubeconfig or None)
        provider = provider_factory(config)
        nodes_kv = await ctx.bus.typed_kv(m.KV_NODES, Node)

        async def node_view(name: str) -> Node | None:
            return await nodes_kv.get(m.kv_key(name))

        resolver = Resolver(client, config, super_nodes(config), node_view)
        recorder = EventRecorder(client, f"spillway-{NAME}", socket.gethostname())
        provisioner = Provisioner(config=config, client=client, provider=provider, bus=ctx.bus, recorder=recorder,
                                  resolver=resolver, clock=clock)
        elector = LeaderElector(client, config.provisioner.leader_election_namespace, GC_LEASE, identity())
        collector = OrphanCollector(client=client, provider=provider, cluster_id=config.cloud.cluster_id,
                                    nodes=super_nodes(config), grace=config.provisioner.gc_grace_seconds,
                                    interval=config.provisioner.gc_interval_seconds, clock=clock)
        parts[:] = [Parts(client, provider, provisioner, elector, collector)]
        # creates are network-bound: let one replica work on many pods at once
        service.handlers.specs[:] = [
            dataclasses.replace(spec, concurrency=max(1, config.provisioner.create_concurrency))
            if spec.fn is on_bound else spec for spec in service.handlers.specs
        ]

    @service.on(m.POD_BOUND, max_deliver=8, ack_wait=10.0, retry=exponential_backoff(base=1.0, cap=30.0))
    async def on_bound(event: m.PodEvent) -> None:
        await running().provisioner.on_bound(event)

    @service.on(m.POD_TERMINATING, m.POD_DELETED, max_deliver=10, ack_wait=10.0, concurrency=16,
                retry=exponential_backoff(base=1.0, cap=30.0))
    async def on_gone(event: m.PodEvent) -> None:
        await running().provisioner.on_gone(event)

    @service.background
    async def elect(ctx: Context) -> None:
        await running().elector.run()

    @service.background
    async def collect_orphans(ctx: Context) -> None:
        p = running()
        await p.collector.run(lambda: p.elector.is_leader, clock=ctx.clock, liveness=ctx.liveness)

    @service.on_shutdown
    async def stop(ctx: Context) -> None:
        if not parts:
            return
        p = parts.pop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(p.elector.release(), 5)
        await p.provider.close()
        await p.client.close()

    return service


service = build_service()
