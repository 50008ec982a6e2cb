"""The cluster loops end to end through the API: workloads, scheduling, the fake kubelet."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from spillway.sandbox import Sandbox
from spillway.sandbox.topology import LocalNode
from tests.fixtures.eventually import eventually
from tests.fixtures.sandbox import api_client_for
from tests.sandbox.conftest import ClusterFactory
from tests.sandbox.helpers import node, pod

SUPER = "eklet-subnet-1"


def super_node() -> dict[str, Any]:
    """Shaped like Spillway's node-status registers one (no sandbox marker, tainted, with capacity)."""
    body = node(SUPER, labels={"node.kubernetes.io/instance-type": "eklet"})
    body["spec"] = {"taints": [{"key": "eks.tke.cloud.tencent.com/eklet", "effect": "NoSchedule"}]}
    body["status"]["allocatable"] = {"cpu": "100", "memory": "400Gi", "pods": "500"}
    return body


def deployment(name: str, replicas: int, cpu: str = "100m", image: str = "nginx:1.27", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, **spec,
                     "template": {"metadata": {"labels": {"app": name}, "annotations": {"note": "kept"}},
                                  "spec": {"containers": [{"name": "app", "image": image,
                                                           "resources": {"requests": {"cpu": cpu}}}]}}}}


def pods_of(sb: Sandbox, app: str) -> list[dict[str, Any]]:
    return sb.store.list("pods", "default", label_selector=f"app={app}")[0]


def live(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def scheduled(p: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in p["status"].get("conditions") or [] if c["type"] == "PodScheduled")


async def test_four_replicas_on_a_node_that_fits_two(cluster: Sandbox) -> None:
    api = await api_client_for(cluster.kubeconfig_path)
    try:
        await client.AppsV1Api(api).create_namespaced_deployment("default", deployment("web", 4, cpu="800m"))  # type: ignore[arg-type]  # dict body

        def settled() -> bool:
            pods = pods_of(cluster, "web")
            phases = sorted(p["status"]["phase"] for p in pods)
            return phases == ["Pending", "Pending", "Running", "Running"] and all(
                p["status"].get("conditions") for p in pods)

        await eventually(settled, what="two web pods Running and two Pending, each with its PodScheduled condition")
        core = client.CoreV1Api(api)
        listed = (await core.list_namespaced_pod("default", label_selector="app=web")).items
        pending = [p for p in listed if p.status.phase == "Pending"]
        for p in pending:
            cond = next(c for c in p.status.conditions if c.type == "PodScheduled")
            assert (cond.status, cond.reason) == ("False", "Unschedulable")
            assert cond.message == ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
                                    "available: 1 No preemption victims found for incoming pod.")
        running = [p for p in listed if p.status.phase == "Running"]
        assert {p.spec.node_name for p in running} == {"node-1"}
        assert all(p.status.pod_ip.startswith("10.244.1.") and p.status.host_ip for p in running)
        assert running[0].status.pod_ip != running[1].status.pod_ip
        first = listed[0]
        assert first.metadata.generate_name.startswith("web-") and first.metadata.annotations == {"note": "kept"}
        ref = first.metadata.owner_references[0]
        assert (ref.kind, ref.controller, ref.block_owner_deletion) == ("ReplicaSet", True, True)
        events = cluster.store.list("events", "default")[0]
        assert any(e["reason"] == "FailedScheduling" for e in events)
        dep = await eventually(lambda: (d := cluster.store.get("deployments", "default", "web"))["status"].get(
            "readyReplicas") == 2 and d, what="the web Deployment reporting 2 ready replicas")
        assert {k: dep["status"][k] for k in ("replicas", "updatedReplicas", "availableReplicas",
                                              "observedGeneration")} == {"replicas": 4, "updatedReplicas": 4,
                                                                         "availableReplicas": 2,
                                                                         "observedGeneration": 1}
    finally:
        await api.close()


async def test_pending_pod_schedules_when_room_appears(cluster: Sandbox) -> None:
    await cluster.store.create("deployments", deployment("big", 2, cpu="1500m"), namespace="default")
    await eventually(lambda: sum(p["status"]["phase"] == "Running" for p in pods_of(cluster, "big")) == 1
                     and any(p["status"].get("conditions") and scheduled(p)["status"] == "False"
                             for p in pods_of(cluster, "big")),
                     what="one big pod Running and the other marked unschedulable")
    await cluster.store.create("nodes", node("node-2") | {"status": {"allocatable": {"cpu": "2", "memory": "4Gi",
                                                                                     "pods": "10"}}})
    await eventually(lambda: {p["spec"].get("nodeName") for p in pods_of(cluster, "big")} == {"node-1", "node-2"},
                     what="the big pods on node-1 and node-2")


async def test_scale_down_removes_lowest_deletion_cost(cluster: Sandbox) -> None:
    store = cluster.store
    await store.create("deployments", deployment("cost", 4, cpu="10m"), namespace="default")
    await eventually(lambda: sum(p["status"]["phase"] == "Running" for p in pods_of(cluster, "cost")) == 4,
                     what="4 cost pods Running")
    pods = pods_of(cluster, "cost")
    for i, p in enumerate(pods):
        cost = {0: "100", 1: "-7", 2: "5", 3: "0"}[i]
        await store.patch("pods", "default", p["metadata"]["name"], {"metadata": {"annotations": {
            "controller.kubernetes.io/pod-deletion-cost": cost}}}, "application/merge-patch+json")
    victim = pods[1]["metadata"]["name"]
    await store.patch("deployments", "default", "cost", {"spec": {"replicas": 3}}, "application/merge-patch+json")
    await eventually(lambda: store.try_get("pods", "default", victim) is None, what="the lowest-cost pod deleted")
    assert len(live(pods_of(cluster, "cost"))) == 3


async def test_scale_down_without_costs_takes_pending_then_newest(make_cluster: ClusterFactory) -> None:
    sb = await make_cluster(nodes=[LocalNode("node-1", cpu="1")])
    store = sb.store
    await store.create("deployments", deployment("order", 3, cpu="400m"), namespace="default")
    await eventually(lambda: sum(p["status"]["phase"] == "Running" for p in pods_of(sb, "order")) == 2
                     and len(pods_of(sb, "order")) == 3, what="2 of 3 order pods Running")
    pending = next(p for p in pods_of(sb, "order") if p["status"]["phase"] == "Pending")["metadata"]["name"]
    api = await api_client_for(sb.kubeconfig_path)
    try:
        await client.AppsV1Api(api).patch_namespaced_deployment_scale("order", "default", {"spec": {"replicas": 2}})
    finally:
        await api.close()
    await eventually(lambda: store.try_get("pods", "default", pending) is None,
                     what="the pending order pod deleted first")
    assert sorted(p["status"]["phase"] for p in pods_of(sb, "order")) == ["Running", "Running"]


async def test_rolling_update_converges(cluster: Sandbox) -> None:
    store = cluster.store
    await store.create("deployments", deployment("roll", 4, cpu="10m"), namespace="default")
    await eventually(lambda: store.get("deployments", "default", "roll")["status"].get("availableReplicas") == 4,
                     what="the roll Deployment available with 4 replicas")
    await store.patch("deployments", "default", "roll", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "nginx:1.28"}]}}}}, "application/strategic-merge-patch+json")

    def converged() -> bool:
        d = store.get("deployments", "default", "roll")
        s: dict[str, object] = d["status"]
        return (s.get("observedGeneration") == 2 and s.get("updatedReplicas") == 4 and s.get("replicas") == 4
                and s.get("availableReplicas") == 4)

    await eventually(converged, what="the rolling update converged on generation 2")
    sets = store.list("replicasets", "default")[0]
    assert len(sets) == 2
    by_replicas = sorted((rs["spec"]["replicas"], rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
                         for rs in sets)
    assert by_replicas == [(0, "1"), (4, "2")]
    new = next(rs for rs in sets if rs["spec"]["replicas"] == 4)
    assert new["metadata"]["name"] == "roll-" + new["metadata"]["labels"]["pod-template-hash"]
    images = {p["spec"]["containers"][0]["image"] for p in live(pods_of(cluster, "roll"))}
    assert images == {"nginx:1.28"}
    conditions = {c["type"]: c["reason"] for c in store.get("deployments", "default", "roll")["status"]["conditions"]}
    assert conditions == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}


async def test_gated_pod_waits_for_its_gate(cluster: Sandbox) -> None:
    """The API sets PodScheduled=False/SchedulingGated in the create itself (its create strategy);
    the scheduler, finding it, writes nothing more."""
    store = cluster.store
    created = await store.create("pods", pod("gated", gates=["spillway.io/placement"]), namespace="default")
    assert (scheduled(created)["status"], scheduled(created)["reason"], scheduled(created)["message"]) == (
        "False", "SchedulingGated", "Scheduling is blocked due to non-empty scheduling gates")
    # the scheduler takes pods in the order they came: once a later pod is bound, it has seen this one
    await store.create("pods", pod("later"), namespace="default")
    await eventually(lambda: store.get("pods", "default", "later")["spec"].get("nodeName"), what="a later pod bound")
    got = store.get("pods", "default", "gated")
    assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert got["status"]["phase"] == "Pending" and not got["spec"].get("nodeName")
    await store.patch("pods", "default", "gated", [{"op": "remove", "path": "/spec/schedulingGates"}],
                      "application/json-patch+json")
    await eventually(lambda: store.get("pods", "default", "gated")["status"]["phase"] == "Running",
                     what="the ungated pod Running")


async def test_pods_bound_elsewhere_are_left_alone(cluster: Sandbox) -> None:
    store = cluster.store
    await store.create("nodes", super_node())
    await store.create("pods", pod("cloud", node=SUPER), namespace="default")
    await store.create("pods", pod("other", schedulerName="my-scheduler"), namespace="default")
    await store.create("pods", pod("local"), namespace="default")
    await eventually(lambda: store.get("pods", "default", "local")["status"]["phase"] == "Running",
                     what="the local pod Running")
    cloud, other = store.get("pods", "default", "cloud"), store.get("pods", "default", "other")
    assert cloud["status"]["phase"] == "Pending" and "podIP" not in cloud["status"]
    assert not other["spec"].get("nodeName") and not other["status"].get("conditions")
    assert store.try_get("leases", "kube-node-lease", SUPER) is None
    await store.delete("pods", "default", "cloud")
    assert store.get("pods", "default", "cloud")["metadata"].get("deletionTimestamp")


async def test_kubelet_finishes_deletions_and_renews_leases(cluster: Sandbox) -> None:
    store = cluster.store
    await store.create("pods", pod("p"), namespace="default")
    await eventually(lambda: store.get("pods", "default", "p")["status"]["phase"] == "Running", what="pod p Running")
    lease = store.get("leases", "kube-node-lease", "node-1")
    await eventually(lambda: store.get("leases", "kube-node-lease", "node-1")["spec"]["renewTime"]
                     != lease["spec"]["renewTime"], what="the node-1 lease renewed")
    _, removed = await store.delete("pods", "default", "p")
    assert not removed
    await eventually(lambda: store.try_get("pods", "default", "p") is None, what="pod p removed by the kubelet")
    node1 = store.get("nodes", None, "node-1")
    assert node1["metadata"]["annotations"]["sandbox.spillway.io/managed"] == "true"
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in node1["status"]["conditions"])


async def test_statefulset_names_and_owner(cluster: Sandbox) -> None:
    store = cluster.store
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                                 "spec": {"containers": [{"name": "db", "image": "postgres"}]}}}}
    created = await store.create("statefulsets", sts, namespace="default")
    await eventually(lambda: store.get("statefulsets", "default", "db")["status"].get("readyReplicas") == 3,
                     what="3 StatefulSet replicas ready")
    pods = pods_of(cluster, "db")
    assert [p["metadata"]["name"] for p in pods] == ["db-0", "db-1", "db-2"]
    assert all(p["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"] for p in pods)
    assert pods[1]["spec"]["hostname"] == "db-1" and pods[1]["spec"]["subdomain"] == "db"
    await store.patch("statefulsets", "default", "db", {"spec": {"replicas": 1}}, "application/merge-patch+json")
    await eventually(lambda: [p["metadata"]["name"] for p in pods_of(cluster, "db")] == ["db-0"],
                     what="the StatefulSet scaled down to db-0")


async def test_job_pods_succeed_and_the_job_completes(cluster: Sandbox) -> None:
    store = cluster.store
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
           "spec": {"completions": 2, "parallelism": 1, "template": {"spec": {
               "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}
    created = await store.create("jobs", job, namespace="default")

    def completed() -> dict[str, Any] | None:
        got = store.get("jobs", "default", "once")
        complete = any(c["type"] == "Complete" and c["status"] == "True"
                       for c in got["status"].get("conditions") or [])
        return got if complete else None

    done = await eventually(completed, what="the Job complete")
    assert done["status"]["succeeded"] == 2
    pods = store.list("pods", "default", label_selector="job-name=once")[0]
    assert len(pods) == 2 and {p["status"]["phase"] for p in pods} == {"Succeeded"}
    terminated = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert pods[0]["metadata"]["labels"]["controller-uid"] == created["metadata"]["uid"]


def daemonset(name: str, tolerations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"tolerations": tolerations,
                                           "containers": [{"name": "c", "image": "agent"}]}}}}


async def test_daemonset_follows_taints(cluster: Sandbox) -> None:
    store = cluster.store
    await store.create("nodes", super_node())
    await store.create("daemonsets", daemonset("plain", []), namespace="default")
    await store.create("daemonsets", daemonset("everywhere", [{"operator": "Exists"}]), namespace="default")

    def placed(app: str) -> set[str]:
        return {p["spec"].get("nodeName", "") for p in pods_of(cluster, app)}

    await eventually(lambda: placed("everywhere") == {"node-1", SUPER} and placed("plain") == {"node-1"},
                     what="DaemonSet pods: everywhere on both nodes, plain on node-1 only")
    pin = pods_of(cluster, "plain")[0]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert pin == [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}]
    await store.create("nodes", node("node-9") | {"status": {"allocatable": {"cpu": "1", "memory": "1Gi",
                                                                             "pods": "5"}}})
    await eventually(lambda: placed("plain") == {"node-1", "node-9"}, what="a plain DaemonSet pod on the new node-9")
    await store.delete("nodes", None, "node-9")
    await eventually(lambda: "node-9" not in {p["spec"].get("nodeName") for p in live(pods_of(cluster, "plain"))},
                     what="the plain DaemonSet pod gone from the deleted node-9")
