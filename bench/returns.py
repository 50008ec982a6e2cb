"""`spillway bench return`: pods that burst because the IDC was full come home once room frees.

The stack's local nodes are filled (one filler pod per node), then `workloads` Deployments of
`pods / workloads` replicas each (200m cpu, no LOCAL_REPLICAS), each with a PodDisruptionBudget
`maxUnavailable: 1`, burst to the super nodes. With every replica running in the cloud and the
switch `RETURN_TO_LOCAL` on, the fillers go; figures from that moment:

- `seconds_to_all_back`: until every replica is Ready on a local node;
- `most_unavailable_at_once`: the most replicas not Ready (or terminating) at one sample, in all
  and in one workload (the budgets allow 1 per workload);
- `evictions_refused_by_budget`: evictions the API refused with 429 from a budget (placement's
  `spillway_return_refusals_total{reason="ReturnDisruptionBudget"}`);
- `flaps`: replacements that went to the cloud again (bound to a super node after the room freed)
  plus the returns placement counted as bounced — must be 0.

Short timings keep it to a minute or two: room stable 2 s, at least 5 s in the cloud, a look every
0.5 s, 6000 returns a minute at most (one at a time per workload still holds).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from spillway.cli.demo import ensure_eks_config
from spillway.cli.stack import LocalStack, StackOptions
from spillway.kube import KubeClient
from spillway.kube.client import MERGE_PATCH, collection_path, object_path
from spillway.model.kube import Pod, decode_pod

Progress = Callable[[str], None]
NS = "default"
LABEL = "bench=return"
CLOUD = "eklet-"
NODE_CPU = 10
POD_CPU_MILLI = 200
RETURNS = {"stableSeconds": 2, "minCloudSeconds": 5, "checkSeconds": 0.5, "maxPerMinute": 6000,
           "settleSeconds": 120, "cooldownSeconds": 600}
SAMPLE_SECONDS = 0.2


def _deployment(name: str, replicas: int, cpu: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name, **labels}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx", "resources": {
                                      "requests": {"cpu": cpu, "memory": "64Mi"}}}]}}}}


def _budget(name: str) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": NS},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": name}}}}


async def _pods(kube: KubeClient, selector: str) -> list[Pod]:
    raw = await kube.get_as(collection_path("v1", "pods", NS), dict[str, Any], labelSelector=selector)
    return [decode_pod(json.dumps(item)) for item in raw["items"]]


def _ready(pod: Pod) -> bool:
    cond = pod.status.condition("Ready")
    return not pod.is_terminating() and cond is not None and cond.status == "True"


async def _wait(check: Callable[[], Any], seconds: float, what: str, progress: Progress) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"return bench: {what} not within {seconds:.0f} s")
        await asyncio.sleep(0.5)
    progress(what)


async def _metrics(stack: LocalStack) -> str:
    url = f"http://127.0.0.1:{stack.health_ports['placement']}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return await resp.text()


def _sample(text: str, name: str, labels: str = "") -> float:
    selector = re.escape(f"{name}{{{labels}}}" if labels else name)
    found = re.search(rf"^{selector} ([0-9.e+-]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def run(state_dir: Path, progress: Progress, pods: int = 200, workloads: int = 10) -> dict[str, Any]:
    per = max(1, pods // workloads)
    total = per * workloads
    nodes = max(1, -(-total * POD_CPU_MILLI // (NODE_CPU * 1000)))
    options = StackOptions(state_dir=state_dir, nodes=nodes, node_cpu=str(NODE_CPU), node_memory="64Gi",
                           start_delay=0.0, emulator_rate_limit=0.0, cloud_rate_limit=0.0, instance_quota=total + 100,
                           config_overrides={"placement": {"returnToLocal": RETURNS}})
    async with LocalStack(options, progress=progress) as stack:
        kube = await KubeClient.connect(str(stack.kubeconfig))
        try:
            await ensure_eks_config(kube)
            await kube.patch(object_path("v1", "configmaps", "eks-config", "kube-system"),
                             {"data": {"RETURN_TO_LOCAL": "true"}}, content_type=MERGE_PATCH)
            filler = _deployment("filler", nodes, str(NODE_CPU), {"bench": "filler"})
            await kube.request("POST", collection_path("apps/v1", "deployments", NS), body=filler)

            async def full() -> bool:
                found = await _pods(kube, "bench=filler")
                return len(found) == nodes and all(_ready(p) and not p.spec.node_name.startswith(CLOUD)
                                                   for p in found)
            await _wait(full, 120, f"the IDC full ({nodes} nodes of {NODE_CPU} cores)", progress)
            names = [f"ret-{i}" for i in range(workloads)]
            for name in names:
                await kube.request("POST", collection_path("apps/v1", "deployments", NS),
                                   body=_deployment(name, per, f"{POD_CPU_MILLI}m", {"bench": "return"}))
                await kube.request("POST", collection_path("policy/v1", "poddisruptionbudgets", NS),
                                   body=_budget(name))

            async def burst() -> bool:
                found = await _pods(kube, LABEL)
                return sum(1 for p in found if _ready(p) and p.spec.node_name.startswith(CLOUD)) == total
            await _wait(burst, 300, f"{total} pods burst and running in the cloud", progress)
            before = {p.metadata.uid for p in await _pods(kube, LABEL)}
            refused_before = _sample(await _metrics(stack), "spillway_return_refusals_total",
                                     'reason="ReturnDisruptionBudget"')
            worst_total, worst_workload, samples = 0, 0, 0
            flapped: set[str] = set()
            progress("freeing the room (the fillers go)")
            await kube.patch(object_path("apps/v1", "deployments", "filler", NS) + "/scale",
                             {"spec": {"replicas": 0}}, content_type=MERGE_PATCH)
            t0 = time.monotonic()
            while True:
                found = await _pods(kube, LABEL)
                samples += 1
                ready = {name: 0 for name in names}
                local = 0
                for pod in found:
                    app = pod.metadata.labels.get("app", "")
                    if _ready(pod) and app in ready:
                        ready[app] += 1
                        local += not pod.spec.node_name.startswith(CLOUD)
                    if pod.metadata.uid not in before and pod.spec.node_name.startswith(CLOUD):
                        flapped.add(pod.metadata.uid)
                unavailable = {name: per - count for name, count in ready.items()}
                worst_total = max(worst_total, sum(unavailable.values()))
                worst_workload = max(worst_workload, *unavailable.values())
                if local == total:
                    break
                if time.monotonic() - t0 > 900:
                    raise TimeoutError(f"return bench: {local}/{total} back after 900 s")
                await asyncio.sleep(SAMPLE_SECONDS)
            seconds = time.monotonic() - t0
            progress(f"{total} pods back in {seconds:.1f} s")
            text = await _metrics(stack)
            bounced = _sample(text, "spillway_return_bounces_total")
            return {
                "pods": total, "workloads": workloads, "pods_per_workload": per, "local_nodes": nodes,
                "budget": "maxUnavailable 1 per workload",
                "seconds_to_all_back": round(seconds, 1),
                "returns_per_second": round(total / seconds, 2) if seconds else 0.0,
                "returns": int(_sample(text, "spillway_returns_total")),
                "most_unavailable_at_once": {"all": worst_total, "one_workload": worst_workload},
                "evictions_refused_by_budget": int(_sample(text, "spillway_return_refusals_total",
                                                           'reason="ReturnDisruptionBudget"') - refused_before),
                "flaps": len(flapped) + int(bounced),
                "samples": samples,
            }
        finally:
            await kube.close()
