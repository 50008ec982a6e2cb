"""Writes: optimistic concurrency, the status/spec split, each PATCH type, errors and dry-run."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from spillway.sandbox import Sandbox
from tests.sandbox.helpers import Raw, pod


async def test_stale_put_is_409_with_the_real_message(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api)
    cm = await core.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"k": "1"}})  # type: ignore[arg-type]  # dict body
    await core.patch_namespaced_config_map("c", "default", {"data": {"k": "2"}})
    cm.data = {"k": "3"}
    with pytest.raises(ApiException) as err:
        await core.replace_namespaced_config_map("c", "default", cm)
    assert err.value.status == 409
    assert err.value.body is not None
    assert json.loads(err.value.body)["message"] == (
        'Operation cannot be fulfilled on configmaps "c": the object has been modified; please apply your '
        "changes to the latest version and try again")


async def test_pod_put_without_rv_is_unconditional(sandbox: Sandbox) -> None:
    created = await sandbox.store.create("pods", pod("p"), namespace="default")
    body = {**created, "metadata": {**created["metadata"], "labels": {"x": "1"}}}
    del body["metadata"]["resourceVersion"]
    status, got, _ = await Raw(sandbox).request("PUT", "/api/v1/namespaces/default/pods/p", body)
    assert status == 200 and got["metadata"]["labels"] == {"x": "1"}


async def test_leases_need_an_rv_to_update_and_may_be_created_by_put(sandbox: Sandbox) -> None:
    raw = Raw(sandbox)
    path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"
    lease: dict[str, Any] = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "n1"},
             "spec": {"holderIdentity": "n1", "renewTime": "2026-01-01T00:00:00.000000Z"}}
    status, created, _ = await raw.request("PUT", path, lease)
    assert status == 201
    status, body, _ = await raw.request("PUT", path, lease)
    assert (status, body["reason"]) == (422, "Invalid")
    lease["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    status, _, _ = await raw.request("PUT", path, lease)
    assert status == 200


async def test_status_and_spec_split(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api)
    await core.create_namespaced_pod("default", pod("p"))  # type: ignore[arg-type]  # dict body
    await core.patch_namespaced_pod("p", "default",
                                    {"status": {"phase": "Running"}, "metadata": {"labels": {"a": "b"}}})
    got = await core.read_namespaced_pod("p", "default")
    assert (got.status.phase, got.metadata.labels) == ("Pending", {"a": "b"})
    await core.patch_namespaced_pod_status("p", "default", {"status": {"phase": "Running"},
                                                             "spec": {"activeDeadlineSeconds": 5}})
    got = await core.read_namespaced_pod("p", "default")
    # an unset field reads None, though the stubs type it int
    assert (got.status.phase, got.spec.active_deadline_seconds) == ("Running", None)  # type: ignore[comparison-overlap]


PATCH_CASES = [
    ("strategic-merge-containers-by-name", {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}},
     None, lambda p: [(c.name, c.image) for c in p.spec.containers] == [("app", "nginx:2"), ("side", "busybox")]),
    ("strategic-merge-null-deletes-key", {"metadata": {"labels": {"b": None}}},
     None, lambda p: p.metadata.labels == {"a": "1"}),
    ("json-patch", [{"op": "replace", "path": "/spec/containers/1/image", "value": "busybox:2"},
                    {"op": "add", "path": "/metadata/labels/c", "value": "3"}],
     None, lambda p: p.spec.containers[1].image == "busybox:2" and p.metadata.labels["c"] == "3"),
    ("merge-patch-replaces-lists", {"metadata": {"annotations": {"x": "y"}}}, "application/merge-patch+json",
     lambda p: p.metadata.annotations == {"x": "y"}),
    ("set-element-order-not-stored", {"$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
                                      "spec": {"containers": [{"name": "side", "image": "busybox:3"}]}},
     None, lambda p: [(c.name, c.image) for c in p.spec.containers] == [("app", "nginx:1.27"), ("side", "busybox:3")]),
]


@pytest.mark.parametrize(("body", "content_type", "check"), [c[1:] for c in PATCH_CASES],
                         ids=[c[0] for c in PATCH_CASES])
async def test_patch_types(sandbox: Sandbox, kube_api: client.ApiClient, body: Any, content_type: str | None,
                           check: Any) -> None:
    core = client.CoreV1Api(kube_api)
    manifest = pod("p", labels={"a": "1", "b": "2"})
    manifest["spec"]["containers"].append({"name": "side", "image": "busybox"})
    await core.create_namespaced_pod("default", manifest)  # type: ignore[arg-type]  # dict body
    kwargs: dict[str, Any] = {"_content_type": content_type} if content_type else {}
    patched = await core.patch_namespaced_pod("p", "default", body, **kwargs)
    assert check(patched)
    stored = sandbox.store.get("pods", "default", "p")
    assert not any(k.startswith("$") for k in stored["spec"]) and not any(k.startswith("$") for k in stored)


async def test_strategic_merge_directives_on_lists() -> None:
    from spillway.sandbox.patch import strategic_merge
    obj = {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}],
                    "finalizers": ["x", "y"]}, "metadata": {"finalizers": ["f1"]}}
    patched = strategic_merge(obj, {
        "spec": {"containers": [{"name": "a", "$patch": "delete"}], "$deleteFromPrimitiveList/finalizers": ["x"]},
        "metadata": {"finalizers": ["f2"]},
    })
    assert patched == {"spec": {"containers": [{"name": "b", "image": "2"}], "finalizers": ["y"]},
                       "metadata": {"finalizers": ["f1", "f2"]}}
    assert strategic_merge({"spec": {"a": 1, "b": 2}}, {"spec": {"$retainKeys": ["b"], "b": 3}}) == {"spec": {"b": 3}}
    assert strategic_merge({"spec": {"a": 1}}, {"spec": {"$patch": "replace", "c": 1}}) == {"spec": {"c": 1}}


ERROR_CASES = [
    ("pod-without-containers", "POST", "/api/v1/namespaces/default/pods",
     {"metadata": {"name": "x"}, "spec": {"containers": []}}, "application/json", 422, "Invalid"),
    ("container-without-image", "POST", "/api/v1/namespaces/default/pods",
     {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c"}]}}, "application/json", 422, "Invalid"),
    ("event-without-involved-object", "POST", "/api/v1/namespaces/default/events",
     {"metadata": {"name": "e"}, "reason": "R"}, "application/json", 422, "Invalid"),
    ("namespace-missing", "POST", "/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "c"}},
     "application/json", 404, "NotFound"),
    ("already-exists", "POST", "/api/v1/namespaces", {"metadata": {"name": "default"}}, "application/json", 409,
     "AlreadyExists"),
    ("unknown-patch-type", "PATCH", "/api/v1/namespaces/default", {}, "application/x-unknown", 415,
     "UnsupportedMediaType"),
    ("malformed-protobuf-body", "POST", "/api/v1/namespaces/default/configmaps", {},
     "application/vnd.kubernetes.protobuf", 400, "BadRequest"),
    ("cbor-body", "POST", "/api/v1/namespaces/default/configmaps", {}, "application/cbor", 415,
     "UnsupportedMediaType"),
    ("binding-is-post-only", "PUT", "/api/v1/namespaces/default/pods/x/binding", {}, "application/json", 405,
     "MethodNotAllowed"),
    ("not-found", "GET", "/api/v1/namespaces/default/pods/ghost", None, "application/json", 404, "NotFound"),
]


@pytest.mark.parametrize(("method", "path", "body", "ctype", "code", "reason"), [c[1:] for c in ERROR_CASES],
                         ids=[c[0] for c in ERROR_CASES])
async def test_errors_are_status_objects(sandbox: Sandbox, method: str, path: str, body: Any, ctype: str, code: int,
                                         reason: str) -> None:
    status, got, _ = await Raw(sandbox).request(method, path, body, content_type=ctype)
    assert (status, got["kind"], got["status"], got["code"], got["reason"]) == (code, "Status", "Failure", code, reason)


async def test_generate_name_uid_timestamps_and_generation(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    apps = client.AppsV1Api(kube_api)
    body = {"metadata": {"generateName": "web-"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    d = await apps.create_namespaced_deployment("default", body)  # type: ignore[arg-type]  # dict body
    assert d.metadata.name.startswith("web-") and len(d.metadata.name) == 9
    assert d.metadata.uid and d.metadata.creation_timestamp and d.metadata.generation == 1
    d2 = await apps.patch_namespaced_deployment(d.metadata.name, "default", {"spec": {"replicas": 3}})
    assert d2.metadata.generation == 2 and int(d2.metadata.resource_version) > int(d.metadata.resource_version)
    d3 = await apps.patch_namespaced_deployment(d.metadata.name, "default", {"metadata": {"labels": {"x": "y"}}})
    assert d3.metadata.generation == 2


async def test_dry_run_create_and_patch_do_not_persist(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api)
    rv = sandbox.store.rv
    await core.create_namespaced_config_map("default", {"metadata": {"name": "c"}}, dry_run="All")  # type: ignore[arg-type]  # dict body
    assert sandbox.store.try_get("configmaps", "default", "c") is None and sandbox.store.rv == rv
    await core.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"a": "1"}})  # type: ignore[arg-type]  # dict body
    await core.patch_namespaced_config_map("c", "default", {"data": {"a": "2"}}, dry_run="All")
    assert sandbox.store.get("configmaps", "default", "c")["data"] == {"a": "1"}


async def test_scale_subresource(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    apps = client.AppsV1Api(kube_api)
    await apps.create_namespaced_replica_set("default", {"metadata": {"name": "rs"}, "spec": {  # type: ignore[arg-type]  # dict body
        "replicas": 1, "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    scale = await apps.read_namespaced_replica_set_scale("rs", "default")
    assert (scale.kind, scale.api_version, scale.spec.replicas, scale.status.selector) == (
        "Scale", "autoscaling/v1", 1, "a=b")
    await apps.patch_namespaced_replica_set_scale("rs", "default", {"spec": {"replicas": 4}})
    scale.spec.replicas = 2
    with pytest.raises(ApiException) as err:
        await apps.replace_namespaced_replica_set_scale("rs", "default", scale)
    assert err.value.status == 409
    assert sandbox.store.get("replicasets", "default", "rs")["spec"]["replicas"] == 4


async def test_events_share_one_store(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api)
    await core.create_namespaced_event("default", {  # type: ignore[arg-type]  # dict body
        "metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
        "reason": "Burst", "message": "to the cloud", "type": "Normal", "eventTime": "2026-01-01T00:00:00.000000Z"})
    got = await client.EventsV1Api(kube_api).read_namespaced_event("e1", "default")
    assert (got.regarding.name, got.note, got.reason) == ("p", "to the cloud", "Burst")
