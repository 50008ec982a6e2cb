"""`spillway demo`: the original product page's example, end to end on this machine.

Boots the local stack (NATS, sandbox with one local node, emulator, every service as its own
process), applies the original's nginx Deployment (4 replicas, `AUTO_SCALE_EKS: "true"`,
`LOCAL_REPLICAS: "1"`), waits until every pod runs, prints them like `kubectl get pod -o wide`
with each pod's decision and trace id, scales to 3, shows that a cloud replica went, and exits 0
leaving no process behind. Every fact printed is read back from the API and the bus.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from spillway.cli.stack import LocalStack, StackError, StackOptions
from spillway.kube import KubeClient, NotFound
from spillway.kube.client import MERGE_PATCH, collection_path, object_path
from spillway.model.kube import EKS_CONFIG_NAME, EKS_CONFIG_NAMESPACE, Pod, decode_pod

NAMESPACE = "default"
DEPLOYMENT = "nginx-deployment"

NGINX_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE, "labels": {"app": "nginx"}},
    "spec": {
        "replicas": 4,
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {
                "annotations": {"AUTO_SCALE_EKS": "true", "LOCAL_REPLICAS": "1"},
                "labels": {"app": "nginx"},
            },
            "spec": {
                "containers": [{
                    "name": "nginx", "image": "nginx", "imagePullPolicy": "IfNotPresent",
                    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
                }],
            },
        },
    },
}


@dataclass
class PodRow:
    name: str
    node: str
    phase: str
    ip: str
    decision: str
    reason: str
    trace_id: str


class Printer:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.started = time.monotonic()

    def progress(self, message: str) -> None:
        stream = sys.stderr if self.as_json else sys.stdout
        print(f"[{time.monotonic() - self.started:5.1f}s] {message}", file=stream, flush=True)

    def table(self, title: str, rows: list[PodRow]) -> None:
        if self.as_json:
            return
        print(f"\n{title}")
        header = ("NAME", "READY", "STATUS", "IP", "NODE", "DECISION", "TRACE ID")
        cells = [header] + [
            (r.name, "1/1" if r.phase == "Running" else "0/1", r.phase, r.ip or "<none>", r.node or "<none>",
             r.decision or "-", r.trace_id or "-")
            for r in rows
        ]
        widths = [max(len(str(row[i])) for row in cells) for i in range(len(header))]
        for row in cells:
            print("   ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


async def list_pods(kube: KubeClient) -> list[Pod]:
    raw = await kube.get_as(collection_path("v1", "pods", NAMESPACE), dict[str, Any], labelSelector="app=nginx")
    pods = [decode_pod(json.dumps(item)) for item in raw.get("items", [])]
    return sorted((p for p in pods if not p.is_terminating()), key=lambda p: p.metadata.name)


async def decision_rows(stack: LocalStack, pods: list[Pod]) -> list[PodRow]:
    from spillway.bus import Bus
    from spillway.model import messages

    bus = await Bus.connect(stack.nats_url, service="demo")
    try:
        decisions = await bus.typed_kv(messages.KV_DECISIONS, messages.PlacementDecision)
        rows: list[PodRow] = []
        for pod in pods:
            # None: the pod was never decided (e.g. scheduled locally before gating)
            try:
                record = await decisions.get(messages.kv_key(pod.metadata.namespace, pod.metadata.name))
            except Exception:  # unreadable: the demo shows the pod undecided rather than stop
                record = None
            rows.append(PodRow(
                name=pod.metadata.name, node=pod.spec.node_name, phase=pod.status.phase,
                ip=pod.status.pod_ip or "", decision=record.outcome if record else "",
                reason=record.reason if record else "", trace_id=record.trace_id if record else "",
            ))
        return rows
    finally:
        await bus.close()


async def wait_for(predicate: Any, what: str, seconds: float, printer: Printer, kube: KubeClient) -> list[Pod]:
    deadline = time.monotonic() + seconds
    last = ""
    while True:
        pods = await list_pods(kube)
        ok, status = predicate(pods)
        if status != last:
            printer.progress(status)
            last = status
        if ok:
            return pods
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {seconds:.0f} s waiting for {what} ({status})")
        await asyncio.sleep(0.25)


def all_running(expected: int) -> Any:
    def check(pods: list[Pod]) -> tuple[bool, str]:
        running = [p for p in pods if p.status.phase == "Running" and p.status.pod_ip]
        cloud = [p for p in running if p.spec.node_name.startswith("eklet-")]
        return (len(pods) == expected and len(running) == expected,
                f"{len(running)}/{expected} pods running ({len(cloud)} in the cloud, {len(pods)} exist)")
    return check


async def run_demo(printer: Printer, state_dir: Path) -> dict[str, Any]:
    options = StackOptions(state_dir=state_dir, nodes=1, node_cpu="1", node_memory="2Gi", start_delay=1.0)
    async with LocalStack(options, progress=printer.progress) as stack:
        kube = await KubeClient.connect(str(stack.kubeconfig))
        try:
            await ensure_eks_config(kube)
            printer.progress("applying nginx-deployment (4 replicas, AUTO_SCALE_EKS=true, LOCAL_REPLICAS=1)")
            await kube.request("POST", collection_path("apps/v1", "deployments", NAMESPACE), body=NGINX_DEPLOYMENT)
            pods = await wait_for(all_running(4), "4 running pods", 60, printer, kube)
            before = await decision_rows(stack, pods)
            printer.table("kubectl get pod -o wide (4 replicas: LOCAL_REPLICAS=1 keeps one local)", before)
            printer.progress("kubectl scale deployment nginx-deployment --replicas=3")
            await kube.patch(object_path("apps/v1", "deployments", DEPLOYMENT, NAMESPACE) + "/scale",
                             {"spec": {"replicas": 3}}, content_type=MERGE_PATCH)
            pods = await wait_for(all_running(3), "3 running pods", 60, printer, kube)
            after = await decision_rows(stack, pods)
            removed = sorted({r.name for r in before} - {r.name for r in after})
            await wait_until_gone(kube, removed, printer)
            printer.table("after scaling to 3 (cloud replicas go first)", after)
            gone = [r for r in before if r.name in removed]
            for row in gone:
                where = "a cloud replica" if row.node.startswith("eklet-") else "a LOCAL replica"
                printer.progress(f"removed {row.name} on {row.node}: {where}")
            return {"pods": [asdict(r) for r in before], "after_scale": [asdict(r) for r in after], "removed": removed}
        finally:
            await kube.close()


async def wait_until_gone(kube: KubeClient, names: list[str], printer: Printer, seconds: float = 60) -> None:
    """A cloud replica is gone once its instance is deleted and node-status finished the pod."""
    printer.progress(f"waiting for {', '.join(names)} to terminate (instance deleted, pod removed)")
    deadline = time.monotonic() + seconds
    for name in names:
        while True:
            try:
                await kube.request("GET", object_path("v1", "pods", name, NAMESPACE))
            except NotFound:
                break
            if time.monotonic() > deadline:
                raise StackError(f"timed out after {seconds:.0f} s waiting for {name} to go")
            await asyncio.sleep(0.25)


async def ensure_eks_config(kube: KubeClient) -> None:
    path = object_path("v1", "configmaps", EKS_CONFIG_NAME, EKS_CONFIG_NAMESPACE)
    try:
        await kube.request("GET", path)
    except NotFound:
        await kube.request("POST", collection_path("v1", "configmaps", EKS_CONFIG_NAMESPACE), body={
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": EKS_CONFIG_NAME, "namespace": EKS_CONFIG_NAMESPACE},
            "data": {"AUTO_SCALE_EKS": "true"},
        })


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="spillway demo", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the facts as JSON on stdout (progress on stderr)")
    parser.add_argument("--state-dir", type=Path, help="keep the stack's state and logs here (default: a temp dir)")
    args = parser.parse_args(argv)
    printer = Printer(args.json)
    with tempfile.TemporaryDirectory(prefix="spillway-demo-") as tmp:
        state_dir = args.state_dir or Path(tmp)
        try:
            facts = asyncio.run(run_demo(printer, state_dir))
        except StackError as exc:
            print(f"spillway demo: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        printer.progress("done: every process stopped")
    return 0
