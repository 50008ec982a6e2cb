"""The original's example end to end: every service its own process, asserted
through the Kubernetes API and the bus, not from printed text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from spillway.cli.demo import NAMESPACE, NGINX_DEPLOYMENT, Printer, all_running, list_pods, run_demo, wait_for
from spillway.cli.stack import LocalStack, StackOptions
from spillway.kube import KubeClient
from spillway.kube.client import collection_path

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_local_replicas_one_of_four_then_scale_down_removes_a_cloud_replica(tmp_path: Path) -> None:
    facts = await run_demo(Printer(as_json=True), tmp_path)
    before, after = facts["pods"], facts["after_scale"]
    assert len(before) == 4 and len(after) == 3
    local = [p for p in before if not p["node"].startswith("eklet-")]
    cloud = [p for p in before if p["node"].startswith("eklet-")]
    assert [p["decision"] for p in local] == ["local"] and len(cloud) == 3
    assert all(p["decision"] == "cloud" and p["reason"] == "LocalQuotaReached" for p in cloud)
    assert all(p["phase"] == "Running" and p["ip"] and len(p["trace_id"]) == 32 for p in before)
    assert len(facts["removed"]) == 1
    removed = next(p for p in before if p["name"] == facts["removed"][0])
    assert removed["node"].startswith("eklet-"), "scale-down must remove a cloud replica first"


async def test_stack_state_through_the_api_and_no_process_left_behind(tmp_path: Path) -> None:
    printer = Printer(as_json=True)
    async with LocalStack(StackOptions(state_dir=tmp_path, start_delay=0.0), progress=printer.progress) as stack:
        pids = stack.pids()
        kube = await KubeClient.connect(str(stack.kubeconfig))
        try:
            await kube.request("POST", collection_path("apps/v1", "deployments", NAMESPACE), body=NGINX_DEPLOYMENT)
            pods = await wait_for(all_running(4), "4 running pods", 60, printer, kube)
            gated_once = all(p.metadata.annotations.get("controller.kubernetes.io/pod-deletion-cost") == "-100"
                             for p in pods if p.spec.node_name.startswith("eklet-"))
            assert gated_once
            nodes = await kube.get_as(collection_path("v1", "nodes"), dict[str, Any])
            supers = [n for n in nodes["items"] if n["metadata"]["name"].startswith("eklet-")]
            assert len(supers) == 2
            for node in supers:
                ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
                assert ready["Ready"] == "True"
                assert node["spec"]["taints"] == [{"key": "eks.tke.cloud.tencent.com/eklet", "effect": "NoSchedule"}]
            assert len(await list_pods(kube)) == 4
        finally:
            await kube.close()
    assert pids and not [name for name, pid in pids.items() if alive(pid)]


def test_spillway_demo_json_exits_0(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "spillway.cli", "demo", "--json", "--state-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    facts = json.loads(result.stdout)
    assert set(facts) == {"pods", "after_scale", "removed"}
    assert set(facts["pods"][0]) == {"name", "node", "phase", "ip", "decision", "reason", "trace_id"}
