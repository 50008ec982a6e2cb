"""The cloud-provisioner service: creates and deletes TKE Serverless container instances for pods
bound to super nodes, and collects orphaned instances (docs/design.md §2).

Start-up first reads which cluster this is (`spillway.kube.wait_for_cluster_uid`: the uid of
`kube-system`, tried again until it answers): every instance name, and so what the orphan
collector may delete, derives from it with `cloud.clusterID` (`spillway.cloud.InstanceNaming`).

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
import socket
from collections.abc import Callable
from dataclasses import dataclass

from services.cloud_provisioner.gc import OrphanCollector
from services.cloud_provisioner.provisioner import Provisioner
from services.cloud_provisioner.resolve import Resolver
from services.cloud_provisioner.settings import super_nodes
from spillway.cloud import InstanceNaming, InstanceProvider, ProviderFactory, provider_from_config
from spillway.kube import KubeClient, wait_for_cluster_uid
from spillway.kube.events import EventRecorder
from spillway.kube.leader import LeaderElector, leader_identity
from spillway.loops import Backoff
from spillway.model import messages as m
from spillway.model.kube import Node
from spillway.runtime import Context, Service

NAME = "cloud-provisioner"
GC_LEASE = "spillway-cloud-provisioner-gc"
REDELIVERY = Backoff(initial=1.0, cap=30.0)
"""A failed create or delete is redelivered after 1 s, 2 s … 30 s."""


@dataclass
class ProvisionerState:
    """What one running cloud-provisioner holds (per Service instance, so tests can run two)."""

    client: KubeClient | None = None
    provider: InstanceProvider | None = None
    provisioner: Provisioner | None = None
    elector: LeaderElector | None = None
    collector: OrphanCollector | None = None
    naming: InstanceNaming | None = None


class ProvisionerService(Service):
    """The Service with its state exposed (tests read `state`)."""

    def __init__(self) -> None:
        super().__init__(NAME)
        self.state = ProvisionerState()


def build_service(*, provider_factory: ProviderFactory = provider_from_config,
                  clock: Callable[[], float] | None = None) -> ProvisionerService:
    """A cloud-provisioner Service; `provider_factory` and the wall clock are seams for tests (by
    default the runtime's clock, which every loop of the service runs on too)."""
    service = ProvisionerService()
    state = service.state
    now = clock or service.wall_time

    @service.on_startup
    async def start(ctx: Context) -> None:
        config = ctx.config
        state.client = client = await KubeClient.connect(config.kubernetes.kubeconfig or None)
        uid = await wait_for_cluster_uid(client, clock=ctx.clock, liveness=ctx.liveness)
        state.naming = naming = InstanceNaming(config.cloud.cluster_id, uid)
        ctx.log.info("cluster identity read", extra={"cluster_uid": uid, "instance_prefix": naming.prefix})
        state.provider = provider = provider_factory(config)
        nodes_kv = await ctx.bus.typed_kv(m.KV_NODES, Node)

        async def node_view(name: str) -> Node | None:
            return await nodes_kv.get(m.kv_key(name))

        resolver = Resolver(client, config, super_nodes(config), node_view)
        recorder = EventRecorder(client, f"spillway-{NAME}", socket.gethostname())
        state.provisioner = Provisioner(config=config, client=client, provider=provider, bus=ctx.bus,
                                        recorder=recorder, resolver=resolver, naming=naming, clock=now)
        state.elector = LeaderElector(client, config.provisioner.leader_election_namespace, GC_LEASE,
                                      leader_identity(), clock=ctx.clock)
        state.collector = OrphanCollector(client=client, provider=provider, naming=naming,
                                          nodes=super_nodes(config), grace=config.provisioner.gc_grace_seconds,
                                          interval=config.provisioner.gc_interval_seconds, clock=now)

    # creates are network-bound: let one replica work on many pods at once
    @service.on(m.POD_BOUND, max_deliver=8, ack_wait=10.0, retry=REDELIVERY,
                concurrency=lambda config: config.provisioner.create_concurrency)
    async def on_bound(event: m.PodEvent) -> None:
        assert state.provisioner is not None
        await state.provisioner.on_bound(event)

    @service.on(m.POD_TERMINATING, m.POD_DELETED, max_deliver=10, ack_wait=10.0, concurrency=16, retry=REDELIVERY)
    async def on_gone(event: m.PodEvent) -> None:
        assert state.provisioner is not None
        await state.provisioner.on_gone(event)

    @service.background
    async def elect(ctx: Context) -> None:
        assert state.elector is not None
        await state.elector.run()

    @service.background
    async def collect_orphans(ctx: Context) -> None:
        elector, collector = state.elector, state.collector
        assert elector is not None and collector is not None

        async def collect() -> None:
            collector.first_seen.clear()  # a new leader starts its own grace clock
            await collector.run(lambda: elector.is_leader, clock=ctx.clock, liveness=ctx.liveness)

        await elector.while_leading(collect)

    @service.on_shutdown
    async def stop(ctx: Context) -> None:
        if state.elector is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(state.elector.release(), 5)
            state.elector = None
        if state.provider is not None:
            await state.provider.close()
            state.provider = None
        if state.client is not None:
            await state.client.close()
            state.client = None
        state.provisioner = state.collector = state.naming = None

    return service


service = build_service()
