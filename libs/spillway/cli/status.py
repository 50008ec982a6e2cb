"""`spillway status [--watch] [--json]`: Spillway on one screen.

The super nodes (Ready, zone, pods, vCPU, memory, cost), the workloads Spillway acts on with their
local / cloud / pending pods against LOCAL_REPLICAS, the zones in cool-down, the last failures with
their reasons (failed instances, sold-out zones, dead letters) and the estimated cost per hour.

It reads what any operator can reach, the same way against `spillway up` (`source .spillway/env`)
and a real cluster: nodes, pods and ReplicaSets from the Kubernetes API (`--kubeconfig`, env
KUBECONFIG), zone cool-downs and recent failures from the bus as the read-only user (`--nats`,
`--user`, env NATS_URL / SPILLWAY_NATS_USER / SPILLWAY_NATS_PASSWORD). Pods and nodes are counted
exactly as placement's metrics count them (`spillway.telemetry.fleet`). Prices come from the
services' config file (`--config`, env SPILLWAY_CONFIG), else the documented example prices, and
the output says which. A part that cannot be read is shown as such and the exit status is 1;
an unusable config or kubeconfig exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import msgspec
import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from spillway.bus import Bus
from spillway.cli.bus import add_connection_args, password_from_env
from spillway.cli.events import parse_duration
from spillway.config import Config, ConfigError, Prices, load_config
from spillway.kube import KubeClient, KubeError
from spillway.model import messages as m
from spillway.model.kube import Node, OwnerReference, Pod, ReplicaSet
from spillway.policy import WorkloadKey, workload_of
from spillway.runtime.runner import without_userinfo
from spillway.telemetry.fleet import GIB, Fleet, WorkloadTally, tally

T = TypeVar("T")
FAILURES_SHOWN = 10
FAILURES_READ_MAX = 2000
"""Stored failures read at most; a busier window is narrowed (tenfold) until it fits."""
FAILURES_READ_SECONDS = 10.0
FAILURE_SUBJECTS = (m.INSTANCE_FAILED, m.ZONE_COOLDOWN, m.DLQ_ALL)
SNAPSHOT_TIMEOUT = 30.0
CLEAR_SCREEN = "\033[H\033[2J"


@dataclass(frozen=True)
class FailureRow:
    at: float
    kind: str  # instance, zone, dead-letter
    what: str  # the pod, the zone, the consumer
    reason: str
    detail: str


@dataclass(frozen=True)
class Cooldown:
    zone: str
    until: float
    reason: str


@dataclass
class Snapshot:
    taken_at: float
    prices: Prices
    prices_from: str
    fleet: Fleet | None = None
    cooldowns: list[Cooldown] | None = None
    failures: list[FailureRow] | None = None
    failures_window: float = 0.0
    problems: list[str] = field(default_factory=list)

    def workloads(self) -> list[WorkloadTally]:
        if self.fleet is None:
            return []
        return sorted((t for t in self.fleet.workloads.values() if t.spillway_acts_on),
                      key=lambda t: (t.workload.namespace, t.workload.kind, t.workload.name))


# ---- reading the API ---------------------------------------------------------------------------

async def list_objects(client: KubeClient, path: str, type_: type[T]) -> tuple[list[T], int]:
    """Every object of a collection, page by page; (objects, how many could not be read)."""
    decoder = msgspec.json.Decoder(type_)
    found: list[T] = []
    unreadable = 0
    async for page in client.list_pages(path):
        for item in page.items:
            try:
                found.append(decoder.decode(item))
            except (msgspec.DecodeError, msgspec.ValidationError):
                unreadable += 1
    return found, unreadable


async def read_fleet(client: KubeClient, prices: Prices, now: float) -> tuple[Fleet, int]:
    (nodes, bad_nodes), (pods, bad_pods), (replicasets, bad_sets) = await asyncio.gather(
        list_objects(client, "/api/v1/nodes", Node), list_objects(client, "/api/v1/pods", Pod),
        list_objects(client, "/apis/apps/v1/replicasets", ReplicaSet))
    owners: dict[tuple[str, str], OwnerReference | None] = {
        (rs.metadata.namespace, rs.metadata.name): rs.metadata.controller_ref() for rs in replicasets}

    def workload(pod: Pod) -> WorkloadKey:
        return workload_of(pod, lambda namespace, name: owners.get((namespace, name)))

    return tally(pods, nodes, workload, prices, now), bad_nodes + bad_pods + bad_sets


# ---- reading the bus ---------------------------------------------------------------------------

async def read_cooldowns(bus: Bus, now: float) -> list[Cooldown]:
    zones = await bus.typed_kv(m.KV_ZONES, m.ZoneCooldown)
    found = [Cooldown(value.zone or key, value.until, value.reason) async for key, value in zones.items()]
    return sorted((c for c in found if c.until > now), key=lambda c: c.zone)


def failure_of(subject: str, data: bytes, at: float) -> FailureRow | None:
    """One stored message as a failure row (None for one that does not decode)."""
    try:
        msg = m.decode(subject, data)
    except (KeyError, msgspec.DecodeError, msgspec.ValidationError):
        return None
    if isinstance(msg, m.InstanceEvent):
        detail = " ".join(([f"on {msg.node}"] if msg.node else []) +
                          ([f"(request {msg.request_id})"] if msg.request_id else []))
        return FailureRow(at, "instance", f"{msg.namespace}/{msg.name}", msg.reason or "Failed", detail)
    if isinstance(msg, m.ZoneCooldown):
        until = datetime.fromtimestamp(msg.until, UTC).strftime("%H:%M:%S UTC")
        return FailureRow(at, "zone", msg.zone, msg.reason or "SoldOut", f"avoided until {until}")
    if isinstance(msg, m.DeadLetter):
        why, _, error = msg.error.partition(": ")
        return FailureRow(at, "dead-letter", msg.consumer or msg.service, one_line(why, 60),
                       one_line(f"{msg.subject}: {error or why}", 160))
    return None


async def read_failures(bus: Bus, window: float, now: float) -> tuple[list[FailureRow], float]:
    """The last FAILURES_SHOWN failures stored within `window` seconds, and the window read."""
    while True:
        failures, fitted = await _read_window(bus, now - window)
        if fitted or window <= 10.0:
            return failures, window
        window /= 10.0


async def _read_window(bus: Bus, since: float) -> tuple[list[FailureRow], bool]:
    """Reads the failures stored since `since` with an ephemeral consumer; (the last ones, whether
    they were at most FAILURES_READ_MAX). The count comes with the consumer, so nothing waits on
    silence; the consumer goes away on its own once nobody listens to its inbox."""
    inbox = bus.nc.new_inbox()
    rows: deque[FailureRow] = deque(maxlen=FAILURES_SHOWN)
    received = 0
    everything = asyncio.Event()
    expected = -1

    async def take(msg: Msg) -> None:
        nonlocal received
        received += 1
        row = failure_of(msg.subject, msg.data, msg.metadata.timestamp.timestamp())
        if row is not None:
            rows.append(row)
        if received == expected or msg.metadata.num_pending == 0:
            everything.set()

    sub = await bus.nc.subscribe(inbox, cb=take)
    try:
        info = await bus.js.add_consumer(m.STREAM, ConsumerConfig(
            deliver_subject=inbox, ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=datetime.fromtimestamp(since, UTC), filter_subjects=list(FAILURE_SUBJECTS),
            inactive_threshold=5.0, description="spillway status: recent failures"))
        expected = info.num_pending or 0
        if expected > FAILURES_READ_MAX:
            return [], False
        if expected and received < expected:
            await asyncio.wait_for(everything.wait(), FAILURES_READ_SECONDS)
        return list(rows), True
    finally:
        with contextlib.suppress(nats.errors.Error):
            await sub.unsubscribe()


# ---- one snapshot ------------------------------------------------------------------------------

@dataclass
class Sources:
    """The connections a status run keeps (one set for all the rounds of --watch)."""

    kubeconfig: str
    nats_url: str
    user: str
    ca_file: str
    kube: KubeClient | None = None
    bus: Bus | None = None

    async def kube_client(self) -> KubeClient:
        if self.kube is None:
            self.kube = await KubeClient.connect(self.kubeconfig or None)
        return self.kube

    async def bus_client(self) -> Bus:
        if self.bus is None or not self.bus.connected:
            if self.bus is not None:
                await self.bus.close(drain=False)
            self.bus = await Bus.connect(self.nats_url, service="status", max_reconnect_attempts=1,
                                         connect_timeout=2.0, user=self.user, password=password_from_env(),
                                         ca_file=self.ca_file)
        return self.bus

    async def close(self) -> None:
        if self.kube is not None:
            await self.kube.close()
        if self.bus is not None:
            with contextlib.suppress(Exception):
                await self.bus.close(drain=False)


async def snapshot(sources: Sources, prices: Prices, prices_from: str, window: float,
                   clock: Callable[[], float] = time.time) -> Snapshot:
    """Everything `spillway status` shows; a source that fails is named in `problems`."""
    now = clock()
    snap = Snapshot(now, prices, prices_from)

    async def from_api() -> None:
        try:
            client = await sources.kube_client()
            snap.fleet, unreadable = await read_fleet(client, prices, now)
            if unreadable:
                snap.problems.append(f"Kubernetes API: {unreadable} object(s) could not be read and are not counted")
        except (KubeError, OSError, TimeoutError, aiohttp.ClientError, msgspec.DecodeError) as exc:
            snap.problems.append(f"Kubernetes API: {describe(exc)}")

    async def from_bus() -> None:
        try:
            bus = await sources.bus_client()
            snap.cooldowns = await read_cooldowns(bus, now)
            snap.failures, snap.failures_window = await read_failures(bus, window, now)
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            snap.problems.append(f"bus {without_userinfo(sources.nats_url)}: {describe(exc)}")

    await asyncio.gather(from_api(), from_bus())
    return snap


def describe(exc: BaseException) -> str:
    return one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, 300)


def one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- showing it --------------------------------------------------------------------------------

def cores(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def memory(value: float) -> str:
    return f"{value / GIB:.2f}".rstrip("0").rstrip(".") + "Gi"


def money(value: float) -> str:
    return f"{value:.4f}" if value < 1 else f"{value:.2f}"


def ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    return ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in (header, *rows)]


def render(snap: Snapshot) -> str:
    when = datetime.fromtimestamp(snap.taken_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    currency = snap.prices.currency
    lines = [f"Spillway status at {when}"]
    fleet = snap.fleet
    if fleet is not None:
        lines.append(f"Cost:      {money(fleet.cost_per_hour)} {currency}/hour (estimate; {snap.prices_from})")
        oldest = f", oldest {ago(fleet.oldest_awaiting_seconds)}" if fleet.awaiting_decision else ""
        lines.append(f"Awaiting:  {fleet.awaiting_decision} pod(s) waiting for a placement decision{oldest}")
    lines += ["", "SUPER NODES"]
    if fleet is None:
        lines.append("  unknown (the Kubernetes API could not be read)")
    elif not fleet.super_nodes:
        lines.append("  none (node-status registers one per configured subnet)")
    else:
        rows = [[n.name, "Ready" if n.ready else "NotReady", n.zone or "-",
                 f"{n.pods}/{n.pod_capacity}" if n.pod_capacity is not None else str(n.pods),
                 cores(n.cpu_cores), memory(n.memory_bytes), money(n.cost_per_hour)]
                for n in sorted(fleet.super_nodes.values(), key=lambda n: n.name)]
        lines += ["  " + line for line in table(
            ["NAME", "STATUS", "ZONE", "PODS", "VCPU", "MEMORY", f"{currency}/HOUR"], rows)]
    lines += ["", "WORKLOADS (local / cloud / pending pods against LOCAL_REPLICAS)"]
    workloads = snap.workloads()
    if fleet is None:
        lines.append("  unknown (the Kubernetes API could not be read)")
    elif not workloads:
        lines.append("  none in the cloud, pending or with LOCAL_REPLICAS")
    else:
        rows = [[f"{t.workload.namespace}/{t.workload.kind}/{t.workload.name}", str(t.local), str(t.cloud),
                 str(t.pending), "-" if t.local_replicas is None else str(t.local_replicas),
                 cores(t.cloud_cpu_cores), memory(t.cloud_memory_bytes), money(t.cost_per_hour)]
                for t in workloads]
        lines += ["  " + line for line in table(
            ["WORKLOAD", "LOCAL", "CLOUD", "PENDING", "LOCAL_REPLICAS", "VCPU", "MEMORY", f"{currency}/HOUR"], rows)]
    lines += ["", "ZONES IN COOL-DOWN"]
    if snap.cooldowns is None:
        lines.append("  unknown (the bus could not be read)")
    elif not snap.cooldowns:
        lines.append("  none")
    else:
        lines += ["  " + line for line in table(["ZONE", "FOR", "REASON"], [
            [c.zone, ago(c.until - snap.taken_at), c.reason or "-"] for c in snap.cooldowns])]
    window = ago(snap.failures_window) if snap.failures_window else ""
    lines += ["", f"LAST FAILURES (stored in the last {window})" if window else "LAST FAILURES"]
    if snap.failures is None:
        lines.append("  unknown (the bus could not be read)")
    elif not snap.failures:
        lines.append("  none")
    else:
        lines += ["  " + line for line in table(["AGO", "KIND", "WHAT", "REASON", "DETAIL"], [
            [ago(snap.taken_at - f.at), f.kind, f.what, f.reason, f.detail] for f in reversed(snap.failures)])]
    if snap.problems:
        lines += ["", "PROBLEMS"] + [f"  {p}" for p in snap.problems]
    return "\n".join(lines)


def as_json(snap: Snapshot) -> dict[str, Any]:
    fleet = snap.fleet
    out: dict[str, Any] = {
        "time": snap.taken_at,
        "prices": {"vcpuHour": snap.prices.vcpu_hour, "memoryGiBHour": snap.prices.memory_gib_hour,
                   "currency": snap.prices.currency, "source": snap.prices_from},
        "costPerHour": fleet.cost_per_hour if fleet is not None else None,
        "awaitingDecision": None if fleet is None else {
            "pods": fleet.awaiting_decision, "oldestSeconds": fleet.oldest_awaiting_seconds},
        "superNodes": None if fleet is None else [
            {"name": n.name, "ready": n.ready, "zone": n.zone, "pods": n.pods, "podCapacity": n.pod_capacity,
             "cpuCores": n.cpu_cores, "memoryBytes": n.memory_bytes, "costPerHour": n.cost_per_hour}
            for n in sorted(fleet.super_nodes.values(), key=lambda n: n.name)],
        "workloads": None if fleet is None else [
            {"namespace": t.workload.namespace, "kind": t.workload.kind, "name": t.workload.name, "local": t.local,
             "cloud": t.cloud, "pending": t.pending, "localReplicas": t.local_replicas,
             "cpuCores": t.cloud_cpu_cores, "memoryBytes": t.cloud_memory_bytes, "costPerHour": t.cost_per_hour}
            for t in snap.workloads()],
        "zonesInCooldown": None if snap.cooldowns is None else [
            {"zone": c.zone, "until": c.until, "reason": c.reason} for c in snap.cooldowns],
        "failures": None if snap.failures is None else [
            {"time": f.at, "kind": f.kind, "what": f.what, "reason": f.reason, "detail": f.detail}
            for f in snap.failures],
        "failuresWindowSeconds": snap.failures_window,
        "problems": snap.problems,
    }
    return out


# ---- the command -------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spillway status", description="Spillway on one screen: super nodes, "
                                     "workloads, zones in cool-down, the last failures and the estimated cost.")
    parser.add_argument("--watch", action="store_true", help="show it again every --interval until Ctrl-C")
    parser.add_argument("--interval", type=parse_duration, default=2.0, metavar="DURATION",
                        help="--watch refresh period (default 2s)")
    parser.add_argument("--json", action="store_true", help="print JSON (with --watch: one object per line)")
    parser.add_argument("--since", type=parse_duration, default=3600.0, metavar="DURATION",
                        help="how far back to look for failures (default 1h)")
    parser.add_argument("--kubeconfig", metavar="PATH", default=default_kubeconfig(),
                        help="kubeconfig of the cluster (env KUBECONFIG, else ~/.kube/config, else in-cluster)")
    parser.add_argument("--config", metavar="FILE", default=os.environ.get("SPILLWAY_CONFIG", ""),
                        help="the services' config file, for cloud.prices (env SPILLWAY_CONFIG; default: the "
                             "example prices)")
    add_connection_args(parser)
    return parser


def default_kubeconfig() -> str:
    first = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if first:
        return first
    home = Path.home() / ".kube" / "config"
    return str(home) if home.is_file() else ""


def load_prices(path: str) -> tuple[Prices, str]:
    if not path:
        return Prices(), "example prices: pass --config for yours"
    config: Config = load_config(path)
    return config.cloud.prices, f"prices from {path}"


async def run(args: argparse.Namespace, prices: Prices, prices_from: str) -> int:
    sources = Sources(args.kubeconfig, args.nats, args.user, args.nats_ca)
    try:
        while True:
            try:
                snap = await asyncio.wait_for(snapshot(sources, prices, prices_from, args.since), SNAPSHOT_TIMEOUT)
            except TimeoutError:
                if not args.watch:
                    raise
                print(f"spillway status: no answer within {SNAPSHOT_TIMEOUT:.0f} s", file=sys.stderr, flush=True)
                await asyncio.sleep(args.interval)
                continue
            if args.json:
                print(json.dumps(as_json(snap)), flush=True)
            else:
                text = render(snap)
                if args.watch and sys.stdout.isatty():
                    text = CLEAR_SCREEN + text
                print(text, flush=True)
            if not args.watch:
                return 1 if snap.problems else 0
            await asyncio.sleep(args.interval)
    finally:
        await sources.close()


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        prices, prices_from = load_prices(args.config)
        return asyncio.run(run(args, prices, prices_from))
    except ConfigError as exc:
        print(f"spillway status: {exc}", file=sys.stderr)
        return 2
    except TimeoutError:
        print(f"spillway status: no answer within {SNAPSHOT_TIMEOUT:.0f} s", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
