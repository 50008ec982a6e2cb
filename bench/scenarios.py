"""The `spillway bench` scenarios. Each boots the local stack (sandbox + emulator
with start delay 0 + embedded NATS, every service its own process), drives it through the
Kubernetes API like a user would, and returns plain figures. `bench/README.md` explains them.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from bench.figures import summary
from bench.observe import PodObserver, cores, emulator_calls, stack_cpu, stack_rss
from spillway.cli.demo import ensure_eks_config
from spillway.cli.stack import DEMO_SECRET_ID, DEMO_SUBNETS, LocalStack, StackOptions
from spillway.kube import KubeClient
from spillway.kube.client import MERGE_PATCH, collection_path, object_path, pod_path

Progress = Callable[[str], None]
NS = "default"


def deployment(
    name: str, replicas: int, local_replicas: int, cpu: str = "100m", memory: str = "128Mi"
) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels,
                             "annotations": {"AUTO_SCALE_EKS": "true", "LOCAL_REPLICAS": str(local_replicas)}},
                "spec": {"containers": [{"name": "app", "image": "nginx",
                                         "resources": {"requests": {"cpu": cpu, "memory": memory}}}]},
            },
        },
    }


async def scale(kube: KubeClient, name: str, replicas: int) -> None:
    await kube.patch(object_path("apps/v1", "deployments", name, NS) + "/scale", {"spec": {"replicas": replicas}},
                     content_type=MERGE_PATCH)


async def _booted(state_dir: Path, progress: Progress, **overrides: Any) -> LocalStack:
    options = StackOptions(state_dir=state_dir, start_delay=0.0, emulator_rate_limit=0.0, cloud_rate_limit=0.0,
                           **overrides)
    stack = LocalStack(options, progress=progress)
    try:
        await stack.start()
    except BaseException:
        await stack.stop()
        raise
    return stack


# ---- burst + limit --------------------------------------------------------------------------

async def burst(state_dir: Path, progress: Progress, n: int = 2000, with_limit: bool = True) -> dict[str, Any]:
    """One Deployment scaled 0 → n with LOCAL_REPLICAS "0": every pod bursts."""
    stack = await _booted(state_dir, progress, instance_quota=n * 3 + 1000)
    try:
        kube = await KubeClient.connect(str(stack.kubeconfig))
        try:
            await ensure_eks_config(kube)
            await kube.request("POST", collection_path("apps/v1", "deployments", NS), body=deployment("burst", 0, 0))
            observer = PodObserver(kube, NS, "app=burst")
            await observer.start()
            calls_before = await emulator_calls(stack)
            cpu_before = stack_cpu(stack)
            progress(f"scaling burst 0 → {n}")
            t0 = time.monotonic()
            await scale(kube, "burst", n)
            all_bound = await observer.wait_until(lambda o: o.count("bound") >= n, 300)
            t_created = max((t.first_seen for t in observer.pods.values()), default=t0) - t0
            t_bound = max((t.bound or t0 for t in observer.pods.values()), default=t0) - t0
            progress(f"{observer.count('bound')}/{n} bound after {t_bound:.1f} s")
            all_running = await observer.wait_until(lambda o: o.count("running") >= n, 300)
            t_running = max((t.running or t0 for t in observer.pods.values()), default=t0) - t0
            progress(f"{observer.count('running')}/{n} running after {t_running:.1f} s")
            calls_after = await emulator_calls(stack)
            cpu_after = stack_cpu(stack)
            latencies = [t.bound - t.first_seen for t in observer.pods.values() if t.bound is not None]
            super_bound = sum(1 for t in observer.pods.values() if t.node.startswith("eklet-"))
            rss = stack_rss(stack)
            await observer.stop()
            result: dict[str, Any] = {
                "pods": n,
                "all_bound": all_bound,
                "all_running": all_running,
                "bound_to_super_nodes": super_bound,
                "seconds_to_all_created": round(t_created, 2),
                "seconds_to_all_bound": round(t_bound, 2),
                "seconds_to_all_running": round(t_running, 2),
                "pods_per_second_bound": round(n / t_bound, 1) if t_bound else 0.0,
                "pods_per_second_running": round(n / t_running, 1) if t_running else 0.0,
                "decision_latency": summary(latencies, quantiles=(50, 90, 99), extremes=False),
                "cloud_calls_per_pod": {action: round((calls_after.get(action, 0) - calls_before.get(action, 0)) / n, 3)
                                        for action in sorted(calls_after)},
                "peak_rss_mb": rss,
                "cpu_seconds": {name: round(cpu_after[name] - cpu_before.get(name, 0.0), 2) for name in cpu_after},
            }
            if with_limit:
                limit = await tight_client_limit(stack, kube, min(n, 1000), progress)
                result["limit"] = limit
                if limit["pods_per_second"]:
                    result["pipeline_to_limit_ratio"] = round(result["pods_per_second_running"]
                                                              / limit["pods_per_second"], 2)
            return result
        finally:
            await kube.close()
    finally:
        await stack.stop()


async def tight_client_limit(stack: LocalStack, kube: KubeClient, n: int, progress: Progress) -> dict[str, Any]:
    """The least API work per pod, replayed straight against the same sandbox and emulator:
    one bind, one create call, one status patch — no bus, no policy, no look-before-create."""
    from spillway.cloud import TkeProvider, TkeSettings

    ns = "limit"
    await kube.request("POST", collection_path("v1", "namespaces"),
                       body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    names = [f"limit-{i}" for i in range(n)]
    # Pods nobody else touches: a scheduler name no scheduler serves, outside the watcher's interest.
    for i in range(0, n, 100):
        await asyncio.gather(*(kube.request("POST", collection_path("v1", "pods", ns), body={
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"schedulerName": "bench-none", "containers": [{"name": "c", "image": "nginx"}]},
        }) for name in names[i:i + 100]))
    settings = TkeSettings(secret_id=DEMO_SECRET_ID, secret_key=stack._secret_key, region="ap-guangzhou",
                           endpoint=stack.emulator_endpoint, protocol="http", rate_per_action=0.0)
    provider = TkeProvider(settings)
    node = f"eklet-{DEMO_SUBNETS[0][0]}"
    params_template = {
        "Containers": [{"Name": "c", "Image": "nginx"}], "SecurityGroupIds": ["sg-spillway"],
        "SubnetId": DEMO_SUBNETS[0][0], "VpcId": "vpc-spillway", "Cpu": 1.0, "Memory": 2.0,
    }
    semaphore = asyncio.Semaphore(64)

    async def one(name: str) -> None:
        async with semaphore:
            await kube.bind_pod(ns, name, node)
            await provider.api.call_once(
                "CreateEKSContainerInstances", params_template | {"EksCiName": f"limit-{uuid.uuid4().hex[:12]}"},
                idempotent=False)
            await kube.patch(pod_path(ns, name) + "/status",
                             {"status": {"phase": "Running", "podIP": "10.9.0.1"}}, content_type=MERGE_PATCH)

    progress(f"limit: {n} pods by a tight client (bind + create + status patch)")
    t0 = time.monotonic()
    try:
        await asyncio.gather(*(one(name) for name in names))
    finally:
        await provider.close()
    elapsed = time.monotonic() - t0
    return {"pods": n, "seconds": round(elapsed, 2), "pods_per_second": round(n / elapsed, 1)}


# ---- steady ---------------------------------------------------------------------------------

def _bare_pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """A bare pod (its own workload) that bursts: LOCAL_REPLICAS "0"."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels,
                     "annotations": {"AUTO_SCALE_EKS": "true", "LOCAL_REPLICAS": "0"}},
        "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "100m"}}}]},
    }


async def at_rate(total: int, rate: float, start: Callable[[int], Coroutine[Any, Any, object]]) -> float:
    """Start `start(i)` for i in 0..total-1 at a fixed `rate` per second (each on schedule, not
    after the previous one ends), wait for all; returns the rate achieved."""
    t0 = time.monotonic()
    tasks = []
    for i in range(total):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(start(i)))
    await asyncio.gather(*tasks)
    return total / (time.monotonic() - t0)


async def steady_arrivals(kube: KubeClient, progress: Progress, *, rate: float, seconds: float, warmup: int,
                          what: str = "steady") -> tuple[list[float], float]:
    """Bare pods created at a fixed `rate` for `seconds`, after `warmup` pods (connections, caches,
    lazy imports of every process) that are not measured: each measured pod's decision latency
    (seconds from first seen to bound) and the creation rate achieved."""
    warm = PodObserver(kube, NS, "bench=warmup")
    await warm.start()
    await asyncio.gather(*(kube.request("POST", collection_path("v1", "pods", NS),
                                        body=_bare_pod(f"warmup-{i}", {"bench": "warmup"}))
                           for i in range(warmup)))
    await warm.wait_until(lambda o: o.count("bound") >= warmup, 60)
    await warm.stop()
    observer = PodObserver(kube, NS, "bench=steady")
    await observer.start()
    total = int(rate * seconds)
    progress(f"{what}: {total} pods at {rate:.0f}/s (after {warmup} warm-up pods)")
    achieved = await at_rate(total, rate, lambda i: kube.request(
        "POST", collection_path("v1", "pods", NS), body=_bare_pod(f"steady-{i}", {"bench": "steady"})))
    await observer.wait_until(lambda o: o.count("bound") >= total, 120)
    latencies = [t.bound - t.first_seen for t in observer.pods.values() if t.bound is not None]
    await observer.stop()
    return latencies, achieved


async def steady(state_dir: Path, progress: Progress, rate: float = 100.0, seconds: float = 30.0,
                 warmup: int = 50) -> dict[str, Any]:
    """Bare pods arriving at a fixed rate, measured after a warm-up: the steady state."""
    stack = await _booted(state_dir, progress, instance_quota=int(rate * seconds) + warmup + 100)
    try:
        kube = await KubeClient.connect(str(stack.kubeconfig))
        try:
            await ensure_eks_config(kube)
            latencies, achieved = await steady_arrivals(kube, progress, rate=rate, seconds=seconds, warmup=warmup)
            return {"pods": int(rate * seconds), "warmup_pods": warmup, "target_rate": rate,
                    "achieved_rate": round(achieved, 1), "bound": len(latencies),
                    "decision_latency": summary(latencies, quantiles=(50, 90, 99), extremes=False)}
        finally:
            await kube.close()
    finally:
        await stack.stop()


# ---- admission ------------------------------------------------------------------------------

def _review(i: int) -> bytes:
    return msgspec.json.encode({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()), "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": NS,
            "operation": "CREATE", "userInfo": {"username": "bench"},
            "object": {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": f"adm-{i}", "namespace": NS,
                                    "annotations": {"AUTO_SCALE_EKS": "true", "LOCAL_REPLICAS": "2"}},
                       "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    })


async def admission(state_dir: Path, progress: Progress, rate: float = 500.0, seconds: float = 10.0) -> dict[str, Any]:
    """AdmissionReview requests straight at the webhook at a fixed rate."""
    stack = await _booted(state_dir, progress, services=("admission",))
    try:
        url = f"https://127.0.0.1:{stack.admission_port}/mutate"
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        latencies: list[float] = []
        errors = 0
        total = int(rate * seconds)
        progress(f"admission: {total} reviews at {rate:.0f}/s")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=64)) as session:
            async def one(i: int) -> None:
                nonlocal errors
                body = _review(i)
                start = time.monotonic()
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.monotonic() - start)

            for _ in range(50):  # warm the connections
                await one(0)
            latencies.clear()
            achieved = await at_rate(total, rate, one)
        return {"requests": total, "target_rate": rate, "achieved_rate": round(achieved, 1), "errors": errors,
                **summary(latencies, extremes=False)}
    finally:
        await stack.stop()


# ---- scaledown ------------------------------------------------------------------------------

async def scaledown(state_dir: Path, progress: Progress, cloud: int = 500, local: int = 500) -> dict[str, Any]:
    """`local` local + `cloud` cloud pods of one Deployment, scaled to `local`: which go first?"""
    nodes = max(1, (local + 99) // 100)
    stack = await _booted(state_dir, progress, nodes=nodes, node_cpu="64", node_memory="256Gi",
                          instance_quota=cloud + 100)
    try:
        kube = await KubeClient.connect(str(stack.kubeconfig))
        try:
            await ensure_eks_config(kube)
            total = cloud + local
            await kube.request("POST", collection_path("apps/v1", "deployments", NS),
                               body=deployment("mixed", total, local))
            observer = PodObserver(kube, NS, "app=mixed")
            await observer.start()
            progress(f"scaledown: waiting for {local} local + {cloud} cloud pods")
            await observer.wait_until(lambda o: o.count("running") >= total, 300)
            progress(f"scaling {total} → {local}")
            await scale(kube, "mixed", local)
            await observer.wait_until(lambda o: o.count("terminating") >= total - local, 120)
            removed = [t for t in observer.pods.values() if t.terminating is not None]
            cloud_removed = sum(1 for t in removed if t.node.startswith("eklet-"))
            await observer.stop()
            return {"pods_before": total, "removed": len(removed), "cloud_removed": cloud_removed,
                    "share_cloud_first": round(cloud_removed / len(removed), 3) if removed else 0.0}
        finally:
            await kube.close()
    finally:
        await stack.stop()


async def idc_scale(state_dir: Path, progress: Progress, pods: int = 5000) -> dict[str, Any]:
    """Spillway started into an IDC already running `pods` pods (`bench/scale.py`)."""
    from bench.scale import scale_scenario

    return await scale_scenario(state_dir, progress, pods)


SCENARIOS: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
    "burst": burst, "steady": steady, "admission": admission, "scaledown": scaledown, "scale": idc_scale,
}


def header() -> dict[str, Any]:
    return {"cores": cores(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
