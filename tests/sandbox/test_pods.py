"""Pod rules: binding, scheduling gates, spec immutability, graceful deletion, finalizers, GC."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from spillway.sandbox import Sandbox
from tests.sandbox.helpers import Raw, pod


def _binding(name: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "annotations": {"why": "test"}},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}


async def test_binding_201_then_409(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api)
    created = await core.create_namespaced_pod("default", pod("p"))  # type: ignore[arg-type]  # dict body
    assert created.status.phase == "Pending" and not created.status.conditions
    resp = await core.create_namespaced_pod_binding("p", "default", _binding("p", "n1"), _preload_content=False)  # type: ignore[arg-type]  # dict body
    # without preloading, the client hands back the raw response (its stubs say V1Binding)
    assert isinstance(resp, aiohttp.ClientResponse)
    assert resp.status == 201
    assert json.loads(await resp.read()) == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                             "status": "Success", "code": 201}
    bound = await core.read_namespaced_pod("p", "default")
    assert bound.spec.node_name == "n1" and bound.metadata.annotations == {"why": "test"}
    assert [(c.type, c.status) for c in bound.status.conditions] == [("PodScheduled", "True")]
    # with _preload_content=False kubernetes_asyncio hands back non-2xx responses instead of raising
    again = await core.create_namespaced_pod_binding("p", "default", _binding("p", "n2"), _preload_content=False)  # type: ignore[arg-type]  # dict body
    assert isinstance(again, aiohttp.ClientResponse)
    assert again.status == 409
    assert json.loads(await again.read())["message"] == (
        'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "n1"')


async def test_gated_pod_cannot_be_bound(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api)
    await core.create_namespaced_pod("default", pod("g", gates=["spillway.io/placement"]))  # type: ignore[arg-type]  # dict body
    resp = await core.create_namespaced_pod_binding("g", "default", _binding("g", "n1"), _preload_content=False)  # type: ignore[arg-type]  # dict body
    assert isinstance(resp, aiohttp.ClientResponse)  # not preloaded: the raw response
    assert resp.status == 409
    assert json.loads(await resp.read())["message"] == (
        'Operation cannot be fulfilled on pods/binding "g": pod g has non-empty .spec.schedulingGates')


SUPER = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["eklet-subnet-1"]}]}
UPDATE_CASES: list[tuple[str, bool, dict[str, Any], Any]] = [
    ("image", False, {}, {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}),
    ("add-toleration", False, {}, [{"op": "add", "path": "/spec/tolerations/-",
                                    "value": {"key": "eks.tke.cloud.tencent.com/eklet", "operator": "Exists"}}]),
    ("remove-toleration", True, {}, [{"op": "remove", "path": "/spec/tolerations/0"}]),
    ("grace", False, {}, {"spec": {"terminationGracePeriodSeconds": 5}}),
    ("deadline", False, {}, {"spec": {"activeDeadlineSeconds": 60}}),
    ("restart-policy", True, {}, {"spec": {"restartPolicy": "Never"}}),
    ("node-selector-ungated", True, {}, {"spec": {"nodeSelector": {"a": "b"}}}),
    ("gated-remove-gate-add-affinity-and-selector", False, {"gates": ["spillway.io/placement"]},
     {"spec": {"schedulingGates": None, "nodeSelector": {"a": "b"},
               "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                   "nodeSelectorTerms": [SUPER]}}}}}),
    ("gated-add-gate", True, {"gates": ["spillway.io/placement"]},
     {"spec": {"schedulingGates": [{"name": "spillway.io/placement"}, {"name": "other"}]}}),
    ("gated-change-selector", True, {"gates": ["g"], "nodeSelector": {"a": "b"}},
     {"spec": {"nodeSelector": {"a": "c"}}}),
]


@pytest.mark.parametrize(("forbidden", "pod_kwargs", "patch"), [c[1:] for c in UPDATE_CASES],
                         ids=[c[0] for c in UPDATE_CASES])
async def test_pod_spec_updates(sandbox: Sandbox, kube_api: client.ApiClient, forbidden: bool,
                                pod_kwargs: dict[str, Any], patch: Any) -> None:
    core = client.CoreV1Api(kube_api)
    await core.create_namespaced_pod("default", pod("p", **pod_kwargs))  # type: ignore[arg-type]  # dict body
    if not forbidden:
        await core.patch_namespaced_pod("p", "default", patch)
        return
    with pytest.raises(ApiException) as err:
        await core.patch_namespaced_pod("p", "default", patch)
    assert err.value.body is not None
    body = json.loads(err.value.body)
    assert (err.value.status, body["reason"]) == (422, "Invalid")
    assert body["message"].startswith('Pod "p" is invalid: spec')


async def test_graceful_deletion_end_to_end(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api)
    await core.create_namespaced_pod("default", pod("p", node="n1", terminationGracePeriodSeconds=20))  # type: ignore[arg-type]  # dict body
    start = (await core.list_namespaced_pod("default")).metadata.resource_version
    deleted = await core.delete_namespaced_pod("p", "default")
    assert deleted.kind == "Pod" and deleted.metadata.deletion_grace_period_seconds == 20
    uid = deleted.metadata.uid
    with pytest.raises(ApiException) as err:
        await core.delete_namespaced_pod("p", "default", grace_period_seconds=0,
                                         body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="other")))
    assert err.value.status == 409
    final = await core.delete_namespaced_pod("p", "default", grace_period_seconds=0,
                                             body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid)))
    assert final.metadata.name == "p"
    events = []
    async with watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=start,
                                    timeout_seconds=1) as stream:
        async for ev in stream:
            events.append((ev["type"], ev["object"].metadata.deletion_timestamp is not None))
    assert events == [("MODIFIED", True), ("DELETED", True)]


@pytest.mark.parametrize(("node", "phase"), [(None, None), ("n1", "Succeeded"), ("n1", "Failed")],
                         ids=["unscheduled", "succeeded", "failed"])
async def test_pods_that_never_ran_or_finished_delete_at_once(sandbox: Sandbox, node: str | None,
                                                              phase: str | None) -> None:
    store = sandbox.store
    await store.create("pods", pod("p", node=node), namespace="default")
    if phase:
        await store.patch("pods", "default", "p", {"status": {"phase": phase}}, "application/merge-patch+json",
                          subresource="status")
    _, removed = await store.delete("pods", "default", "p")
    assert removed and store.try_get("pods", "default", "p") is None


async def test_finalizers_block_removal_until_emptied(sandbox: Sandbox) -> None:
    store = sandbox.store
    cm = {"metadata": {"name": "c", "finalizers": ["spillway.io/x"]}}
    await store.create("configmaps", cm, namespace="default")
    obj, removed = await store.delete("configmaps", "default", "c")
    assert not removed and obj["metadata"]["deletionTimestamp"]
    await store.patch("configmaps", "default", "c", {"metadata": {"finalizers": None}}, "application/merge-patch+json")
    assert store.try_get("configmaps", "default", "c") is None


async def test_deleting_an_owner_collects_dependents(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    store = sandbox.store
    template = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    dep = await store.create("deployments", {"metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}}, "template": template}}, namespace="default")
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": dep["metadata"]["uid"],
           "controller": True}
    rs = await store.create("replicasets", {"metadata": {"name": "d-1", "ownerReferences": [ref]}, "spec": {
        "selector": {"matchLabels": {"a": "b"}}, "template": template}}, namespace="default")
    rs_ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "d-1", "uid": rs["metadata"]["uid"],
              "controller": True}
    body = pod("d-1-x")
    body["metadata"]["ownerReferences"] = [rs_ref]
    await store.create("pods", body, namespace="default")
    status, got, _ = await Raw(sandbox).request("DELETE", "/apis/apps/v1/namespaces/default/deployments/d",
                                                {"propagationPolicy": "Background"})
    assert (status, got["kind"], got["status"]) == (200, "Status", "Success")
    assert store.count("replicasets") == 0 and store.count("pods") == 0


async def test_delete_collection_and_namespace_contents(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api)
    await core.create_namespace({"metadata": {"name": "team"}})  # type: ignore[arg-type]  # dict body
    for name in ("a", "b"):
        await core.create_namespaced_pod("team", pod(name))  # type: ignore[arg-type]  # dict body
    await core.create_namespaced_config_map("team", {"metadata": {"name": "keep"}})  # type: ignore[arg-type]  # dict body
    await core.delete_collection_namespaced_pod("team")
    assert sandbox.store.list("pods", "team")[0] == []
    await core.delete_namespace("team")
    assert sandbox.store.list("configmaps", "team")[0] == [] and not sandbox.store.namespace_exists("team")
