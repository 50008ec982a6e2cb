"""Admission end to end: through the sandbox's webhook call, a malformed
LOCAL_REPLICAS reaches kubectl as a Warning, and the pod is still created (never blocked)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from spillway.cli.stack import LocalStack, StackOptions

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not on PATH")]

POD = """apiVersion: v1
kind: Pod
metadata:
  name: typo
  annotations:
    AUTO_SCALE_EKS: "true"
    LOCAL_REPLICAS: "three"
spec:
  containers:
  - name: c
    image: nginx
"""


async def test_malformed_local_replicas_warns_in_kubectl_and_the_pod_is_created(tmp_path: Path) -> None:
    async with LocalStack(StackOptions(state_dir=tmp_path / "stack", services=("admission",))) as stack:
        kubectl = [shutil.which("kubectl") or "kubectl", "--kubeconfig", str(stack.kubeconfig),
                   "--cache-dir", str(tmp_path / "cache")]
        applied = await asyncio.to_thread(subprocess.run, [*kubectl, "apply", "-f", "-"], input=POD,
                                          capture_output=True, text=True, timeout=60)
        assert applied.returncode == 0, applied.stderr
        assert "Warning:" in applied.stderr and "LOCAL_REPLICAS" in applied.stderr
        got = await asyncio.to_thread(subprocess.run, [*kubectl, "get", "pod", "typo", "-o",
                                                       "jsonpath={.spec.schedulingGates}"],
                                      capture_output=True, text=True, timeout=30)
        # gated all the same: placement (not running here) keeps it local and records why
        assert got.returncode == 0 and "spillway.io/placement" in got.stdout
