"""The node-status service: the node half of the eklet (docs/design.md §2).

While it holds the `spillway-node-status` Lease (one active replica; a standby takes over when the
lease expires), it registers one super node per subnet (`nodes`), renews their Leases in
kube-node-lease, keeps Ready true only while the cloud answers (`health`), and syncs pod status
from instance status, finishing deletions and failing pods that cannot run (`sync`). Every
replica serves the kubelet log endpoint (`logserver`) over HTTPS with client-certificate auth (`tls`).

Every periodic job runs as a supervised `spillway.loops.every` loop (a failed round is logged,
counted and backed off; the loop goes on; one that hangs fails /healthz), all of them leader-scoped
work (`LeaderElector.while_leading`): cancelled together when leadership is lost. No loop needs
the bus except the running announcements, so a NATS outage delays those and nothing else.

Start-up first reads which cluster this is (`spillway.kube.wait_for_cluster_uid`, tried again
until it answers): the pod sync and the log endpoint find a pod's instance by a name derived from
it (`spillway.cloud.InstanceNaming`), as cloud-provisioner created it.

Bus handlers only feed hints to the tracked set; a standby hands them back (nak) so they reach
the leader. `build_service()` makes a fresh Service; `service` is what `spillway run node-status` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.node_status.health import CloudHealth, Probe, default_probe
from services.node_status.logserver import LogServer
from services.node_status.nodes import NodeRegistrar, super_nodes_from
from services.node_status.settings import node_address, node_names
from services.node_status.sync import PodSync, Tracked
from services.node_status.tls import self_signed, server_context
from spillway.bus import TemporaryError
from spillway.cloud import Instance, InstanceNaming, InstanceProvider, ProviderFactory, provider_from_config
from spillway.config import Config
from spillway.kube import KubeClient, wait_for_cluster_uid
from spillway.kube.events import EventRecorder
from spillway.kube.leader import LeaderElector, leader_identity
from spillway.loops import every, until_ok
from spillway.model import messages as m
from spillway.runtime import Context, Service

NAME = "node-status"
LEADER_LEASE = "spillway-node-status"
ANNOUNCE_PUBLISH_SECONDS = 5.0
"""How long one running announcement retries a publish before its loop backs off and tries later."""
log = logging.getLogger("spillway.node-status")
ProbeFactory = Callable[[InstanceProvider], Probe]


@dataclass
class NodeStatusState:
    """What one running node-status holds (per Service instance, so tests can run two)."""

    client: KubeClient | None = None
    provider: InstanceProvider | None = None
    registrar: NodeRegistrar | None = None
    health: CloudHealth | None = None
    sync: PodSync | None = None
    elector: LeaderElector | None = None
    logs: LogServer | None = None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    naming: InstanceNaming | None = None


class NodeStatusService(Service):
    """The Service with its state exposed (tests read `state`)."""

    def __init__(self) -> None:
        super().__init__(NAME)
        self.state = NodeStatusState()


async def _start_log_server(config: Config, client: KubeClient, provider: InstanceProvider, naming: InstanceNaming,
                            address: str) -> tuple[LogServer | None, tempfile.TemporaryDirectory[str] | None]:
    ns = config.node_status
    ca = ns.client_ca_file or client.ca_file or ""
    if not ca:
        log.warning("no client CA (nodeStatus.clientCaFile, or a CA in the kubeconfig): the log endpoint is off")
        return None, None
    tmp = None
    cert, key = Path(ns.cert_file), Path(ns.key_file)
    if not ns.cert_file or not ns.key_file:
        tmp = tempfile.TemporaryDirectory(prefix="spillway-node-status-")
        cert, key = self_signed(Path(tmp.name), [address, "localhost"])
    server = LogServer(client, provider, naming, host="0.0.0.0", port=ns.kubelet_port,
                       ssl_context=server_context(cert, key, Path(ca)), is_ours=set(node_names(config)).__contains__)
    await server.start()
    log.info("kubelet log endpoint listening", extra={"port": server.port, "self_signed": tmp is not None})
    return server, tmp


async def _lead(state: NodeStatusState, ctx: Context) -> None:
    """One term as leader: register the super nodes and resync pods once, then run every periodic
    job until the lease is lost (the jobs are cancelled together)."""
    registrar, health, sync = state.registrar, state.health, state.sync
    assert registrar is not None and health is not None and sync is not None
    ns = ctx.config.node_status
    log.info("leading: registering super nodes", extra={"nodes": [n.name for n in registrar.nodes]})
    await until_ok("registration", 1.0, registrar.register, clock=ctx.clock, liveness=ctx.liveness)
    await until_ok("first pod resync", 1.0, sync.resync, clock=ctx.clock, liveness=ctx.liveness)

    async def check_health() -> None:
        if registrar.set_readiness(await health.check()):
            log.warning("super nodes readiness changed", extra={"ready": registrar.readiness.ready,
                                                               "reason": registrar.readiness.reason})
            await registrar.write_status()

    async with asyncio.TaskGroup() as loops:
        for name, interval, fn in (
            ("lease renewal", ns.lease_renew_seconds, registrar.renew_leases),
            ("cloud health check", ns.health_check_seconds, check_health),
            ("node status", ns.node_status_seconds, registrar.write_status),
            ("pod status sync", ns.status_sync_seconds, sync.sync_once),
            ("running announcements", ns.status_sync_seconds, sync.announce_pending),
            ("pod resync", ns.resync_seconds, sync.resync),
        ):
            loops.create_task(every(name, interval, fn, clock=ctx.clock, liveness=ctx.liveness), name=f"loop:{name}")


def build_service(*, provider_factory: ProviderFactory = provider_from_config,
                  probe_factory: ProbeFactory = default_probe,
                  clock: Callable[[], float] | None = None) -> NodeStatusService:
    """A node-status Service; the factories and the wall clock are seams for tests (by default the
    runtime's clock, which every loop of the service runs on too)."""
    service = NodeStatusService()
    state = service.state
    now = clock or service.wall_time

    async def announce_running(t: Tracked, inst: Instance) -> None:
        """spillway.instance.running, once per pod: the end of its trip into the cloud."""
        meta = t.pod.metadata
        await service.ctx.bus.publish(m.InstanceEvent(
            namespace=meta.namespace, name=meta.name, uid=meta.uid, status="running", eks_ci_id=inst.id,
            eks_ci_name=inst.name, node=t.pod.spec.node_name, observed_at=now()), msg_id=f"{meta.uid}:running",
            retry_for=ANNOUNCE_PUBLISH_SECONDS)

    @service.on_startup
    async def start(ctx: Context) -> None:
        config = ctx.config
        ns = config.node_status
        state.client = client = await KubeClient.connect(config.kubernetes.kubeconfig or None)
        uid = await wait_for_cluster_uid(client, clock=ctx.clock, liveness=ctx.liveness)
        state.naming = naming = InstanceNaming(config.cloud.cluster_id, uid)
        ctx.log.info("cluster identity read", extra={"cluster_uid": uid, "instance_prefix": naming.prefix})
        state.provider = provider = provider_factory(config)
        address = node_address(config)
        logs, tmp = await _start_log_server(config, client, provider, naming, address)
        state.logs, state.tmp = logs, tmp
        identity = leader_identity()
        nodes = super_nodes_from(config, address, logs.port if logs else 0)
        recorder = EventRecorder(client, f"spillway-{NAME}", socket.gethostname())
        state.registrar = NodeRegistrar(client, nodes, identity=identity, clock=now)
        state.health = CloudHealth(probe_factory(provider), threshold=ns.cloud_failure_threshold)
        state.sync = PodSync(client=client, provider=provider, naming=naming,
                             host_ips={n.name: address for n in nodes}, recorder=recorder, clock=now,
                             on_running=announce_running)
        state.elector = LeaderElector(client, ns.leader_election_namespace, LEADER_LEASE, identity, clock=ctx.clock)

    def leader_sync() -> PodSync:
        """The pod sync, on the leader; a standby hands the message back so it reaches the leader."""
        if state.elector is None or state.sync is None or not state.elector.is_leader:
            raise TemporaryError("not the leader: hand it to the leader", delay=1.0)
        return state.sync

    @service.on(m.POD_BOUND, m.POD_TERMINATING, m.POD_DELETED, max_deliver=100, batch=100)
    async def on_pod(event: m.PodEvent) -> None:
        sync = leader_sync()
        if event.change == "deleted":
            sync.forget(event.pod.metadata.uid)
        else:
            sync.observe(event.pod)

    @service.on(m.INSTANCE_CREATED, m.INSTANCE_DELETED, m.INSTANCE_FAILED, max_deliver=100, batch=100)
    async def on_instance(event: m.InstanceEvent) -> None:
        sync = leader_sync()
        if event.status == "created":
            sync.instance_created(event.uid, event.eks_ci_id)
        elif event.status == "failed":
            sync.instance_failed(event.uid)

    @service.background
    async def elect(ctx: Context) -> None:
        assert state.elector is not None
        await state.elector.run()

    @service.background
    async def lead(ctx: Context) -> None:
        assert state.elector is not None
        await state.elector.while_leading(functools.partial(_lead, state, ctx))

    @service.on_shutdown
    async def stop(ctx: Context) -> None:
        if state.logs is not None:
            await state.logs.stop()
            state.logs = None
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
        if state.tmp is not None:
            state.tmp.cleanup()
            state.tmp = None
        state.registrar, state.health, state.sync, state.naming = None, None, None, None

    return service


service = build_service()
