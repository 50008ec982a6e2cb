"""Shared helpers for the service tests: run a service in-process against the sandbox and NATS.

A service runs exactly as `spillway run` runs it (a config file is written and loaded, then
`Runtime(service, config).serve()` runs as a task), so tests exercise startup, readiness and
shutdown too. API (kept stable; other service test packages use it):

    async with run_service(watcher_main.build_service, nats_url=nats_server,
                           kubeconfig=sandbox.kubeconfig_path, tmp_path=tmp_path,
                           config={"placement": {"leaseDurationSeconds": 3}}) as svc:
        await svc.wait_ready()
        ...
        await svc.kill()        # abrupt: cancel the runtime task (no lease release, no drain)
    # leaving the block stops it gracefully (svc.stop()) unless it was killed already

- `service`: a `Service`, or a zero-argument factory returning a fresh one (needed to run two
  replicas of one service in one process; every Spillway service module has `build_service`).
- `config`: extra config sections, deep-merged over the defaults (nats.url, kubernetes.kubeconfig,
  telemetry.healthPort=0, admission.port=0).
- fixture `services_env` bundles the sandbox, the NATS URL and tmp_path:
  `async with services_env.run(factory, config=...) as svc`.
- waiting: `tests.fixtures.eventually.eventually(check, what=..., seconds=...)`; no sleeps in tests
  beyond it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
import yaml

from spillway.config import Config, load_config
from spillway.runtime import Runtime, Service
from spillway.sandbox import Sandbox
from tests.fixtures.eventually import eventually

S = TypeVar("S", bound=Service)
_counter = itertools.count(1)


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`extra` over `base`, recursing into nested mappings."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def service_config_data(
    nats_url: str, kubeconfig: str | Path | None = None, config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The config file content a test service runs with (plain data, camelCase keys)."""
    data: dict[str, Any] = {
        "nats": {"url": nats_url},
        "telemetry": {"healthPort": 0},
        "admission": {"port": 0},
    }
    if kubeconfig is not None:
        data["kubernetes"] = {"kubeconfig": str(kubeconfig)}
    return deep_merge(data, config or {})


def write_config(path: Path, data: Mapping[str, Any]) -> Config:
    """Write `data` as YAML to `path` and load it the way `spillway run --config` does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False))
    return load_config(path, env={})


@dataclass
class RunningService(Generic[S]):
    """A service running in this event loop; `service` keeps its concrete class (and so its `state`)."""

    service: S
    runtime: Runtime
    task: asyncio.Task[int]
    config: Config
    config_path: Path
    killed: bool = field(default=False)

    @property
    def name(self) -> str:
        return self.service.name

    async def wait_ready(self, seconds: float = 15.0) -> None:
        """Until /readyz would answer 200 (connected, started, and the service says ready)."""
        async def ready() -> bool:
            if self.task.done():
                pytest.fail(f"{self.name} exited early with {self.task.result()!r}")
            return self.runtime.is_ready()

        await eventually(ready, seconds=seconds, what=f"{self.name} ready")

    async def stop(self, seconds: float = 15.0) -> int | None:
        """Graceful: like SIGTERM. Returns the exit status (None when it was killed)."""
        if self.killed:
            return None
        if not self.task.done():
            self.runtime.stop()
        return await asyncio.wait_for(asyncio.shield(self.task), seconds)

    async def kill(self) -> None:
        """Abrupt: cancel the runtime task, as close to a crash as one process allows (handlers
        are cancelled mid-flight, leases are not released). Closes its NATS connection first."""
        self.killed = True
        bus = self.runtime.bus
        if bus is not None:
            with contextlib.suppress(Exception):
                await bus.nc.close()
        self.task.cancel()  # once: the runtime's cleanup runs (a dead process frees its sockets too)
        await asyncio.wait({self.task}, timeout=15.0)
        while not self.task.done():
            self.task.cancel()
            await asyncio.wait({self.task}, timeout=2.0)
        await self.runtime.health.stop()


@contextlib.asynccontextmanager
async def run_service(
    service: S | Callable[[], S],
    *,
    nats_url: str,
    kubeconfig: str | Path | None = None,
    tmp_path: Path,
    config: Mapping[str, Any] | None = None,
    wait_ready: bool = True,
    grace: float = 5.0,
) -> AsyncIterator[RunningService[S]]:
    """Run a service until the block ends (graceful stop), see the module docstring."""
    svc = service if isinstance(service, Service) else service()
    path = tmp_path / f"{svc.name}-{next(_counter)}.yaml"
    cfg = write_config(path, service_config_data(nats_url, kubeconfig, config))
    runtime = Runtime(svc, cfg, health_port=0, health_host="127.0.0.1", grace=grace)
    task = asyncio.create_task(runtime.serve(), name=f"service:{svc.name}")
    running = RunningService(svc, runtime, task, cfg, path)
    try:
        if wait_ready:
            await running.wait_ready()
        yield running
    finally:
        if running.killed:
            pass
        elif not task.done():
            runtime.stop()
            try:
                await asyncio.wait_for(asyncio.shield(task), grace + 10)
            except TimeoutError:
                await running.kill()
        else:
            with contextlib.suppress(BaseException):
                task.result()


@dataclass
class ServiceEnv:
    """The sandbox, the NATS URL and a tmp dir, with `run(...)` pre-filled."""

    sandbox: Sandbox
    nats_url: str
    tmp_path: Path

    @property
    def kubeconfig(self) -> Path:
        return self.sandbox.kubeconfig_path

    def run(
        self, service: S | Callable[[], S], *, config: Mapping[str, Any] | None = None,
        wait_ready: bool = True, grace: float = 5.0,
    ) -> contextlib.AbstractAsyncContextManager[RunningService[S]]:
        return run_service(service, nats_url=self.nats_url, kubeconfig=self.kubeconfig, tmp_path=self.tmp_path,
                           config=config, wait_ready=wait_ready, grace=grace)


@pytest.fixture
def services_env(sandbox: Sandbox, nats_server: str, tmp_path: Path) -> ServiceEnv:
    return ServiceEnv(sandbox, nats_server, tmp_path)


# ---- Kubernetes object builders and bus readers shared by the service tests ---------------------

SUPER_NODE_ZONE = "ap-guangzhou-3"


def pod_body(
    name: str, namespace: str = "default", *, annotations: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None, gates: list[str] | None = None,
    owner: tuple[str, str] | None = None, containers: list[dict[str, Any]] | None = None, **spec: Any,
) -> dict[str, Any]:
    """A pod manifest; `owner=(kind, name)` adds a controller ownerReference."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels or {}),
                            "annotations": dict(annotations or {})}
    if owner is not None:
        kind, owner_name = owner
        api_version = "batch/v1" if kind == "Job" else "apps/v1"
        meta["ownerReferences"] = [{"apiVersion": api_version, "kind": kind, "name": owner_name,
                                    "uid": f"uid-{kind}-{owner_name}", "controller": True}]
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"containers": containers or [{"name": "app", "image": "nginx:1.27"}], **spec},
    }
    if gates:
        body["spec"]["schedulingGates"] = [{"name": g} for g in gates]
    return body


def super_node_body(subnet_id: str, zone: str = SUPER_NODE_ZONE, *, pods: int = 100, ready: bool = True,
                    unschedulable: bool = False) -> dict[str, Any]:
    """A super node exactly as docs/design.md §2 describes it (what node-status registers)."""
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": f"eklet-{subnet_id}",
            "labels": {"node.kubernetes.io/instance-type": "eklet", "eks.tke.cloud.tencent.com/zone-name": zone,
                       "topology.kubernetes.io/zone": zone, "kubernetes.io/hostname": f"eklet-{subnet_id}"},
            "annotations": {"eks.tke.cloud.tencent.com/subnet-id": subnet_id},
        },
        "spec": {"taints": [{"key": "eks.tke.cloud.tencent.com/eklet", "effect": "NoSchedule"}],
                 **({"unschedulable": True} if unschedulable else {})},
        "status": {
            "capacity": {"pods": str(pods), "cpu": "640", "memory": "5120Gi"},
            "allocatable": {"pods": str(pods), "cpu": "640", "memory": "5120Gi"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "EkletReady"}],
        },
    }


def local_node_body(name: str, *, pods: int = 110) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"capacity": {"pods": str(pods), "cpu": "8", "memory": "32Gi"},
                   "allocatable": {"pods": str(pods), "cpu": "8", "memory": "32Gi"},
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }


UNSCHEDULABLE_STATUS = {"status": {"conditions": [{
    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
    "message": "0/1 nodes are available: 1 Insufficient cpu.",
}]}}


@dataclass(frozen=True)
class BusRecord:
    subject: str
    msg_id: str
    message: Any


async def bus_records(bus: Any, subject: str = "spillway.>", *, idle: float = 0.3) -> list[BusRecord]:
    """Every message stored on `subject` so far (an ephemeral consumer from the start of the
    stream, read until nothing arrives for `idle` seconds)."""

    from spillway.model import messages as m

    sub = await bus.js.pull_subscribe(subject, stream=m.STREAM)
    out: list[BusRecord] = []
    try:
        while True:
            try:
                batch = await sub.fetch(500, timeout=idle)
            except TimeoutError:  # nats' own, or asyncio's when the fetch races a reconnect
                break
            for msg in batch:
                headers = msg.headers or {}
                out.append(BusRecord(msg.subject, headers.get("Nats-Msg-Id", ""), m.decode(msg.subject, msg.data)))
                await msg.ack()
    finally:
        await sub.unsubscribe()
    return out
