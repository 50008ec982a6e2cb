"""The placement service: decides cloud, local or refused for pending pods and acts (docs/design.md §2).

- view (`view.py`): pods, nodes, owners, volumes, the global switch and zone cool-downs, followed
  from the watcher's KV buckets on every replica;
- leadership (`leadership.py`): a Lease `placement` in `placement.leaderElectionNamespace`; only the
  leader consumes `spillway.pod.pending.{gated,unschedulable}` and resyncs pending pods on switch,
  node and zone changes; a standby takes over within `leaseDurationSeconds` (15 s);
- decider (`decider.py`): the pure policy's decision under a per-workload lock, carried out with
  one JSON patch and a binding, recorded as an Event, a KV record (`decisions`), a
  `spillway.placement.decided` message and a span;
- back-off (`backoff.py`): every replica hears the cloud instances' failures and successes and
  keeps a growing cool-down per workload whose cloud pods keep failing;
- returns (`returns.py`): the leader sends burst pods home through the Eviction API once local
  room has freed and lasted (switch `RETURN_TO_LOCAL`, off by default).

Run it with `spillway run placement --config FILE`.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.placement.backoff import InstanceOutcomes
from services.placement.decider import Decider
from services.placement.leadership import Leadership
from services.placement.metrics import FleetReporter
from services.placement.returns import Returns
from services.placement.view import ClusterView
from spillway.config import policy_options, return_settings
from spillway.kube import KubeClient
from spillway.kube.events import EventRecorder
from spillway.kube.leader import LeaderElector, leader_identity
from spillway.runtime import Context, Service

LEASE_NAME = "placement"


@dataclass
class PlacementState:
    client: KubeClient | None = None
    view: ClusterView | None = None
    decider: Decider | None = None
    leadership: Leadership | None = None
    outcomes: InstanceOutcomes | None = None
    fleet: FleetReporter | None = None
    returns: Returns | None = None
    identity: str = ""


class PlacementService(Service):
    """The Service with its state exposed (tests read `state`)."""

    def __init__(self) -> None:
        super().__init__("placement")
        self.state = PlacementState()


def build_service() -> PlacementService:
    service = PlacementService()
    state = service.state

    @service.on_startup
    async def start(ctx: Context) -> None:
        service.set_ready(False)
        cfg = ctx.config.placement
        state.identity = leader_identity()
        state.client = client = await KubeClient.connect(ctx.config.kubernetes.kubeconfig or None)
        state.view = view = ClusterView()
        recorder = EventRecorder(client, "spillway-placement", state.identity)
        state.decider = decider = Decider(view, client, ctx.bus, recorder, policy_options(ctx.config),
                                           clock=ctx.clock)
        elector = LeaderElector(client, cfg.leader_election_namespace, LEASE_NAME, state.identity,
                                lease_duration=cfg.lease_duration_seconds, renew_period=cfg.lease_renew_seconds,
                                clock=ctx.clock)
        state.leadership = Leadership(ctx.bus, elector, decider, concurrency=cfg.concurrency,
                                      resync_seconds=cfg.resync_seconds, clock=ctx.clock, liveness=ctx.liveness)
        state.outcomes = InstanceOutcomes(ctx.bus, view, decider.backoffs, wake=state.leadership.poke)
        state.fleet = FleetReporter(view, lambda: elector.is_leader, ctx.config.cloud.prices, clock=ctx.clock)
        state.returns = Returns(view, decider, client, ctx.bus, recorder, return_settings(ctx.config),
                                clock=ctx.clock, liveness=ctx.liveness)
        await state.outcomes.start()
        await view.start(ctx.bus)
        service.set_ready(True)

    @service.background
    async def lead(ctx: Context) -> None:
        assert state.leadership is not None
        await state.leadership.run()

    @service.background
    async def report_fleet(ctx: Context) -> None:
        assert state.fleet is not None
        await state.fleet.run(ctx.liveness)

    @service.background
    async def return_home(ctx: Context) -> None:
        assert state.returns is not None and state.leadership is not None
        await state.leadership.elector.while_leading(state.returns.lead)

    @service.on_shutdown
    async def close(ctx: Context) -> None:
        if state.outcomes is not None:
            await state.outcomes.stop()
        if state.view is not None:
            await state.view.stop()
        if state.client is not None:
            await state.client.close()
            state.client = None

    return service


service = build_service()
