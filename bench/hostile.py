"""Benchmark: the pure policy and translation on hostile pods — what each call costs per pod.

Every value that once broke Spillway (`Infinity`, 5,000 digits, an exponent of 30 million,
numeric quantities, volumes the cloud cannot mount, probes on undeclared ports) is drawn at
random, from a fixed seed, into whole pods; each pod goes through admission's `review`, the
placement `decide` and the cloud `translate_pod`, and each call is timed on its own. A parse that
is not bounded shows here as a max of seconds; the figures are per call, in microseconds.
No call may raise: the count of exceptions is a figure too (it must be 0).

`spillway bench hostile [--pods N]`; `run()` returns the figures.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.figures import summary
from spillway.model.kube import (
    ANNOTATION_AUTO_SCALE,
    ANNOTATION_CPU,
    ANNOTATION_LOCAL_REPLICAS,
    ANNOTATION_MEM,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    from_builtins,
)
from spillway.policy.admission import review
from spillway.policy.engine import PlacementInput, decide
from spillway.policy.nodes import SuperNodeState
from spillway.policy.options import PolicyOptions
from spillway.policy.workload import workload_of
from spillway.translate import TranslationContext, TranslationError, translate_pod

HUGE_DIGITS = "9" * 5000
HOSTILE_TEXT = [
    "", " ", "Infinity", "-Infinity", "inf", "NaN", "nan", "1e30000000", "-1e30000000", "1e-30000000",
    "1e99999999999", "1E2147483648", HUGE_DIGITS, "0" * 4999 + "1", "-1", "+1", "1.5", "٣", "0x10", "1_000",
    "\x00", "\n", "true\n", "TRUE", " false ", "null", "1" * 65, "2147483647", "2147483648", "00000000000000000003",
    "é" * 300, "x" * 70000,
]
"""Values that broke a parser once, or could: every annotation Spillway reads gets them."""

USUAL_QUANTITIES = ["100m", "250m", "1", "2", "4", "128Mi", "512Mi", "1Gi", "8Gi", "600Gi", "1e3", "1.5e2"]
EXTREME_QUANTITIES = ["9" * 5000, "1e30000000", "1E-30000000", "0.000000001", "999999999999999999999999Ei", "-1"]
VOLUMES: list[dict[str, Any]] = [
    {"name": "scratch", "emptyDir": {}},
    {"name": "data", "persistentVolumeClaim": {"claimName": "nfs-claim"}},
    {"name": "ceph", "persistentVolumeClaim": {"claimName": "ceph-claim"}},
    {"name": "fs", "cephfs": {"monitors": ["10.16.154.78:6789"], "path": "/data"}},
    {"name": "inline", "csi": {"driver": "secrets-store.csi.k8s.io", "readOnly": True}},
]
PVCS = {
    "nfs-claim": {"metadata": {"name": "nfs-claim", "namespace": "default"}, "spec": {"volumeName": "pv-nfs"}},
    "ceph-claim": {"metadata": {"name": "ceph-claim", "namespace": "default"}, "spec": {"volumeName": "pv-ceph"}},
}
PVS = {
    "pv-nfs": {"metadata": {"name": "pv-nfs"}, "spec": {"nfs": {"server": "10.0.0.9", "path": "/"}}},
    "pv-ceph": {"metadata": {"name": "pv-ceph"}, "spec": {"cephfs": {"monitors": ["10.0.0.8:6789"], "path": "/"}}},
}


def hostile_pod(rng: random.Random, index: int) -> dict[str, Any]:
    """One whole pod; about a third of its Spillway annotations and a fifth of its quantities are hostile."""

    def value(*usual: str) -> str:
        return rng.choice(HOSTILE_TEXT) if rng.random() < 0.3 else rng.choice(usual)

    def quantity() -> str:
        return rng.choice(EXTREME_QUANTITIES) if rng.random() < 0.2 else rng.choice(USUAL_QUANTITIES)

    annotations = {key: value(*usual) for key, usual in (
        (ANNOTATION_AUTO_SCALE, ("true", "false")), (ANNOTATION_LOCAL_REPLICAS, ("0", "1", "3")),
        (ANNOTATION_CPU, ("2", "500m")), (ANNOTATION_MEM, ("4Gi", "512Mi"))) if rng.random() < 0.8}
    containers = []
    for c in range(rng.randint(1, 3)):
        container: dict[str, Any] = {
            "name": f"c{c}", "image": "nginx", "ports": [{"name": "web", "containerPort": 8080}],
            "resources": {"requests": {"cpu": quantity(), "memory": quantity()}, "limits": {"cpu": quantity()}}}
        if rng.random() < 0.3:
            container["livenessProbe"] = {"httpGet": {"path": "/", "port": rng.choice(["web", "metrics", 8080])}}
        if rng.random() < 0.1:
            container["lifecycle"] = {"postStart": {"httpGet": {"path": "/", "port": rng.choice([80, 9100])}}}
        containers.append(container)
    spec: dict[str, Any] = {"containers": containers, "volumes": rng.sample(VOLUMES, rng.randint(0, 2)),
                            "schedulingGates": [{"name": "spillway.io/placement"}]}
    if rng.random() < 0.3:
        spec["nodeSelector"] = {"kubernetes.io/os": "linux"}
    return {"metadata": {"name": f"hostile-{index}", "namespace": "default", "uid": f"uid-{index}",
                         "annotations": annotations,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs-1",
                                              "uid": "rs-uid", "controller": True}]},
            "spec": spec, "status": {"phase": "Pending"}}


def _super_node() -> Node:
    return from_builtins({
        "metadata": {"name": "eklet-subnet-0a1b2c3d", "labels": {
            "node.kubernetes.io/instance-type": "eklet", "topology.kubernetes.io/zone": "ap-guangzhou-3",
            "failure-domain.beta.kubernetes.io/zone": "ap-guangzhou-3", "kubernetes.io/os": "linux"}},
        "spec": {"taints": [{"key": "eks.tke.cloud.tencent.com/eklet", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"pods": "1000"}, "conditions": [{"type": "Ready", "status": "True"}]},
    }, Node)


def _timed(fn: Callable[[], Any], samples: list[float]) -> Any:
    started = time.perf_counter()
    try:
        return fn()
    finally:
        samples.append(time.perf_counter() - started)


def _calls(pod: Pod, local_count: int, options: PolicyOptions, nodes: list[SuperNodeState],
           pvcs: dict[str, PersistentVolumeClaim], pvs: dict[str, PersistentVolume],
           context: TranslationContext) -> list[tuple[str, Callable[[], Any]]]:
    """The three calls a pod meets on its way: admission, placement, the cloud-provisioner."""
    placement = PlacementInput(pod, workload_of(pod, lambda _ns, _rs: None), "gated", None, options, local_count,
                               nodes, pvc_lookup=lambda _ns, claim: pvcs.get(claim), pv_lookup=pvs.get)
    return [("review", lambda: review(pod, None, options)), ("decide", lambda: decide(placement)),
            ("translate", lambda: translate_pod(pod, context))]


def run(pods: int = 5000, seed: int = 12) -> dict[str, Any]:
    rng = random.Random(seed)
    options = PolicyOptions()
    nodes = [SuperNodeState(_super_node(), 0)]
    pvcs = {name: from_builtins(obj, PersistentVolumeClaim) for name, obj in PVCS.items()}
    pvs = {name: from_builtins(obj, PersistentVolume) for name, obj in PVS.items()}
    context = TranslationContext(instance_name="spw-bench", subnet_id="subnet-0a1b2c3d", vpc_id="vpc-1",
                                 security_group_ids=("sg-1",), node_name="eklet-subnet-0a1b2c3d",
                                 persistent_volumes=pvs)
    timings: dict[str, list[float]] = {"review": [], "decide": [], "translate": []}
    outcomes: Counter[str] = Counter()
    exceptions: Counter[str] = Counter()
    for index in range(pods):
        pod = from_builtins(hostile_pod(rng, index), Pod)
        local_count = rng.randint(0, 4)
        for name, call in _calls(pod, local_count, options, nodes, pvcs, pvs, context):
            try:
                result = _timed(call, timings[name])
            except TranslationError:
                outcomes["translate refused"] += 1
                continue
            except Exception as exc:  # the figure that must stay 0
                exceptions[f"{name}: {type(exc).__name__}"] += 1
                continue
            if name == "decide":
                outcomes[f"decide {result.outcome.value}: {result.reason}"] += 1
    return {"pods": pods, "seed": seed, **{name: summary(samples, "us") for name, samples in timings.items()},
            "exceptions": dict(exceptions) or 0,
            "outcomes": dict(sorted(outcomes.items(), key=lambda item: -item[1])[:8])}
