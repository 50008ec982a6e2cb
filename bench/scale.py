"""`spillway bench scale --pods N`: Spillway started into an IDC that already runs N pods.

The cluster is built before any process starts: an in-process sandbox store is filled through its
own write path (create, bind, the kubelet's status patch — so every object is what the API would
have stored) for one pod per ReplicaSet, the ReplicaSet's other replicas are that pod re-stamped
(name, uid, node, IPs), and the result is written as the sandbox's snapshot, which `spillway
sandbox --data-dir` restores at start. 100 pods per node, Deployments of 20 replicas (2,500 at
50,000 pods), pods of about 8 KB of JSON each.

Then the stack starts (NATS, sandbox, emulator, every service its own process) and the scenario
measures: the time until every service is ready, RSS and CPU per process (start, idle, peak),
NATS storage, a 500-pod burst, steady decisions, and CPU per 1,000 pod status updates (churn).
`bench/README.md` explains the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

from bench.figures import summary
from bench.observe import PodObserver, peak_rss_mb, stack_cpu
from bench.scenarios import NS, Progress, deployment, scale, steady_arrivals
from spillway.cli.demo import ensure_eks_config
from spillway.cli.stack import LocalStack, StackOptions
from spillway.kube import KubeClient
from spillway.kube.client import MERGE_PATCH, collection_path, pod_path
from spillway.sandbox import persistence
from spillway.sandbox.controllers.base import owner_reference
from spillway.sandbox.controllers.deployment import HASH_LABEL, REVISION
from spillway.sandbox.controllers.template import pod_from_template, template_hash
from spillway.sandbox.kubelet import running_status
from spillway.sandbox.semantics import rfc3339
from spillway.sandbox.store import Store
from spillway.sandbox.topology import ensure_nodes, host_ip, pod_cidr, uniform

PODS_PER_NODE = 100
REPLICAS = 20
WORKLOAD_NAMESPACES = 10
NODE_CPU, NODE_MEMORY, NODE_PODS = "64", "256Gi", 110
BURST = 500
STEADY_RATE, STEADY_SECONDS, STEADY_WARMUP = 20.0, 15.0, 20
CHURN_UPDATES = 5000
CHURN_CONCURRENCY = 32
IDLE_SECONDS = 10.0


# ---- the IDC --------------------------------------------------------------------------------

def workload_template(index: int) -> dict[str, Any]:
    """A production-like pod template: an app container and a log sidecar, env, probes, mounts,
    the projected service-account volume the API adds; one Deployment in ten opts into bursting
    with LOCAL_REPLICAS equal to its size (it runs locally until it grows)."""
    app = f"svc-{index:05d}"
    team = f"team-{index % 37:02d}"
    labels = {"app": app, "app.kubernetes.io/name": app, "app.kubernetes.io/part-of": f"product-{index % 53}",
              "team": team, "tier": ("web", "api", "worker", "cache")[index % 4],
              "version": f"v{index % 9}.{index % 7}"}
    annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "prometheus.io/path": "/metrics",
                   "kubectl.kubernetes.io/restartedAt": "2026-11-20T08:00:00Z",
                   "sidecar.istio.io/inject": "false", "cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}
    if index % 10 == 0:
        annotations |= {"AUTO_SCALE_EKS": "true", "LOCAL_REPLICAS": str(REPLICAS)}
    prefix = app.upper().replace("-", "_")
    env: list[dict[str, Any]] = [{"name": f"{prefix}_SETTING_{i}", "value": f"value-{index}-{i}-" + "x" * (i % 13)}
                                 for i in range(20)]
    env += [{"name": variable, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}
            for variable, path in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace"),
                                   ("POD_IP", "status.podIP"), ("NODE_NAME", "spec.nodeName"))]
    env += [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": f"{app}-db", "key": "password"}}},
            {"name": "FEATURE_FLAGS", "valueFrom": {"configMapKeyRef": {"name": f"{app}-flags", "key": "flags"}}},
            {"name": "JAVA_OPTS", "value": "-XX:+UseG1GC -XX:MaxRAMPercentage=75.0 -Dfile.encoding=UTF-8"}]
    probe = {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"}, "initialDelaySeconds": 10,
             "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}
    mounts = [{"name": "config", "mountPath": "/etc/app", "readOnly": True},
              {"name": "data", "mountPath": "/var/lib/app"},
              {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
               "readOnly": True}]
    containers = [
        {"name": "app", "image": f"registry.idc.example.com/{team}/{app}:1.{index % 20}.{index % 7}",
         "command": ["/app/bin/server"], "args": ["--config=/etc/app/config.yaml", "--port=8080", "--log-json"],
         "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}],
         "env": env, "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                   "limits": {"cpu": "1", "memory": "1Gi"}},
         "livenessProbe": probe, "readinessProbe": {**probe, "initialDelaySeconds": 5},
         "volumeMounts": mounts,
         "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
                             "capabilities": {"drop": ["ALL"]}}},
        {"name": "log-agent", "image": "registry.idc.example.com/infra/fluent-bit:2.2.0",
         "args": ["-c", "/fluent-bit/etc/fluent-bit.conf"],
         "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "APP", "value": app},
                 {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
         "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
         "volumeMounts": [{"name": "data", "mountPath": "/var/lib/app", "readOnly": True}]},
    ]
    init = [{"name": "wait-for-db", "image": "registry.idc.example.com/infra/wait-for:1.4",
             "command": ["/bin/wait-for", f"{app}-db.{team}.svc.cluster.local:5432", "--timeout=120s"],
             "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}}]
    volumes = [
        {"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}},
        {"name": "data", "emptyDir": {}},
        {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                           "fieldPath": "metadata.namespace"}}]}}]}},
    ]
    return {"metadata": {"labels": labels, "annotations": annotations},
            "spec": {"initContainers": init, "containers": containers, "volumes": volumes,
                     "terminationGracePeriodSeconds": 30,
                     "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                         {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": app}},
                                                             "topologyKey": "kubernetes.io/hostname"}}]}}}}


def _restamp(pod: dict[str, Any], name: str, node: str, node_index: int, slot: int) -> dict[str, Any]:
    """Another replica of the same ReplicaSet: the first one's stored object with this replica's own
    name, uid, node and addresses (everything else the API stores is the same for both)."""
    twin = copy.deepcopy(pod)
    meta, spec, status = twin["metadata"], twin["spec"], twin["status"]
    uid = str(uuid.uuid4())
    meta["name"], meta["uid"] = name, uid
    spec["nodeName"] = node
    ip = _pod_ip(node_index, slot)
    status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
    status["hostIP"] = host_ip(node_index)
    status["hostIPs"] = [{"ip": status["hostIP"]}]
    for c in status.get("containerStatuses") or []:
        c["containerID"] = "containerd://" + uuid.uuid5(uuid.NAMESPACE_OID, f"{uid}/{c['name']}").hex * 2
    return twin


def _pod_ip(node_index: int, slot: int) -> str:
    base = pod_cidr(node_index).split("/")[0].rsplit(".", 1)[0]
    return f"{base}.{slot + 2}"


async def build_idc(pods: int) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    """The sandbox snapshot (resourceVersion, objects) of an IDC running `pods` pods on pods/100
    nodes, from Deployments of 20 replicas: one pod per ReplicaSet through the store's write path,
    the others re-stamped from it, each with a resourceVersion of its own."""
    store = Store(watch_history=0)
    store.bootstrap()
    twins: list[dict[str, Any]] = []
    nodes = uniform(max(1, -(-pods // PODS_PER_NODE)), NODE_CPU, NODE_MEMORY, NODE_PODS)
    await ensure_nodes(store, nodes)
    for ns in range(WORKLOAD_NAMESPACES):
        await store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": f"idc-{ns}"}})
    stamp = rfc3339(store.clock())
    placed = 0
    index = 0
    while placed < pods:
        replicas = min(REPLICAS, pods - placed)
        namespace = f"idc-{index % WORKLOAD_NAMESPACES}"
        template = workload_template(index)
        labels = dict(template["metadata"]["labels"])
        d = await store.create("deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": labels["app"], "namespace": namespace, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": labels["app"]}},
                     "template": template}}, namespace=namespace)
        stored_template = d["spec"]["template"]
        pod_hash = template_hash(stored_template)
        rs_template = copy.deepcopy(stored_template)
        rs_template["metadata"]["labels"][HASH_LABEL] = pod_hash
        rs = await store.create("replicasets", {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{labels['app']}-{pod_hash}", "namespace": namespace,
                         "labels": dict(rs_template["metadata"]["labels"]), "annotations": {REVISION: "1"},
                         "ownerReferences": [owner_reference(d)]},
            "spec": {"replicas": replicas, "minReadySeconds": 0,
                     "selector": {"matchLabels": {"app": labels["app"], HASH_LABEL: pod_hash}},
                     "template": rs_template}}, namespace=namespace)
        rs_name = rs["metadata"]["name"]
        first: dict[str, Any] | None = None
        for _ in range(replicas):
            node_index = placed // PODS_PER_NODE + 1
            node = nodes[node_index - 1].name
            slot = placed % PODS_PER_NODE
            name = f"{rs_name}-{uuid.uuid4().hex[:5]}"
            if first is None:
                pod = pod_from_template(rs, rs_template, name=name)
                created = await store.create("pods", pod, namespace=namespace)
                await store.bind(namespace, name, {"target": {"kind": "Node", "name": node}})
                bound = store.get("pods", namespace, name)
                status = running_status(bound["spec"], created["metadata"]["uid"], host_ip(node_index),
                                        _pod_ip(node_index, slot), stamp)
                first = await store.patch("pods", namespace, name, {"status": status},
                                          "application/strategic-merge-patch+json", subresource="status")
            else:
                twin = _restamp(first, name, node, node_index, slot)
                store.rv += 1
                twin["metadata"]["resourceVersion"] = str(store.rv)
                twins.append(twin)
            placed += 1
        status = {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                  "availableReplicas": replicas, "observedGeneration": 1}
        await store.patch("replicasets", namespace, rs_name, {"status": status}, MERGE_PATCH, subresource="status")
        await store.patch("deployments", namespace, labels["app"], {"status": {
            "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas,
            "availableReplicas": replicas, "conditions": [
                {"type": "Available", "status": "True", "lastUpdateTime": stamp, "lastTransitionTime": stamp,
                 "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
                {"type": "Progressing", "status": "True", "lastUpdateTime": stamp, "lastTransitionTime": stamp,
                 "reason": "NewReplicaSetAvailable",
                 "message": f'ReplicaSet "{rs_name}" has successfully progressed.'}]}},
            MERGE_PATCH, subresource="status")
        index += 1
    return store.rv, [*store.objects(), *(("pods", twin) for twin in twins)]


async def write_idc(pods: int, data_dir: Path) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Build the IDC and write it where `spillway sandbox --data-dir data_dir` restores it from;
    returns what was built and the pods' (namespace, name)."""
    t0 = time.monotonic()
    rv, objects = await build_idc(pods)
    built = time.monotonic() - t0
    persistence.write(data_dir, rv, objects)
    pod_bytes = [len(msgspec.json.encode(obj)) for bucket, obj in objects if bucket == "pods"]
    names = [(obj["metadata"]["namespace"], obj["metadata"]["name"]) for bucket, obj in objects if bucket == "pods"]
    count = {bucket: sum(1 for b, _ in objects if b == bucket) for bucket in ("nodes", "deployments")}
    return {"pods": len(pod_bytes), **count, "pod_json_bytes_mean": round(sum(pod_bytes) / max(1, len(pod_bytes))),
            "snapshot_mb": round((data_dir / persistence.SNAPSHOT).stat().st_size / 2**20, 1),
            "seconds_to_build": round(built, 2)}, names


# ---- measuring the stack --------------------------------------------------------------------

def _vm_mb(pid: int, field: str) -> float | None:
    """A /proc/<pid>/status memory figure (VmRSS, VmHWM) in MB; None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _rss(stack: LocalStack) -> dict[str, float | None]:
    return {name: _vm_mb(pid, "VmRSS") for name, pid in stack.pids().items()}


def _peaks(stack: LocalStack) -> dict[str, float | None]:
    return {name: peak_rss_mb(pid) for name, pid in stack.pids().items()}


def _delta(after: dict[str, float], before: dict[str, float], per: float = 1.0) -> dict[str, float]:
    return {name: round((after[name] - before.get(name, 0.0)) / per, 3) for name in sorted(after)}


async def _consumers(stack: LocalStack) -> list[dict[str, Any]]:
    """Every durable consumer of the event stream: name, pending, waiting for an ack."""
    from spillway.bus import Bus
    from spillway.bus.permissions import ADMIN
    from spillway.model import messages as m

    bus = await Bus.connect(stack.nats_address, service="bench", user=ADMIN, password=stack.nats_password(ADMIN),
                            max_reconnect_attempts=3)
    try:
        infos = await bus.js.consumers_info(m.STREAM)
    finally:
        await bus.close(drain=False)
    return [{"name": i.name, "pending": i.num_pending or 0, "ack_pending": i.num_ack_pending or 0} for i in infos]


async def _drained(stack: LocalStack, seconds: float, need: str = "") -> bool:
    """Until every consumer of the stream has nothing pending or unacknowledged twice in a row (and,
    with `need`, a consumer whose name contains it exists), or `seconds` pass."""
    deadline = time.monotonic() + seconds
    calm = 0
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            consumers = await _consumers(stack)
            present = not need or any(need in c["name"] for c in consumers)
            idle = all(c["pending"] == 0 and c["ack_pending"] == 0 for c in consumers)
            calm = calm + 1 if present and idle else 0
            if calm >= 2:
                return True
        await asyncio.sleep(0.25)
    return False


async def _quiet(stack: LocalStack, name: str, seconds: float) -> None:
    """Until process `name` has used under 20 ms of CPU in half a second (it finished its work)."""
    deadline = time.monotonic() + seconds
    before = stack_cpu(stack).get(name, 0.0)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = stack_cpu(stack).get(name, 0.0)
        if now - before < 0.02:
            return
        before = now


async def _nats_storage(stack: LocalStack) -> dict[str, float]:
    """Bytes each stream (KV buckets are streams `KV_<bucket>`) holds, in MB, and the store on disk."""
    from spillway.bus import Bus
    from spillway.bus.permissions import ADMIN

    bus = await Bus.connect(stack.nats_address, service="bench", user=ADMIN, password=stack.nats_password(ADMIN),
                            max_reconnect_attempts=3)
    try:
        streams = await bus.js.streams_info()
    finally:
        await bus.close(drain=False)
    out = {s.config.name or "?": round((s.state.bytes or 0) / 2**20, 2) for s in streams}
    store = stack.state_dir / "nats"
    on_disk = sum(p.stat().st_size for p in store.rglob("*") if p.is_file()) if store.exists() else 0
    return {**dict(sorted(out.items())), "on_disk": round(on_disk / 2**20, 1)}


# ---- the scenario ---------------------------------------------------------------------------

async def scale_scenario(state_dir: Path, progress: Progress, pods: int = 5000) -> dict[str, Any]:
    """Spillway started into an IDC of `pods` running pods; see the module docstring."""
    progress(f"scale: building an IDC of {pods} pods ({-(-pods // PODS_PER_NODE)} nodes)")
    idc, names = await write_idc(pods, state_dir / "sandbox")
    progress(f"scale: snapshot of {idc['snapshot_mb']} MB built in {idc['seconds_to_build']} s")
    marks: dict[str, float] = {}

    def mark(message: str) -> None:
        marks.setdefault(message.split(":")[0], time.monotonic())
        progress(message)

    options = StackOptions(state_dir=state_dir, start_delay=0.0, emulator_rate_limit=0.0, cloud_rate_limit=0.0,
                           instance_quota=4000, nodes=idc["nodes"], node_cpu=NODE_CPU, node_memory=NODE_MEMORY,
                           ready_timeout=600.0)
    stack = LocalStack(options, progress=mark)
    t0 = time.monotonic()
    try:
        await stack.start()
        t_ready = time.monotonic()
        progress("scale: waiting until the event consumers have drained")
        drained = await _drained(stack, 300.0, need="decide")
        t_settled = time.monotonic()
        started_cpu = stack_cpu(stack)
        start_peaks = _peaks(stack)
        services_from = marks.get("starting services", t0)
        result: dict[str, Any] = {
            "idc": idc,
            "seconds_sandbox_ready": round(marks.get("starting services", t0) - marks.get(
                "starting the Kubernetes sandbox and the TKE Serverless emulator", t0), 2),
            "seconds_services_ready": round(t_ready - services_from, 2),
            "seconds_all_ready_and_drained": round(t_settled - services_from, 2),
            "drained": drained,
            "startup_cpu_seconds": {k: round(v, 2) for k, v in sorted(started_cpu.items())},
            "startup_peak_rss_mb": start_peaks,
        }
        progress(f"scale: ready in {result['seconds_services_ready']} s, drained after "
                 f"{result['seconds_all_ready_and_drained']} s; idle for {IDLE_SECONDS:.0f} s")
        await asyncio.sleep(IDLE_SECONDS)
        result["idle_rss_mb"] = _rss(stack)
        result["idle_cpu_seconds"] = _delta(stack_cpu(stack), started_cpu)
        result["nats_storage_mb_after_start"] = await _nats_storage(stack)
        kube = await KubeClient.connect(str(stack.kubeconfig))
        try:
            await ensure_eks_config(kube)
            result["burst"] = await _burst(stack, kube, progress)
            result["steady"] = await _steady(stack, kube, progress)
            result["churn"] = await _churn(stack, kube, progress, names)
        finally:
            await kube.close()
        result["nats_storage_mb_at_end"] = await _nats_storage(stack)
        result["peak_rss_mb"] = _peaks(stack)
        result["cpu_seconds_total"] = {k: round(v, 2) for k, v in sorted(stack_cpu(stack).items())}
        return result
    finally:
        await stack.stop()


async def _burst(stack: LocalStack, kube: KubeClient, progress: Progress) -> dict[str, Any]:
    await kube.request("POST", collection_path("apps/v1", "deployments", NS), body=deployment("burst", 0, 0))
    observer = PodObserver(kube, NS, "app=burst")
    await observer.start()
    cpu_before = stack_cpu(stack)
    progress(f"scale: burst of {BURST}")
    t0 = time.monotonic()
    await scale(kube, "burst", BURST)
    all_bound = await observer.wait_until(lambda o: o.count("bound") >= BURST, 300)
    t_created = max((t.first_seen for t in observer.pods.values()), default=t0) - t0
    t_bound = max((t.bound or t0 for t in observer.pods.values()), default=t0) - t0
    latencies = [t.bound - t.first_seen for t in observer.pods.values() if t.bound is not None]
    on_super = sum(1 for t in observer.pods.values() if t.node.startswith("eklet-"))
    cpu = _delta(stack_cpu(stack), cpu_before)
    # the burst's tail (instances starting, statuses synced) must not fall into the next figure
    await observer.wait_until(lambda o: o.count("running") >= BURST, 120)
    await observer.stop()
    await _drained(stack, 60.0)
    return {"pods": BURST, "all_bound": all_bound, "bound_to_super_nodes": on_super,
            "seconds_to_all_created": round(t_created, 2), "seconds_to_all_bound": round(t_bound, 2),
            "pods_per_second_bound": round(BURST / t_bound, 1) if t_bound else 0.0,
            "decision_latency": summary(latencies, quantiles=(50, 99), extremes=False), "cpu_seconds": cpu}


async def _steady(stack: LocalStack, kube: KubeClient, progress: Progress) -> dict[str, Any]:
    total = int(STEADY_RATE * STEADY_SECONDS)
    latencies, _ = await steady_arrivals(kube, progress, rate=STEADY_RATE, seconds=STEADY_SECONDS,
                                         warmup=STEADY_WARMUP, what="scale: steady")
    return {"pods": total, "rate": STEADY_RATE, "bound": len(latencies),
            "decision_latency": summary(latencies, quantiles=(50, 90, 99)),
            "over_100_ms": sum(1 for seconds in latencies if seconds > 0.1)}


async def _churn(stack: LocalStack, kube: KubeClient, progress: Progress,
                 names: list[tuple[str, str]]) -> dict[str, Any]:
    """Status updates of running local pods, as kubelets send them when readiness flaps: each one
    flips the pod's Ready and ContainersReady conditions."""
    if not names:
        return {}
    targets = [names[(i * 7919) % len(names)] for i in range(CHURN_UPDATES)]
    semaphore = asyncio.Semaphore(CHURN_CONCURRENCY)
    await _quiet(stack, "watcher", 30.0)
    before = stack_cpu(stack)
    progress(f"scale: churn, {CHURN_UPDATES} pod status updates")
    t0 = time.monotonic()

    async def one(i: int, namespace: str, name: str) -> None:
        ready = "False" if i % 2 == 0 else "True"
        stamp = rfc3339(time.time())
        conditions = [{"type": t, "status": ready, "lastTransitionTime": stamp} for t in ("Ready", "ContainersReady")]
        async with semaphore:
            with contextlib.suppress(Exception):
                await kube.patch(pod_path(namespace, name) + "/status", {"status": {"conditions": conditions}})

    await asyncio.gather(*(one(i, ns, name) for i, (ns, name) in enumerate(targets)))
    sent = time.monotonic() - t0
    await _quiet(stack, "watcher", 60.0)
    await _drained(stack, 60.0)
    per_thousand = _delta(stack_cpu(stack), before, CHURN_UPDATES / 1000)
    return {"updates": CHURN_UPDATES, "updates_per_second": round(CHURN_UPDATES / sent, 1),
            "cpu_seconds_per_1000_updates": per_thousand}
