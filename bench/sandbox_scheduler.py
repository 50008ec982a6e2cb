"""Benchmark: does the sandbox stay responsive while its scheduler simulation holds thousands
of pending pods? 2,000 pods that cannot fit anywhere are created; while the scheduler works
through them (and re-evaluates them as a node changes), GET pod, LIST nodes and PATCH pod
latencies are measured over HTTP. Target: p99 well under 100 ms.

`python -m bench.sandbox_scheduler [--pods N] [--samples N]`; `run()` returns the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.figures import summary
from spillway.sandbox import Sandbox, SandboxOptions
from spillway.sandbox.scheduler import Scheduler, run_scheduler
from spillway.sandbox.topology import uniform


async def run(pods: int = 2000, samples: int = 1000, nodes: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        options = SandboxOptions(kubeconfig=Path(tmp) / "kubeconfig", nodes=uniform(nodes, cpu="1"),
                                 workload_controllers=True, scheduler=False, kubelet=True, webhooks=True,
                                 kubelet_delay=0.0)
        scheduler: list[Scheduler] = []

        async def scheduler_loop(sb: Sandbox) -> None:
            scheduler.append(Scheduler(sb.store))
            await run_scheduler(sb, scheduler[0])

        options.controllers.append(scheduler_loop)
        async with Sandbox(options) as sb:
            headers = {"Authorization": f"Bearer {sb.admin_token}", "Content-Type": "application/json"}
            deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "huge"},
                          "spec": {"replicas": pods, "selector": {"matchLabels": {"app": "huge"}},
                                   "template": {"metadata": {"labels": {"app": "huge"}}, "spec": {"containers": [
                                       {"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "2"}}}]}}}}
            started = time.perf_counter()
            await sb.store.create("deployments", deployment, namespace="default")

            def unschedulable() -> int:
                return sum(1 for p in sb.store.list("pods", "default")[0]
                           if any(c.get("reason") == "Unschedulable" for c in p["status"].get("conditions") or []))

            while unschedulable() < pods:  # noqa: ASYNC110 - polling the store is the measurement
                await asyncio.sleep(0.05)
            all_marked = time.perf_counter() - started
            target = sb.store.list("pods", "default")[0][0]["metadata"]["name"]
            lat: dict[str, list[float]] = {"get_pod": [], "list_nodes": [], "patch_pod": []}
            evaluations_before = scheduler[0].evaluations
            sampling_started = time.perf_counter()
            churn = asyncio.create_task(_churn_nodes(sb))
            async with aiohttp.ClientSession(headers=headers) as http:
                for i in range(samples):
                    for name, method, path, body in (
                            ("get_pod", "GET", f"/api/v1/namespaces/default/pods/{target}", None),
                            ("list_nodes", "GET", "/api/v1/nodes", None),
                            ("patch_pod", "PATCH", f"/api/v1/namespaces/default/pods/{target}",
                             {"metadata": {"annotations": {"bench": str(i)}}})):
                        t0 = time.perf_counter()
                        async with http.request(method, sb.url + path, data=json.dumps(body) if body else None,
                                                headers={"Content-Type": "application/merge-patch+json"}) as r:
                            await r.read()
                            assert r.status == 200, r.status
                        lat[name].append(time.perf_counter() - t0)
                    await asyncio.sleep(0.005)
            sampling = time.perf_counter() - sampling_started
            churn.cancel()
            node_changes = await asyncio.gather(churn, return_exceptions=True)
            return {"pods_pending": pods, "nodes": nodes, "cores": os.cpu_count(),
                    "seconds_to_mark_all_unschedulable": round(all_marked, 2),
                    "sampling_seconds": round(sampling, 2),
                    "node_changes_during_sampling": node_changes[0] if isinstance(node_changes[0], int) else None,
                    "pod_evaluations_during_sampling": scheduler[0].evaluations - evaluations_before,
                    **{name: summary(values) for name, values in lat.items()}}


async def _churn_nodes(sb: Sandbox) -> int:
    """Label a node every 200 ms: each change sends the whole unschedulable queue back through
    the scheduler (after backoff), the worst case for API responsiveness."""
    changes = 0
    try:
        while True:
            await asyncio.sleep(0.2)
            changes += 1
            await sb.store.patch("nodes", None, "node-1", {"metadata": {"labels": {"churn": str(changes)}}},
                                 "application/merge-patch+json")
    except asyncio.CancelledError:
        return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.pods, args.samples))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:40} {value}")


if __name__ == "__main__":
    main()
