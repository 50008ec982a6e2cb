"""What the chaos suite and the resilience tests share: a local stack with a
short orphan-GC grace, a burst driver, the end-state verdict and the printed figures.

The verdict is read from the parts themselves, never from logs: pods from the API, instances
from the emulator's admin state, dead letters from the `SPILLWAY` stream. A pod is accounted
for when it is Running with an IP, or Failed with a reason a user can act on; one that is still
Pending at the deadline is "stuck", and "stuck silently" when no Warning event names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import nats
import nats.errors

from bench.scenarios import deployment as bench_deployment
from spillway.cli.demo import ensure_eks_config
from spillway.cli.stack import CLUSTER_ID, LocalStack, StackOptions
from spillway.cloud import InstanceNaming
from spillway.kube import KubeClient, cluster_uid
from spillway.kube.client import collection_path
from spillway.model import messages
from spillway.model.kube import Pod, decode_pod

NS = "default"
GC_GRACE_SECONDS = 3.0
GC_INTERVAL_SECONDS = 2.0
SUPER_NODE_PREFIX = "eklet-"


class ChaosStack(LocalStack):
    """The local stack with a short orphan-GC grace (so "zero orphans after GC" is checkable in
    seconds, not minutes) and the chaos levers every scenario pulls."""

    def config_dict(self) -> dict[str, Any]:
        config = super().config_dict()
        config["provisioner"] = {"gcGraceSeconds": GC_GRACE_SECONDS, "gcIntervalSeconds": GC_INTERVAL_SECONDS}
        return config

    async def restart_nats(self, down: float = 2.0) -> float:
        """Stop the NATS server (the store stays), keep it down `down` seconds, start it again on
        the same port and store; returns the seconds it was unreachable."""
        assert self.nats is not None
        started = time.monotonic()
        await self.nats.astop()
        await asyncio.sleep(down)
        await self.nats.astart()
        return time.monotonic() - started

    async def sandbox_chaos(self, **request: bool) -> dict[str, Any]:
        """`POST /debug/spillway/chaos` on the sandbox (drop watches, compact history)."""
        return await self._post(f"{self.sandbox_url}/debug/spillway/chaos", request, sandbox=True)

    async def emulator_faults(self, faults: dict[str, Any]) -> dict[str, Any]:
        return await self._post(f"{self.emulator_url}/_admin/faults", faults)

    async def emulator_state(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.emulator_url}/_admin/state") as resp:
            state: dict[str, Any] = await resp.json()
            return state

    async def _post(self, url: str, body: dict[str, Any], sandbox: bool = False) -> dict[str, Any]:
        headers = {}
        if sandbox:  # the sandbox wants the kubeconfig's bearer token
            import yaml

            config = yaml.safe_load(self.kubeconfig.read_text())
            headers["Authorization"] = f"Bearer {config['users'][0]['user']['token']}"
        async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as resp:
            answer: dict[str, Any] = await resp.json()
            assert resp.status == 200, answer
            return answer


@contextlib.asynccontextmanager
async def running_stack(state_dir: Path, **options: Any) -> AsyncIterator[tuple[ChaosStack, KubeClient]]:
    """Boot the stack (instant instance start, no emulator rate limit unless asked) and a client."""
    options.setdefault("start_delay", 0.0)
    options.setdefault("emulator_rate_limit", 0.0)
    stack = ChaosStack(StackOptions(state_dir=state_dir, **options), progress=lambda msg: print(f"  stack: {msg}"))
    async with stack:
        kube = await KubeClient.connect(str(stack.kubeconfig))
        try:
            await ensure_eks_config(kube)
            yield stack, kube
        finally:
            await kube.close()


def deployment(name: str, replicas: int, local_replicas: int = 0) -> dict[str, Any]:
    """Every replica beyond `local_replicas` bursts (LOCAL_REPLICAS), small enough for any spec."""
    return bench_deployment(name, replicas, local_replicas)


async def start_burst(kube: KubeClient, name: str, replicas: int) -> float:
    """Create the Deployment with all its replicas at once; returns the monotonic start time."""
    started = time.monotonic()
    await kube.request("POST", collection_path("apps/v1", "deployments", NS), body=deployment(name, replicas))
    return started


async def create_bare_pods(kube: KubeClient, app: str, count: int) -> float:
    """`count` bare pods (each its own workload, LOCAL_REPLICAS "0": each bursts); nothing
    replaces one that fails, so each one's own end state is visible. Returns the start time."""
    started = time.monotonic()

    async def one(i: int) -> None:
        await kube.request("POST", collection_path("v1", "pods", NS), body={
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{app}-{i}", "labels": {"app": app},
                         "annotations": {"AUTO_SCALE_EKS": "true", "LOCAL_REPLICAS": "0"}},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "app", "image": "nginx",
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
        })

    await asyncio.gather(*(one(i) for i in range(count)))
    return started


async def list_pods(kube: KubeClient, app: str) -> list[Pod]:
    raw = await kube.get_as(collection_path("v1", "pods", NS), dict[str, Any], labelSelector=f"app={app}")
    return [decode_pod(json.dumps(item)) for item in raw.get("items", [])]


async def warning_events(kube: KubeClient) -> dict[str, list[str]]:
    """Warning events by involved pod name: `reason: message`."""
    raw = await kube.get_as(collection_path("v1", "events", NS), dict[str, Any])
    found: dict[str, list[str]] = {}
    for event in raw.get("items", []):
        if event.get("type") == "Warning":
            pod = (event.get("involvedObject") or {}).get("name", "")
            found.setdefault(pod, []).append(f"{event.get('reason')}: {event.get('message')}")
    return found


async def dead_letters(nats_url: str) -> list[dict[str, Any]]:
    """Every DeadLetter in the SPILLWAY stream (subjects `spillway.dlq.>`), oldest first."""
    nc = await nats.connect(nats_url, max_reconnect_attempts=2)
    try:
        js = nc.jetstream()
        info = await js.stream_info(messages.STREAM, subjects_filter=messages.DLQ_ALL)
        if not info.state.subjects:
            return []
        sub = await js.pull_subscribe(messages.DLQ_ALL, stream=messages.STREAM)
        letters: list[dict[str, Any]] = []
        while True:
            try:
                batch = await sub.fetch(100, timeout=1)
            except nats.errors.TimeoutError:
                break
            for msg in batch:
                letters.append(json.loads(msg.data))
                await msg.ack()
        await sub.unsubscribe()
        return letters
    finally:
        await nc.close()


@dataclass
class Verdict:
    """The end state of one burst, and whether it is the state we promise."""

    desired: int
    running: int = 0
    cloud_running: int = 0
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    failed_without_reason: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    terminating: list[str] = field(default_factory=list)
    instances: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    missing_instance: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return (self.running == self.desired and not self.pending and not self.terminating
                and not self.failed_without_reason and not self.duplicates
                and not self.missing_instance and not self.orphans)

    @property
    def settled(self) -> bool:
        """Every pod Running or Failed with a reason, and the instances agree (bare pods: nothing
        replaces a Failed one, so "Running == desired" is not the promise)."""
        return (not self.pending and not self.terminating and not self.failed_without_reason
                and not self.duplicates and not self.missing_instance and not self.orphans)

    def summary(self) -> str:
        return (f"{self.running}/{self.desired} running ({self.cloud_running} cloud), failed {self.failed_by_reason}, "
                f"{len(self.pending)} pending, {len(self.terminating)} terminating, {self.instances} instances, "
                f"{len(self.duplicates)} duplicated, {len(self.missing_instance)} without instance, "
                f"{len(self.orphans)} orphans")


async def assess(stack: ChaosStack, kube: KubeClient, app: str, desired: int) -> Verdict:
    pods = await list_pods(kube, app)
    state = await stack.emulator_state()
    naming = InstanceNaming(CLUSTER_ID, await cluster_uid(kube))
    prefix = naming.prefix
    names = Counter(i["EksCiName"] for i in state["instances"] if i["EksCiName"].startswith(prefix))
    # Every pod this cluster still has (any app): an instance for one of them is not an orphan.
    everyone = await kube.get_as(collection_path("v1", "pods"), dict[str, Any])
    owned = {naming.name(item["metadata"]["uid"]) for item in everyone.get("items", [])}
    verdict = Verdict(desired=desired, instances=sum(names.values()))
    verdict.duplicates = {name: n for name, n in names.items() if n > 1}
    verdict.orphans = sorted(name for name in names if name not in owned)
    failed: Counter[str] = Counter()
    for pod in pods:
        name, phase = pod.metadata.name, pod.status.phase
        on_cloud = pod.spec.node_name.startswith(SUPER_NODE_PREFIX)
        if pod.is_terminating():
            verdict.terminating.append(name)
        elif phase == "Running" and pod.status.pod_ip:
            verdict.running += 1
            if on_cloud:
                verdict.cloud_running += 1
                if names.get(naming.name(pod.metadata.uid), 0) == 0:
                    verdict.missing_instance.append(name)
        elif phase == "Failed":
            if pod.status.reason:
                failed[pod.status.reason] += 1
            else:
                verdict.failed_without_reason.append(name)
        else:
            verdict.pending.append(name)
    verdict.failed_by_reason = dict(sorted(failed.items()))
    return verdict


async def wait_converged(stack: ChaosStack, kube: KubeClient, app: str, desired: int, seconds: float,
                         every: float = 1.0, settled_only: bool = False) -> tuple[Verdict, float]:
    """Poll the verdict until it holds (`converged`, or `settled` with `settled_only`) or `seconds`
    pass; returns it and the monotonic time it held."""
    deadline = time.monotonic() + seconds
    last = ""
    while True:
        verdict = await assess(stack, kube, app, desired)
        now = time.monotonic()
        if verdict.summary() != last:
            last = verdict.summary()
            print(f"  [{app}] {last}", flush=True)
        done = verdict.settled if settled_only else verdict.converged
        if done or now > deadline:
            return verdict, now
        await asyncio.sleep(every)


async def stuck_silently(kube: KubeClient, verdict: Verdict) -> list[str]:
    """Pods still Pending that no Warning event explains: the failure the resilience tests exist to catch."""
    warnings = await warning_events(kube)
    return sorted(name for name in verdict.pending if not warnings.get(name))


async def chaos_loop(action: Callable[[int], Awaitable[str]], every: float, times: int,
                     log: list[str]) -> None:
    """Run `action(i)` every `every` seconds, `times` times, recording what each one did."""
    for i in range(times):
        await asyncio.sleep(every)
        started = time.monotonic()
        what = await action(i)
        log.append(f"{what} ({time.monotonic() - started:.1f} s)")
        print(f"  chaos: {log[-1]}", flush=True)


@dataclass
class Figures:
    """What every scenario prints (`pytest -s`) and writes to `<tmp>/figures.json`."""

    scenario: str
    pods: int
    cores: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))
    seconds_to_converge: float = 0.0
    converged: bool = False
    chaos_actions: list[str] = field(default_factory=list)
    restarts: int = 0
    instances_live: int = 0
    cloud_calls: dict[str, int] = field(default_factory=dict)
    cloud_errors: dict[str, dict[str, int]] = field(default_factory=dict)
    failed_pods_by_reason: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    orphans: int = 0
    dead_letters: int = 0
    verdict: str = ""

    def report(self, out_dir: Path) -> None:
        data = asdict(self)
        text = json.dumps(data, indent=2)
        print(f"\nchaos figures ({self.scenario}):\n{text}", flush=True)
        (out_dir / "figures.json").write_text(text)


async def figures_for(scenario: str, stack: ChaosStack, verdict: Verdict, started: float, converged_at: float,
                      actions: list[str], letters: list[dict[str, Any]], restarts: int = 0) -> Figures:
    state = await stack.emulator_state()
    calls: dict[str, int] = state.get("calls", {})
    return Figures(
        scenario=scenario, pods=verdict.desired, seconds_to_converge=round(converged_at - started, 1),
        converged=verdict.converged, chaos_actions=actions, restarts=restarts, instances_live=verdict.instances,
        cloud_calls=dict(sorted(calls.items())),
        cloud_errors=state.get("errors", {}), failed_pods_by_reason=verdict.failed_by_reason,
        duplicates=len(verdict.duplicates), orphans=len(verdict.orphans), dead_letters=len(letters),
        verdict=verdict.summary(),
    )


POISON = b"chaos: deliberately undecodable"


async def inject_poison(nats_url: str) -> None:
    """One undecodable message on a subject two services consume: the only dead letters allowed."""
    nc = await nats.connect(nats_url, max_reconnect_attempts=2)
    try:
        await nc.jetstream().publish(messages.POD_BOUND, POISON, headers={"Nats-Msg-Id": "chaos-poison"})
    finally:
        await nc.close()


def unexpected_letters(letters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [letter for letter in letters if letter.get("payload") != POISON.decode()]


# ---- helpers of the corpus, poison and fault tests (any namespace, any kind) ---------------------

PLURALS = {
    "Pod": ("v1", "pods"), "PersistentVolumeClaim": ("v1", "persistentvolumeclaims"),
    "PersistentVolume": ("v1", "persistentvolumes"), "ConfigMap": ("v1", "configmaps"),
    "Secret": ("v1", "secrets"), "Service": ("v1", "services"), "ServiceAccount": ("v1", "serviceaccounts"),
    "Node": ("v1", "nodes"), "Namespace": ("v1", "namespaces"),
    "Deployment": ("apps/v1", "deployments"), "ReplicaSet": ("apps/v1", "replicasets"),
    "StatefulSet": ("apps/v1", "statefulsets"), "DaemonSet": ("apps/v1", "daemonsets"),
    "Job": ("batch/v1", "jobs"), "StorageClass": ("storage.k8s.io/v1", "storageclasses"),
}
CLUSTER_SCOPED = {"PersistentVolume", "Node", "Namespace", "StorageClass"}


async def create_object(kube: KubeClient, obj: dict[str, Any], namespace: str = NS) -> None:
    """POST one object of a kind in PLURALS (raises the API's KubeError when it is refused)."""
    group_version, plural = PLURALS[obj["kind"]]
    scope = None if obj["kind"] in CLUSTER_SCOPED else namespace
    await kube.request("POST", collection_path(group_version, plural, scope), body=obj)


async def pods_in(kube: KubeClient, namespace: str, selector: str = "") -> list[dict[str, Any]]:
    params = {"labelSelector": selector} if selector else {}
    raw = await kube.get_as(collection_path("v1", "pods", namespace), dict[str, Any], **params)
    items: list[dict[str, Any]] = raw.get("items", [])
    return items


async def events_in(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    raw = await kube.get_as(collection_path("v1", "events", namespace), dict[str, Any])
    items: list[dict[str, Any]] = raw.get("items", [])
    return items


async def decision_json(nats_url: str, namespace: str, name: str) -> dict[str, Any] | None:
    """What `spillway explain NAMESPACE/POD --json` prints (the same read, in-process), or None."""
    from spillway.cli.explain import fetch

    try:
        record = await fetch(nats_url, namespace, name)
    except ValueError:  # a name no decision can be kept under (`spillway explain` exits 2)
        return None
    if record is None:
        return None
    decoded: dict[str, Any] = json.loads(messages.encode(record))
    return decoded


def explain_cli(nats_url: str, namespace: str, name: str) -> dict[str, Any] | None:
    """`spillway explain NAMESPACE/POD --json` as a user runs it (a subprocess); None on exit 1."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "spillway.cli", "explain", f"{namespace}/{name}", "--json",
                           "--nats", nats_url], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        return None
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def supervised_restarts(stack: LocalStack) -> dict[str, int]:
    """Children the stack had to start again on its own (a crash), with their count."""
    return {name: count for name, count in stack.restarts().items() if count}


def log_evidence(stack: LocalStack, pattern: str = "Traceback|Error|error|exited|restarting",
                 lines: int = 8) -> str:
    """The last matching lines of every log of the stack, for an assertion message."""
    import re

    found: list[str] = []
    for path in sorted(stack.logs_dir.glob("*.log")):
        hits = [line for line in path.read_text(errors="replace").splitlines() if re.search(pattern, line)]
        found += [f"{path.stem}: {line[:300]}" for line in hits[-lines:]]
    return "\n".join(found)
