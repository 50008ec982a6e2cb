"""The node-status service: the node half of the eklet (docs/design.md §2).

While it holds the `spillway-node-status` Lease (one active replica; a standby takes over when the
lease expires), it registers one super node per subnet (`nodes`), renews their Leases in
kube-node-lease, keeps Ready true only while the cloud answers (`health`), and syncs pod status
from instance status, finishing deletions and failing pods that cannot run (`sync`). Every
replica serves the kubelet log endpoint (`logserver`) over HTTPS with client-certificate auth (`tls`).

Every periodic job runs as a supervised `spillway.loops.every` loop (a failed round is logged,
counted and backed off; the loop goes on; one that hangs fails /healthz), and they are cancelled
together when leadership is lost. No loop needs the bus except the running announcements, so a
NATS outage delays those and nothing else.

Bus handlers only feed hints to the tracked set; a standby hands them back (nak) so they reach
the leader. `build_service()` makes a fresh Service; `service` is what `spillway run node-status` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.node_status.health import CloudHealth, Probe, default_probe
from services.node_status.logserver import LogServer
from services.node_status.nodes import NodeRegistrar, super_nodes_from
from services.node_status.settings import node_address, node_names
from services.node_status.sync import PodSync, Tracked
from services.node_status.tls import self_signed, server_context
from spillway.bus import TemporaryError
from spillway.cloud import Instance, InstanceProvider, TkeProvider
from spillway.cloud.settings import tke_settings
from spillway.config import Config
from spillway.kube import KubeClient
from spillway.kube.events import EventRecorder
from spillway.kube.leader import LeaderElector
from spillway.loops import every, until_ok
from spillway.model import messages as m
from spillway.runtime import Context, Service

NAME = "node-status"
LEADER_LEASE = "spillway-node-status"
ANNOUNCE_PUBLISH_SECONDS = 5.0
"""How long one running announcement retries a publish before its loop backs off and tries later."""
log = logging.getLogger("spillway.node-status")
ProviderFactory = Callable[[Config], InstanceProvider]
ProbeFactory = Callable[[InstanceProvider], Probe]


def default_provider(config: Config) -> InstanceProvider:
    return TkeProvider(tke_settings(config))


@dataclass
class Parts:
    config: Config
    client: KubeClient
    provider: InstanceProvider
    registrar: NodeRegistrar
    health: CloudHealth
    sync: PodSync
    elector: LeaderElector
    logs: LogServer | None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def _start_log_server(config: Config, client: KubeClient, provider: InstanceProvider,
                            address: str) -> tuple[LogServer | None, tempfile.TemporaryDirectory[str] | None]:
    ns = config.node_status
    ca = ns.client_ca_file or client.api_client.configuration.ssl_ca_cert or ""
    if not ca:
        log.warning("no client CA (nodeStatus.clientCaFile, or a CA in the kubeconfig): the log endpoint is off")
        return None, None
    tmp = None
    cert, key = Path(ns.cert_file), Path(ns.key_file)
    if not ns.cert_file or not ns.key_file:
        tmp = tempfile.TemporaryDirectory(prefix="spillway-node-status-")
        cert, key = self_signed(Path(tmp.name), [address, "localhost"])
    server = LogServer(client, provider, config.cloud.cluster_id, host="0.0.0.0", port=ns.kubelet_port,
                       ssl_context=server_context(cert, key, Path(ca)), is_ours=set(node_names(config)).__contains__)
    await server.start()
    log.info("kubelet log endpoint listening", extra={"port": server.port, "self_signed": tmp is not None})
    return server, tmp


def build_service(*, provider_factory: ProviderFactory = default_provider, probe_factory: ProbeFactory = default_probe,
                  clock: Callable[[], float] = time.time) -> Service:
    """A node-status Service; the factories and the clock are seams for tests."""
    service = Service(NAME)
    parts: list[Parts] = []

    def running() -> Parts:
        return parts[0]

    async def announce_running(t: Tracked, inst: Instance) -> None:
        """spillway.instance.running, once per pod: the end of its trip into the cloud."""
        meta = t.pod.metadata
        await service.ctx.bus.publish(m.InstanceEvent(
            namespace=meta.namespace, name=meta.name, uid=meta.uid, status="running", eks_ci_id=inst.id,
            eks_ci_name=inst.name, node=t.pod.spec.node_name, observed_at=clock()), msg_id=f"{meta.uid}:running",
            retry_for=ANNOUNCE_PUBLISH_SECONDS)

    @service.on_startup
    async def start(ctx: Context) -> None:
        config = ctx.config
        ns = config.node_status
        client = await KubeClient.connect(config.kubernetes.kubeconfig or None)
        provider = provider_factory(config)
        address = node_address(config)
        logs, tmp = await _start_log_server(config, client, provider, address)
        identity = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        nodes = super_nodes_from(config, address, logs.port if logs else 0)
        recorder = EventRecorder(client, f"spillway-{NAME}", socket.gethostname())
        parts[:] = [Parts(
            config=config, client=client, provider=provider,
            registrar=NodeRegistrar(client, nodes, identity=identity, clock=clock),
            health=CloudHealth(probe_factory(provider), threshold=ns.cloud_failure_threshold),
            sync=PodSync(client=client, provider=provider, cluster_id=config.cloud.cluster_id,
                         host_ips={n.name: address for n in nodes}, recorder=recorder, clock=clock,
                         on_running=announce_running),
            elector=LeaderElector(client, ns.leader_election_namespace, LEADER_LEASE, identity, clock=clock),
            logs=logs, tmp=tmp,
        )]

    def leader() -> Parts:
        p = running()
        if not p.elector.is_leader:
            raise TemporaryError("not the leader: hand it to the leader", delay=1.0)
        return p

    @service.on(m.POD_BOUND, m.POD_TERMINATING, m.POD_DELETED, max_deliver=100, batch=100)
    async def on_pod(event: m.PodEvent) -> None:
        p = leader()
        if event.change == "deleted":
            p.sync.forget(event.pod.metadata.uid)
        else:
            p.sync.observe(event.pod)

    @service.on(m.INSTANCE_CREATED, m.INSTANCE_DELETED, m.INSTANCE_FAILED, max_deliver=100, batch=100)
    async def on_instance(event: m.InstanceEvent) -> None:
        p = leader()
        if event.status == "created":
            p.sync.instance_created(event.uid, event.eks_ci_id)
        elif event.status == "failed":
            p.sync.instance_failed(event.uid)

    @service.background
    async def elect(ctx: Context) -> None:
        await running().elector.run()

    @service.background
    async def lead(ctx: Context) -> None:
        p = running()
        ns = p.config.node_status
        while True:
            await p.elector.wait_until_leader()
            log.info("leading: registering super nodes", extra={"nodes": [n.name for n in p.registrar.nodes]})
            await until_ok("registration", 1.0, p.registrar.register, clock=ctx.clock, liveness=ctx.liveness)
            await until_ok("first pod resync", 1.0, p.sync.resync, clock=ctx.clock, liveness=ctx.liveness)

            async def health() -> None:
                if p.registrar.set_readiness(await p.health.check()):
                    log.warning("super nodes readiness changed", extra={"ready": p.registrar.readiness.ready,
                                                                       "reason": p.registrar.readiness.reason})
                    await p.registrar.write_status()

            p.tasks = [asyncio.create_task(every(name, interval, fn, clock=ctx.clock, liveness=ctx.liveness),
                                           name=f"loop:{name}")
                       for name, interval, fn in (
                ("lease renewal", ns.lease_renew_seconds, p.registrar.renew_leases),
                ("cloud health check", ns.health_check_seconds, health),
                ("node status", ns.node_status_seconds, p.registrar.write_status),
                ("pod status sync", ns.status_sync_seconds, p.sync.sync_once),
                ("running announcements", ns.status_sync_seconds, p.sync.announce_pending),
                ("pod resync", ns.resync_seconds, p.sync.resync),
            )]
            try:
                while p.elector.is_leader:
                    p.elector.changed.clear()
                    await p.elector.changed.wait()
            finally:
                for task in p.tasks:
                    task.cancel()
                await asyncio.gather(*p.tasks, return_exceptions=True)
            log.info("lost leadership")

    @service.on_shutdown
    async def stop(ctx: Context) -> None:
        if not parts:
            return
        p = parts.pop()
        if p.logs is not None:
            await p.logs.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(p.elector.release(), 5)
        await p.provider.close()
        await p.client.close()
        if p.tmp is not None:
            p.tmp.cleanup()

    return service


service = build_service()
