"""Super node registration (docs/design.md §2 shape), user edits surviving, leases, readiness from cloud health."""

from __future__ import annotations

from functools import partial
from typing import Any

from spillway.emulator.faults import ErrorRule
from spillway.emulator.server import Emulator
from spillway.kube import KubeClient, node_path, object_path
from spillway.kube.leader import parse_micro_time
from spillway.model.kube import Node
from spillway.model.specs import parse_quantity
from spillway.sandbox import Sandbox
from tests.fixtures.cloud import MutableClock
from tests.fixtures.eventually import eventually
from tests.fixtures.sandbox import KubectlRunner
from tests.services.cloud_provisioner.harness import NODE_A, NODE_B
from tests.services.node_status.conftest import Run


async def registered(kube: KubeClient, name: str) -> Node | None:
    try:
        node = await kube.get_as(node_path(name), Node)
    except Exception:
        return None
    return node if node.status.condition("Ready") else None


async def test_super_nodes_have_the_design_shape(kube: KubeClient, run_node_status: Run) -> None:
    async with run_node_status():
        nodes = {n: await eventually(partial(registered, kube, n),
                                     what="the super node registered and Ready") for n in (NODE_A, NODE_B)}
    a = nodes[NODE_A]
    assert {k: a.metadata.labels[k] for k in (
        "node.kubernetes.io/instance-type", "eks.tke.cloud.tencent.com/zone-name", "topology.kubernetes.io/zone",
        "eks.tke.cloud.tencent.com/version", "kubernetes.io/hostname", "kubernetes.io/os")} == {
        "node.kubernetes.io/instance-type": "eklet", "eks.tke.cloud.tencent.com/zone-name": "ap-guangzhou-3",
        "topology.kubernetes.io/zone": "ap-guangzhou-3", "eks.tke.cloud.tencent.com/version": "v2",
        "kubernetes.io/hostname": NODE_A, "kubernetes.io/os": "linux"}
    assert nodes[NODE_B].metadata.labels["topology.kubernetes.io/zone"] == "ap-guangzhou-4"
    assert a.metadata.annotations["eks.tke.cloud.tencent.com/subnet-id"] == "subnet-aaa"
    assert [(t.key, t.value, t.effect) for t in a.spec.taints] == [("eks.tke.cloud.tencent.com/eklet", None,
                                                                     "NoSchedule")]
    assert a.is_ready()
    assert a.status.capacity["pods"] == "50" and a.status.capacity["cpu"] == str(64 * 50)
    assert parse_quantity(a.status.capacity["memory"]) == parse_quantity(f"{512 * 50}Gi")  # the API may canonicalise
    info = a.status.node_info
    assert info is not None
    assert (info.kubelet_version, info.operating_system, info.architecture, info.container_runtime_version) == (
        "v1.30.0-spillway", "linux", "amd64", "tke-serverless://")
    assert [(x.type, x.address) for x in a.status.addresses] == [("InternalIP", "127.0.0.1"), ("Hostname", NODE_A)]
    assert a.status.daemon_endpoints is not None and a.status.daemon_endpoints.kubelet_endpoint is not None
    assert a.status.daemon_endpoints.kubelet_endpoint.port > 0


async def test_user_labels_annotations_and_taints_survive_registration(
    sandbox: Sandbox, kube: KubeClient, run_node_status: Run,
) -> None:
    await sandbox.store.create("nodes", {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE_A, "labels": {"team": "burst", "topology.kubernetes.io/zone": "wrong"},
                     "annotations": {"eks.tke.cloud.tencent.com/resolv-conf": "nameserver 10.0.0.10\n",
                                     "owner": "ops"}},
        "spec": {"taints": [{"key": "dedicated", "value": "ops", "effect": "NoExecute"}]}})
    async with run_node_status():
        node = await eventually(lambda: registered(kube, NODE_A), what="the super node registered and Ready")
    assert node.metadata.labels["team"] == "burst"
    assert node.metadata.labels["topology.kubernetes.io/zone"] == "ap-guangzhou-3"
    assert node.metadata.annotations["owner"] == "ops"
    assert node.metadata.annotations["eks.tke.cloud.tencent.com/resolv-conf"] == "nameserver 10.0.0.10\n"
    assert node.metadata.annotations["eks.tke.cloud.tencent.com/subnet-id"] == "subnet-aaa"
    assert sorted((t.key, t.effect) for t in node.spec.taints) == [
        ("dedicated", "NoExecute"), ("eks.tke.cloud.tencent.com/eklet", "NoSchedule")]


async def test_leases_are_renewed_with_the_injected_clock(
    kube: KubeClient, run_node_status: Run, emulator_clock: MutableClock,
) -> None:
    path = object_path("coordination.k8s.io/v1", "leases", NODE_A, "kube-node-lease")

    async def renewed_at() -> float:
        try:
            lease = await kube.get_as(path, dict[str, Any])
        except Exception:
            return 0.0
        return parse_micro_time(lease["spec"]["renewTime"])

    async with run_node_status():
        first = await eventually(renewed_at, what="a node lease renewed")
        emulator_clock.advance(3600)
        later = await eventually(lambda: _at_least(renewed_at, first + 3600),
                                 what="the lease renewed an hour later on the injected clock")
    assert later >= first + 3600


async def _at_least(fn: Any, value: float) -> float:
    got: float = await fn()
    return got if got >= value else 0.0


async def test_not_ready_after_repeated_cloud_failures_and_ready_again(
    kube: KubeClient, emulator: Emulator, run_node_status: Run,
) -> None:
    async def ready_reason() -> tuple[str, str]:
        node = await kube.get_as(node_path(NODE_A), Node)
        cond = node.status.condition("Ready")
        return (cond.status, cond.reason or "") if cond else ("", "")

    async with run_node_status():
        await eventually(lambda: registered(kube, NODE_A), what="the super node registered and Ready")
        assert await ready_reason() == ("True", "KubeletReady")
        emulator.faults.errors = [ErrorRule(code="InternalError", rate=1.0, action="DescribeEKSContainerInstances")]
        await eventually(lambda: _is(ready_reason, ("False", "CloudUnreachable")), what="the node NotReady")
        node = await kube.get_as(node_path(NODE_A), Node)
        cond = node.status.condition("Ready")
        assert cond is not None and "InternalError" in (cond.message or "")
        emulator.faults.errors = []
        await eventually(lambda: _is(ready_reason, ("True", "KubeletReady")), what="the node Ready again")


async def _is(fn: Any, expected: Any) -> bool:
    return bool(await fn() == expected)


async def test_kubectl_shows_super_nodes_ready_with_labels_and_taint(
    kube: KubeClient, run_node_status: Run, kubectl: KubectlRunner,
) -> None:
    async with run_node_status():
        await eventually(lambda: registered(kube, NODE_A), what="the super node registered and Ready")
        wide = await kubectl("get", "nodes", "-o", "wide")
        yaml_out = await kubectl("get", "node", NODE_A, "-o", "yaml")
        labels = await kubectl("get", "nodes", "-l", "node.kubernetes.io/instance-type=eklet", "-o", "name")
    assert wide.returncode == 0, wide.stderr
    row = next(line for line in wide.stdout.splitlines() if line.startswith(NODE_A))
    assert " Ready " in row and "v1.30.0-spillway" in row and "127.0.0.1" in row and "tke-serverless://" in row
    assert "eks.tke.cloud.tencent.com/eklet" in yaml_out.stdout and "NoSchedule" in yaml_out.stdout
    assert sorted(labels.stdout.split()) == [f"node/{NODE_A}", f"node/{NODE_B}"]


async def test_standby_takes_over_when_the_leader_stops(
    kube: KubeClient, sandbox: Sandbox, run_node_status: Run,
) -> None:
    await sandbox.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "ha"}})
    lease = object_path("coordination.k8s.io/v1", "leases", "spillway-node-status", "ha")

    async def holder() -> str:
        try:
            return str((await kube.get_as(lease, dict[str, Any]))["spec"].get("holderIdentity") or "")
        except Exception:
            return ""

    async with run_node_status(nodeStatus={"leaderElectionNamespace": "ha"}) as first:
        first_holder = await eventually(holder, what="a leader holding the lease")
        async with run_node_status(nodeStatus={"leaderElectionNamespace": "ha"}):
            await first.stop()
            second_holder = await eventually(lambda: _other(holder, first_holder), what="the standby taking over")
            await kube.request("DELETE", node_path(NODE_A))
            await eventually(lambda: registered(kube, NODE_A), what="the new leader re-registering the node")
    assert second_holder != first_holder


async def _other(fn: Any, old: str) -> str:
    value: str = await fn()
    return value if value and value != old else ""
