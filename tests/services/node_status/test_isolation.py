"""One pod never stops the others in node-status: a status patch the API refuses (500 "etcdserver:
request is too large" for a pod at the storage limit, 422 from a webhook), a pod that does not
decode, a node whose list fails. Real sandbox over HTTP, real emulator; rounds are driven by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from prometheus_client import REGISTRY

from services.node_status.nodes import NodeRegistrar, Readiness, SuperNode
from services.node_status.sync import MAX_SKIPPED_ROUNDS, POD_UPDATE_REFUSED, PodSync
from spillway.cloud import CreateRequest, InstanceNaming, TkeProvider
from spillway.kube import Invalid, KubeClient, NotFound, pod_path
from spillway.kube.events import EventRecorder
from spillway.model.kube import Node, Pod
from spillway.sandbox import Sandbox
from spillway.sandbox.errors import ApiError
from spillway.sandbox.store import MAX_STORED_BYTES, AdmissionRequest
from tests.services.cloud_provisioner.conftest import PodListApi, listed_pod
from tests.services.cloud_provisioner.harness import (
    CLUSTER_ID,
    NODE_A,
    NODE_B,
    create_and_bind,
    get_pod,
    naming_of,
    pod_body,
)
from tests.services.node_status.test_pods import pod_gone

PARAMS = {"SubnetId": "subnet-aaa", "VpcId": "vpc-test", "SecurityGroupIds": ["sg-test"], "Cpu": 1.0, "Memory": 2.0,
          "Containers": [{"Name": "app", "Image": "nginx:1.27"}]}
HOSTS = {NODE_A: "127.0.0.1", NODE_B: "127.0.0.1"}
RAW_API_NAMING = InstanceNaming(CLUSTER_ID, "uid-of-the-raw-api-cluster")  # the tiny server has no kube-system


def step_failures(step: str) -> float:
    return REGISTRY.get_sample_value("spillway_node_status_pod_failures_total", {"step": step}) or 0.0


@pytest.fixture
async def pod_sync(kube: KubeClient, cloud_client: TkeProvider, naming: InstanceNaming) -> AsyncIterator[PodSync]:
    yield PodSync(client=kube, provider=cloud_client, naming=naming, host_ips=HOSTS,
                  recorder=EventRecorder(kube, "spillway-node-status", "test"))


async def with_instance(sandbox: Sandbox, kube: KubeClient, cloud: TkeProvider, body: dict[str, Any]) -> Pod:
    pod = await create_and_bind(sandbox, kube, body)
    await cloud.create(CreateRequest((await naming_of(kube)).name(pod.metadata.uid), PARAMS))
    return pod


async def at_the_storage_limit(sandbox: Sandbox, kube: KubeClient, cloud: TkeProvider, name: str) -> Pod:
    """A bound pod a few hundred bytes under etcd's limit: writing its status pushes it over."""
    body = pod_body(name, env=[{"name": "PAD", "value": "x" * (MAX_STORED_BYTES - 100_000)}])
    pod = await with_instance(sandbox, kube, cloud, body)
    stored = await kube.request("GET", pod_path("default", name))
    key = len("pods") + len("default") + len(name) + 12
    room = MAX_STORED_BYTES - len(stored) - key - 300
    await kube.patch(pod_path("default", name), {"metadata": {"annotations": {"pad": "x" * room}}})
    return pod


def deny_status_of(name: str) -> Any:
    async def hook(request: AdmissionRequest) -> None:
        if request.resource.plural == "pods" and request.subresource == "status" and request.name == name:
            raise ApiError(422, "Invalid", f'Pod "{name}" is invalid: status.conditions: Invalid value')

    return hook


async def warnings_on(kube: KubeClient, name: str) -> list[dict[str, Any]]:
    events = await kube.get_as("/api/v1/namespaces/default/events", dict[str, Any])
    return [e for e in events["items"] if e["involvedObject"]["name"] == name and e["type"] == "Warning"]


async def test_a_refused_status_patch_does_not_stop_the_round_and_is_backed_off(
    sandbox: Sandbox, kube: KubeClient, cloud_client: TkeProvider, pod_sync: PodSync,
) -> None:
    sandbox.store.admission_hooks.append(deny_status_of("refused"))
    big = await at_the_storage_limit(sandbox, kube, cloud_client, "big")
    refused = await with_instance(sandbox, kube, cloud_client, pod_body("refused"))
    fine = await with_instance(sandbox, kube, cloud_client, pod_body("fine"))
    for pod in (big, refused, fine):  # the refused ones first: the round must not stop at them
        pod_sync.observe(pod)
    before = step_failures("status")

    await pod_sync.sync_once()

    assert (await get_pod(kube, "fine")).status.phase == "Running"
    assert (await get_pod(kube, "big")).status.phase == "Pending"
    assert (await get_pod(kube, "refused")).status.phase == "Pending"
    assert step_failures("status") - before == 2
    [too_large] = await warnings_on(kube, "big")
    assert too_large["reason"] == POD_UPDATE_REFUSED and "request is too large" in too_large["message"]
    [invalid] = await warnings_on(kube, "refused")
    assert invalid["reason"] == POD_UPDATE_REFUSED and "422" in invalid["message"]

    # a pod that keeps failing is retried after 1, 2, 4, 8… rounds, not every round
    for _ in range(9):
        await pod_sync.sync_once()
    assert step_failures("status") - before == 2 * 4  # rounds 1, 2, 4 and 8 of 10
    assert [len(await warnings_on(kube, n)) for n in ("big", "refused")] == [1, 1]  # told once
    assert pod_sync.tracked[big.metadata.uid].failures == 4

    # once the API takes it, the pod is synced and its backoff forgotten
    sandbox.store.admission_hooks.clear()
    for _ in range(MAX_SKIPPED_ROUNDS):
        await pod_sync.sync_once()
    assert (await get_pod(kube, "refused")).status.phase == "Running"
    assert pod_sync.tracked[refused.metadata.uid].failures == 0


async def test_a_failing_pod_does_not_stop_a_deletion_or_a_daemonset_failure(
    sandbox: Sandbox, kube: KubeClient, cloud_client: TkeProvider, pod_sync: PodSync,
) -> None:
    big = await at_the_storage_limit(sandbox, kube, cloud_client, "big")
    leaving = await create_and_bind(sandbox, kube, pod_body("leaving"))  # its instance is already gone
    await kube.delete(pod_path("default", "leaving"))
    daemon = await create_and_bind(sandbox, kube, pod_body("ds", owner_kind="DaemonSet"))
    for pod in (big, await get_pod(kube, "leaving"), daemon):
        pod_sync.observe(pod)

    await pod_sync.sync_once()

    assert (await get_pod(kube, "ds")).status.reason == "DaemonsetForbidden"
    assert leaving.metadata.uid not in pod_sync.tracked
    assert await pod_gone(kube, "leaving")
    assert big.metadata.uid in pod_sync.tracked and pod_sync.tracked[big.metadata.uid].failures == 1


async def test_resync_keeps_what_one_node_or_one_pod_hides(
    sandbox: Sandbox, kube: KubeClient, cloud_client: TkeProvider, pod_sync: PodSync,
) -> None:
    a = await create_and_bind(sandbox, kube, pod_body("on-a"), NODE_A)
    b = await create_and_bind(sandbox, kube, pod_body("on-b"), NODE_B)
    await pod_sync.resync()
    assert set(pod_sync.tracked) == {a.metadata.uid, b.metadata.uid}

    # one node's list fails (the API refuses its field selector): the other node is still resynced,
    # and the pods tracked on the failed node are kept, not forgotten
    await kube.delete(pod_path("default", "on-b"), grace_seconds=0)
    broken = "eklet-subnet-broken,spec.bogus=1"
    pod_sync.host_ips[broken] = "127.0.0.1"
    ghost = msgspec.structs.replace(a, metadata=msgspec.structs.replace(a.metadata, uid="uid-on-the-broken-node"),
                                    spec=msgspec.structs.replace(a.spec, node_name=broken))
    pod_sync.observe(ghost)
    with pytest.raises(Invalid, match="field label not supported"):
        await pod_sync.resync()
    # on-b is gone for good; on-a was listed; the pod on the node that could not be listed is kept
    assert set(pod_sync.tracked) == {a.metadata.uid, "uid-on-the-broken-node"}


async def test_resync_keeps_a_pod_that_does_not_decode_as_last_seen(
    raw_api: tuple[PodListApi, KubeClient], cloud_client: TkeProvider,
) -> None:
    api, client = raw_api
    api.items = [listed_pod("numeric-cpu", "uid-numeric"), listed_pod("fine", "uid-fine")]
    sync = PodSync(client=client, provider=cloud_client, naming=RAW_API_NAMING, host_ips={NODE_A: "127.0.0.1"})
    await sync.resync()
    assert set(sync.tracked) == {"uid-numeric", "uid-fine"}
    api.items = [listed_pod("numeric-cpu", "uid-numeric", cpu=1), listed_pod("other", "uid-other")]
    await sync.resync()  # numeric-cpu no longer decodes: kept as it was; fine is gone; other is new
    assert set(sync.tracked) == {"uid-numeric", "uid-other"}
    assert sync.tracked["uid-numeric"].pod.spec.containers[0].resources.requests == {"cpu": "1"}


def deny_node(name: str, operation: str, subresource: str = "") -> Any:
    async def hook(request: AdmissionRequest) -> None:
        if (request.resource.plural, request.name, request.operation, request.subresource) == (
                "nodes", name, operation, subresource):
            raise ApiError(422, "Invalid", f'Node "{name}" is invalid: denied by policy.example.com')

    return hook


async def test_one_super_node_the_api_refuses_does_not_stop_the_others(sandbox: Sandbox, kube: KubeClient) -> None:
    nodes = [SuperNode(name, subnet, "ap-guangzhou-3", "127.0.0.1", 10250, {"pods": "10"})
             for name, subnet in ((NODE_A, "subnet-aaa"), (NODE_B, "subnet-bbb"))]
    registrar = NodeRegistrar(kube, nodes, identity="test")
    sandbox.store.admission_hooks.append(deny_node(NODE_A, "CREATE"))
    await registrar.register()  # one of two registered: the service goes on
    assert await _ready(kube, NODE_B) == "True"
    with pytest.raises(NotFound):
        await kube.get_as(f"/api/v1/nodes/{NODE_A}", Node)

    sandbox.store.admission_hooks[:] = [deny_node(NODE_B, "UPDATE", "status")]
    registrar.set_readiness(Readiness(False, "CloudUnreachable", "the cloud API failed"))
    with pytest.raises(Invalid, match="denied by policy"):
        await registrar.write_status()  # B refused, and tried after A: A registered again and written
    assert (await _ready(kube, NODE_A), await _ready(kube, NODE_B)) == ("False", "True")
    await registrar.renew_leases()
    leases = await kube.get_as("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", dict[str, Any])
    assert {item["metadata"]["name"] for item in leases["items"]} == {NODE_A, NODE_B}


async def _ready(kube: KubeClient, name: str) -> str | None:
    node = await kube.get_as(f"/api/v1/nodes/{name}", Node)
    ready = next((c for c in node.status.conditions if c.type == "Ready"), None)
    return ready.status if ready else None


async def test_resync_keeps_the_whole_node_when_a_pod_has_no_readable_uid(
    raw_api: tuple[PodListApi, KubeClient], cloud_client: TkeProvider,
) -> None:
    api, client = raw_api
    api.items = [listed_pod("one", "uid-one"), listed_pod("two", "uid-two")]
    sync = PodSync(client=client, provider=cloud_client, naming=RAW_API_NAMING, host_ips={NODE_A: "127.0.0.1"})
    await sync.resync()
    api.items = [listed_pod("one", 42)]  # "two" is gone, or is this one: nobody can tell
    await sync.resync()
    assert set(sync.tracked) == {"uid-one", "uid-two"}
