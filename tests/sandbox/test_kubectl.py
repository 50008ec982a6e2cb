"""kubectl 1.32 against the sandbox, with validation on and an isolated discovery cache."""

from __future__ import annotations

import asyncio

import pytest

from spillway.sandbox import Sandbox
from tests.fixtures.sandbox import KubectlRunner
from tests.sandbox.helpers import node, pod

pytestmark = pytest.mark.kubectl

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
"""


async def test_get_pods_wide_and_nodes(sandbox: Sandbox, kubectl: KubectlRunner) -> None:
    await sandbox.store.create("nodes", node("n1", labels={"node-role.kubernetes.io/worker": ""}))
    await sandbox.store.create("pods", pod("bound", node="n1"), namespace="default")
    await sandbox.store.create("pods", pod("gated", gates=["spillway.io/placement"]), namespace="default")
    got = await kubectl("get", "pods", "-o", "wide")
    assert got.returncode == 0, got.stderr
    header, *rows = got.stdout.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE",
                              "READINESS", "GATES"]
    cells = {r.split()[0]: r.split() for r in rows}
    assert cells["bound"][1:3] == ["0/1", "Pending"] and cells["bound"][6] == "n1"
    assert cells["gated"][2] == "SchedulingGated"
    nodes = await kubectl("get", "nodes")
    assert nodes.returncode == 0, nodes.stderr
    assert nodes.stdout.splitlines()[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes.stdout.splitlines()[1].split()[:3] == ["n1", "Ready", "worker"]


async def test_apply_scale_and_delete_deployment(sandbox: Sandbox, kubectl: KubectlRunner) -> None:
    for replicas, verb in ((2, "created"), (2, "unchanged"), (4, "configured")):
        got = await kubectl("apply", "-f", "-", stdin=DEPLOYMENT.replace("REPLICAS", str(replicas)))
        assert (got.returncode, got.stdout.strip()) == (0, f"deployment.apps/web {verb}"), got.stderr
        assert "warning" not in got.stderr.lower()
    stored = sandbox.store.get("deployments", "default", "web")
    assert stored["spec"]["replicas"] == 4
    assert "kubectl.kubernetes.io/last-applied-configuration" in stored["metadata"]["annotations"]
    got = await kubectl("scale", "deployment", "web", "--replicas=3")
    assert got.returncode == 0, got.stderr
    assert sandbox.store.get("deployments", "default", "web")["spec"]["replicas"] == 3
    table = await kubectl("get", "deployments")
    assert table.stdout.splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table.stdout.splitlines()[1].split()[:2] == ["web", "0/3"]
    got = await kubectl("delete", "deployment", "web")
    assert (got.returncode, got.stdout.strip()) == (0, 'deployment.apps "web" deleted'), got.stderr
    assert sandbox.store.try_get("deployments", "default", "web") is None


async def test_server_side_apply_creates_then_merges(sandbox: Sandbox, kubectl: KubectlRunner) -> None:
    for replicas in (1, 2):
        got = await kubectl("apply", "--server-side", "-f", "-", stdin=DEPLOYMENT.replace("REPLICAS", str(replicas)))
        assert got.returncode == 0, got.stderr
    assert sandbox.store.get("deployments", "default", "web")["spec"]["replicas"] == 2


async def test_get_pods_watch_streams_table_rows(sandbox: Sandbox, kubectl: KubectlRunner) -> None:
    await sandbox.store.create("pods", pod("first"), namespace="default")
    watching = asyncio.ensure_future(kubectl("get", "pods", "-w", "--request-timeout=2s", seconds=10))
    await asyncio.sleep(0.8)
    await sandbox.store.create("pods", pod("second"), namespace="default")
    got = await watching
    names = [line.split()[0] for line in got.stdout.splitlines()[1:]]
    assert names[:2] == ["first", "second"], (got.stdout, got.stderr)


async def test_delete_pod_and_logs_without_kubelet(sandbox: Sandbox, kubectl: KubectlRunner) -> None:
    await sandbox.store.create("pods", pod("p"), namespace="default")
    logs = await kubectl("logs", "p")
    assert logs.returncode != 0 and 'pod "p" has no kubelet endpoint' in logs.stderr
    got = await kubectl("delete", "pod", "p")
    assert (got.returncode, got.stdout.strip()) == (0, 'pod "p" deleted'), got.stderr
    assert sandbox.store.try_get("pods", "default", "p") is None


async def test_dry_run_server_and_diff(sandbox: Sandbox, kubectl: KubectlRunner) -> None:
    got = await kubectl("apply", "--dry-run=server", "-f", "-", stdin=DEPLOYMENT.replace("REPLICAS", "1"))
    assert got.returncode == 0, got.stderr
    assert sandbox.store.try_get("deployments", "default", "web") is None


async def test_create_generators_send_protobuf_we_decode(sandbox: Sandbox, kubectl: KubectlRunner) -> None:
    for args in (("create", "configmap", "c", "--from-literal=a=1"), ("create", "namespace", "team"),
                 ("create", "serviceaccount", "bot", "-n", "team"),
                 ("create", "role", "r", "--verb=get,list", "--resource=pods", "-n", "team"),
                 ("create", "rolebinding", "rb", "--role=r", "--serviceaccount=team:bot", "-n", "team"),
                 ("create", "secret", "generic", "s", "--from-literal=k=v")):
        got = await kubectl(*args)
        assert got.returncode == 0, (args, got.stderr)
    assert sandbox.store.get("configmaps", "default", "c")["data"] == {"a": "1"}
    assert sandbox.store.get("secrets", "default", "s")["data"] == {"k": "dg=="}
    assert sandbox.store.get("roles", "team", "r")["rules"] == [
        {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]
    assert sandbox.store.get("rolebindings", "team", "rb")["subjects"] == [
        {"kind": "ServiceAccount", "name": "bot", "namespace": "team"}]
    namespaces = await kubectl("get", "namespaces")
    assert namespaces.stdout.splitlines()[0].split() == ["NAME", "STATUS", "AGE"]
    unsupported = await kubectl("create", "deployment", "d", "--image=nginx")
    assert unsupported.returncode != 0 and "send Deployment as JSON" in unsupported.stderr
