"""Hostile but plausible inputs must never take the burst down.

One object of each poison kind goes into a running stack: numeric quantities, template names and
labels (`{{uid}}`), unbounded annotations (Infinity, 5,000 digits, an exponent of 30 million), a
pod over 1 MiB, volumes and probes the cloud cannot run, a Ready `eklet` node Spillway does not
manage, a copy of a cloud pod's super-node pin, and a cloud quota that is used up. Then an
ordinary Deployment (4 replicas, `LOCAL_REPLICAS: "1"`) must be served exactly as on a clean
stack: 4 Running, 3 of them on super nodes.

Also: the API refuses what kube-apiserver refuses; every poison pod that exists has a Warning
event naming its reason (or is simply served, for inputs that are valid Kubernetes); no
Deployment makes more than a handful of pods (no failed-pod storm); no child of the stack had to
be restarted and no pod is bound to the foreign node.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from spillway.kube import Invalid, KubeClient, KubeError
from spillway.kube.client import MERGE_PATCH, object_path
from tests.chaos.harness import (
    ChaosStack,
    create_object,
    decision_json,
    deployment,
    events_in,
    log_evidence,
    pods_in,
    running_stack,
    supervised_restarts,
)
from tests.fixtures.eventually import eventually

pytestmark = pytest.mark.slow

NS = "default"
SUPER_NODE_PREFIX = "eklet-"
MANAGED_SUPER_NODE = "eklet-subnet-0a1b2c3d"
FOREIGN_NODE = "eklet-subnet-foreign"
MAX_PODS_PER_DEPLOYMENT = 6
"""One replica plus a handful (5) of replacements: more is a failed-pod storm."""
SETTLE_SECONDS = 25.0
QUOTA_WINDOW_SECONDS = 20.0
SERVE_SECONDS = 90.0
BIG_ENV_CHUNK = 200 * 1024
BIG_ENV_CHUNKS = 6  # ~1.2 MiB: over aiohttp's and NATS' 1 MiB defaults, under the API's 1.5 MiB


def poison_deployment(name: str, *, annotations: dict[str, str] | None = None,
                      labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """A one-replica bursting Deployment whose pod spec (container `app`, then `spec`) is poisoned."""
    body = deployment(name, 1, 0)
    template = body["spec"]["template"]
    template["metadata"]["annotations"].update(annotations or {})
    template["metadata"]["labels"].update(labels or {})
    container = template["spec"]["containers"][0]
    container.update(spec.pop("container", {}))
    template["spec"].update(spec)
    return body


@dataclass
class Poison:
    """One poison object and what must become of its pods."""

    obj: dict[str, Any]
    reasons: set[str] = field(default_factory=set)
    """Warning reasons one of which each of its pods must carry (empty: any Warning)."""
    valid: bool = False
    """Valid Kubernetes: its pods may simply be served (Running) instead of warned about."""
    refused: bool = False
    """kube-apiserver answers 422: the API must refuse it."""
    never_on_super_node: bool = False
    never_in_cloud: bool = False
    """Any scheduler may bind it to a super node (it tolerates and is pinned), but none may run it."""


def poisons() -> dict[str, Poison]:
    big_env = [{"name": f"BLOB_{i}", "value": "x" * BIG_ENV_CHUNK} for i in range(BIG_ENV_CHUNKS)]
    return {
        "numeric-quantities": Poison(poison_deployment(
            "poison-numeric", container={"resources": {"requests": {"cpu": 1, "memory": 134217728},
                                                       "limits": {"cpu": 0.5}}}), valid=True),
        "template-pod-name": Poison({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "vttablet-{{uid}}"},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]}}, refused=True),
        "template-label-value": Poison(poison_deployment("poison-label", labels={"shard": "{{shard}}"}),
                                       refused=True),
        "infinite-cpu": Poison(poison_deployment(
            "poison-inf", annotations={"eks.tke.cloud.tencent.com/cpu": "Infinity"}), {"MalformedAnnotation"}),
        "negative-infinite-mem": Poison(poison_deployment(
            "poison-neginf", annotations={"eks.tke.cloud.tencent.com/mem": "-Infinity"}), {"MalformedAnnotation"}),
        "huge-local-replicas": Poison(poison_deployment(
            "poison-digits", annotations={"LOCAL_REPLICAS": "9" * 5000}), {"MalformedAnnotation"}),
        "huge-exponent": Poison(poison_deployment(
            "poison-exp", annotations={"eks.tke.cloud.tencent.com/cpu": "1e30000000"}),
            {"MalformedAnnotation", "PodTooLarge"}),  # out of range, or a finite value too large: both say why
        "pod-over-1mib": Poison(poison_deployment("poison-big", container={"env": big_env}), valid=True),
        "cephfs": Poison(poison_deployment("poison-cephfs", volumes=[
            {"name": "data", "cephfs": {"monitors": ["10.16.154.78:6789"], "path": "/data"}}]),
            {"UnsupportedVolume"}, never_on_super_node=True),
        "inline-csi": Poison(poison_deployment("poison-csi", volumes=[
            {"name": "data", "csi": {"driver": "secrets-store.csi.k8s.io", "readOnly": True}}]),
            {"UnsupportedVolume"}, never_on_super_node=True),
        "pvc-on-cephfs": Poison(poison_deployment("poison-pvc-cephfs", volumes=[
            {"name": "data", "persistentVolumeClaim": {"claimName": "poison-cephfs-claim"}}]),
            {"UnsupportedVolume"}, never_on_super_node=True),
        "probe-undeclared-port": Poison(poison_deployment("poison-probe", container={
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "metrics"}}}), never_on_super_node=True),
        "copied-super-node-pin": Poison(copied_cloud_pod(), {"FixedIPForbidden"}, never_in_cloud=True),
    }


def copied_cloud_pod() -> dict[str, Any]:
    """What `kubectl get pod CLOUD-POD -o yaml` of a cloud pod gives, reused for a pod that must
    not burst (a fixed IP): the toleration and the pin to one super node, no Spillway annotation."""
    body = deployment("poison-pin", 1, 0)
    template = body["spec"]["template"]
    template["metadata"]["annotations"] = {"tke.cloud.tencent.com/vpc-ip-claim-delete-policy": "Never"}
    template["spec"]["tolerations"] = [
        {"key": "eks.tke.cloud.tencent.com/eklet", "operator": "Exists", "effect": "NoSchedule"}]
    template["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [MANAGED_SUPER_NODE]}]}]}}}
    return body


CEPHFS_VOLUME = {
    "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "poison-cephfs-volume"},
    "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"], "storageClassName": "",
             "claimRef": {"namespace": NS, "name": "poison-cephfs-claim"},
             "cephfs": {"monitors": ["10.16.154.78:6789"], "path": "/data"}},
}
CEPHFS_CLAIM = {
    "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "poison-cephfs-claim"},
    "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": "poison-cephfs-volume",
             "resources": {"requests": {"storage": "1Gi"}}},
}
FOREIGN_SUPER_NODE = {
    "apiVersion": "v1", "kind": "Node",
    "metadata": {"name": FOREIGN_NODE, "labels": {
        "node.kubernetes.io/instance-type": "eklet", "kubernetes.io/hostname": FOREIGN_NODE,
        "topology.kubernetes.io/zone": "ap-guangzhou-3", "eks.tke.cloud.tencent.com/zone-name": "ap-guangzhou-3"},
        "annotations": {"eks.tke.cloud.tencent.com/subnet-id": "subnet-foreign"}},
    "spec": {"taints": [{"key": "eks.tke.cloud.tencent.com/eklet", "effect": "NoSchedule"}]},
}
FOREIGN_NODE_STATUS = {"status": {
    "capacity": {"cpu": "1000", "memory": "4000Gi", "pods": "5000"},
    "allocatable": {"cpu": "1000", "memory": "4000Gi", "pods": "5000"},
    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "a node nobody manages",
                    "lastHeartbeatTime": "2030-01-01T00:00:00Z", "lastTransitionTime": "2030-01-01T00:00:00Z"}]}}


def app_of(pod: dict[str, Any]) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get("app", ""))


@contextlib.asynccontextmanager
async def pods_made(kube: KubeClient) -> AsyncIterator[dict[str, set[str]]]:
    """Every pod uid seen per `app` label while the block runs (polled each second): a Deployment
    whose pods keep failing and being replaced shows as many uids."""
    seen: dict[str, set[str]] = {}

    async def poll() -> None:
        while True:
            with contextlib.suppress(KubeError, OSError):
                for pod in await pods_in(kube, NS):
                    seen.setdefault(app_of(pod), set()).add(pod["metadata"]["uid"])
            await asyncio.sleep(1.0)

    task = asyncio.create_task(poll())
    try:
        yield seen
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def wait_served(kube: KubeClient, app: str, replicas: int, cloud: int, seconds: float) -> str:
    """Until `replicas` pods of `app` are Running with an IP, `cloud` of them on super nodes;
    returns the last state seen (the caller reports it with the other findings)."""
    state = ""

    async def served() -> str | None:
        nonlocal state
        pods = [p for p in await pods_in(kube, NS, f"app={app}") if not p["metadata"].get("deletionTimestamp")]
        running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"
                   and (p.get("status") or {}).get("podIP")]
        on_cloud = [p for p in running if (p["spec"].get("nodeName") or "").startswith(SUPER_NODE_PREFIX)]
        state = (f"{len(pods)} pods, {len(running)} Running, {len(on_cloud)} on super nodes: "
                 + ", ".join(f"{p['metadata']['name']}@{p['spec'].get('nodeName') or '-'}"
                             f"/{(p.get('status') or {}).get('phase')}" for p in pods))
        if len(pods) == replicas and len(running) == replicas and len(on_cloud) == cloud:
            return "served: " + state
        return None

    try:
        return await eventually(served, what=f"{app} served", seconds=seconds, interval=1.0)
    except AssertionError:
        return state


def warnings_by_object(events: list[dict[str, Any]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for event in events:
        if event.get("type") == "Warning":
            found.setdefault((event.get("involvedObject") or {}).get("name", ""), set()).add(str(event.get("reason")))
    return found


async def quota_exhausted_window(stack: ChaosStack, kube: KubeClient) -> dict[str, Any]:
    """A Deployment that bursts while every instance creation answers LimitExceeded (the account's
    quota is used up), for a while; then the quota is back. Returns the emulator's error counts."""
    await stack.emulator_faults({"errors": [{"code": "LimitExceeded", "rate": 1.0,
                                             "action": "CreateEKSContainerInstances",
                                             "message": "The EKS container instance quota of the region is used up."}]})
    await create_object(kube, poison_deployment("poison-quota"))
    await asyncio.sleep(QUOTA_WINDOW_SECONDS)
    state = await stack.emulator_state()
    await stack.emulator_faults({"errors": []})
    errors: dict[str, Any] = state.get("errors", {})
    return errors


async def test_poison_objects_do_not_stop_an_ordinary_burst(tmp_path: Path) -> None:
    cases = poisons()
    async with running_stack(tmp_path, node_cpu="8", node_memory="16Gi") as (stack, kube), pods_made(kube) as made:
        quota_errors = await quota_exhausted_window(stack, kube)
        await create_object(kube, FOREIGN_SUPER_NODE)
        await kube.patch(object_path("v1", "nodes", FOREIGN_NODE) + "/status", FOREIGN_NODE_STATUS,
                         content_type=MERGE_PATCH)
        await create_object(kube, CEPHFS_VOLUME)
        await create_object(kube, CEPHFS_CLAIM, NS)
        answers: dict[str, str] = {}
        for name, case in cases.items():
            try:
                with warnings.catch_warnings():  # aiohttp warns of any body over 1 MiB: that is the point
                    warnings.simplefilter("ignore", ResourceWarning)
                    await create_object(kube, case.obj, NS)
                answers[name] = "created"
            except Invalid as exc:
                answers[name] = f"422 {exc.reason}"
            except KubeError as exc:
                answers[name] = f"{exc.status} {exc.reason}: {str(exc)[:200]}"
        print(f"\nquota window: cloud errors {quota_errors}\nAPI answers: {answers}")
        await asyncio.sleep(SETTLE_SECONDS)

        await create_object(kube, deployment("ordinary", 4, 1), NS)
        served = await wait_served(kube, "ordinary", 4, 3, SERVE_SECONDS)
        print(f"ordinary: {served}")

        pods = await pods_in(kube, NS)
        events = await events_in(kube, NS)
        node_events = (await kube.get_as("/api/v1/events", dict[str, Any])).get("items", [])
        decisions = {p["metadata"]["name"]: await decision_json(stack.nats_url, NS, p["metadata"]["name"])
                     for p in pods if app_of(p).startswith("poison-")}
        restarted = supervised_restarts(stack)
        evidence = log_evidence(stack)
        made_now = {app: len(uids) for app, uids in made.items()}

    warned = warnings_by_object(events)
    failures: list[str] = []
    if not served.startswith("served"):
        failures.append(f"the ordinary Deployment was not served as on a clean stack: {served}")
    if "LimitExceeded" not in str(quota_errors):
        failures.append(f"the quota fault was never hit (nothing tried to create an instance): {quota_errors}")
    for name, case in cases.items():
        if case.refused and answers[name] != "422 Invalid" and not answers[name].startswith("422"):
            failures.append(f"{name}: kube-apiserver answers 422, the API said {answers[name]}")
        if not case.refused and answers[name] != "created":
            failures.append(f"{name}: valid for kube-apiserver, refused: {answers[name]}")
    by_app: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        by_app.setdefault(app_of(pod), []).append(pod)
    apps = {str(case.obj["metadata"]["name"]) if case.obj["kind"] == "Pod" else
            str(case.obj["spec"]["template"]["metadata"]["labels"]["app"]): case for case in cases.values()}
    for app, case in apps.items():
        for pod in by_app.get(app, []):
            name, node = pod["metadata"]["name"], pod["spec"].get("nodeName") or ""
            phase = (pod.get("status") or {}).get("phase")
            reasons = warned.get(name, set())
            served_pod = case.valid and phase == "Running"
            if not served_pod and not (reasons & case.reasons if case.reasons else reasons):
                failures.append(f"{app}: pod {name} ({phase} on {node or '-'}) has no Warning naming "
                                f"{sorted(case.reasons) or 'its reason'}; its warnings: {sorted(reasons)}")
            if case.never_in_cloud and node.startswith(SUPER_NODE_PREFIX) and phase not in (None, "Pending"):
                failures.append(f"{app}: pod {name} runs on super node {node} ({phase})")
            if case.never_on_super_node and node.startswith(SUPER_NODE_PREFIX):
                record = decisions.get(name) or {}
                failures.append(f"{app}: pod {name} is on super node {node}; its decision: "
                                f"{record.get('outcome')}/{record.get('reason')} ({record.get('trigger')})")
    quota_pods = by_app.get("poison-quota", [])
    if quota_pods and not any(warned.get(p["metadata"]["name"]) for p in quota_pods) \
            and not warned.get("poison-quota"):
        failures.append("poison-quota: no Warning on its pods or its Deployment about the exhausted quota")
    storms = {app: n for app, n in made_now.items() if app and app != "ordinary" and n > MAX_PODS_PER_DEPLOYMENT}
    if storms:
        failures.append(f"failed-pod storms (pods made per Deployment of 1 replica): {storms}")
    on_foreign = [p["metadata"]["name"] for p in pods if p["spec"].get("nodeName") == FOREIGN_NODE]
    if on_foreign:
        failures.append(f"pods bound to the foreign super node {FOREIGN_NODE}: {on_foreign}")
    foreign_warned = [e for e in node_events if (e.get("involvedObject") or {}).get("name") == FOREIGN_NODE
                      and e.get("type") == "Warning"]
    if not foreign_warned:
        failures.append(f"no Warning event on the foreign super node {FOREIGN_NODE}")
    if restarted:
        failures.append(f"children restarted by the stack's supervisor: {restarted}")
    print(f"pods made per app: {made_now}")
    assert not failures, "\n".join(failures) + "\n--- service logs ---\n" + evidence
