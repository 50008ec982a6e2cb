"""`spillway sandbox --nodes 1` as a subprocess plus kubectl: a Deployment runs on the local
node until it is full, then the rest stay Pending/Unschedulable ."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from tests.fixtures.sandbox import KUBECTL, needs_kubectl

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx}
spec:
  replicas: 3
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        resources: {requests: {cpu: 1200m, memory: 64Mi}}
"""


async def kubectl(kubeconfig: Path, cache: Path, *args: str, stdin: str | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        KUBECTL or "kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 30)
    assert proc.returncode == 0, err.decode()
    return out.decode()


@pytest.mark.slow
@needs_kubectl
async def test_spillway_sandbox_runs_a_deployment(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "spillway.cli", "sandbox", "--port", "0", "--kubeconfig", str(kubeconfig),
        "--nodes", "1", "--kubelet-delay", "0.1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert b"serving on" in line, line
        cache = tmp_path / "cache"
        nodes = await kubectl(kubeconfig, cache, "get", "nodes")
        assert "node-1" in nodes and "Ready" in nodes
        await kubectl(kubeconfig, cache, "apply", "-f", "-", stdin=DEPLOYMENT)
        for _ in range(150):
            pods = json.loads(await kubectl(kubeconfig, cache, "get", "pods", "-l", "app=nginx", "-o", "json"))
            phases = sorted(p["status"]["phase"] for p in pods["items"])
            reasons = [c.get("reason") for p in pods["items"] for c in p["status"].get("conditions") or []
                       if c["type"] == "PodScheduled" and c["status"] == "False"]
            if phases == ["Pending", "Pending", "Running"] and len(reasons) == 2:
                break
            await asyncio.sleep(0.1)
        assert phases == ["Pending", "Pending", "Running"] and reasons == ["Unschedulable", "Unschedulable"]
        running = next(p for p in pods["items"] if p["status"]["phase"] == "Running")
        assert running["spec"]["nodeName"] == "node-1" and running["status"]["podIP"].startswith("10.244.1.")
        wide = await kubectl(kubeconfig, cache, "get", "pods", "-o", "wide")
        assert "node-1" in wide and "Running" in wide and "Pending" in wide
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
