"""The two size limits of a real cluster: kube-apiserver's request body limit (3 MiB, 413) and
etcd's request limit (1.5 MiB; kube-apiserver passes etcd's error on as a 500)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from spillway.sandbox import Sandbox
from spillway.sandbox.api import MAX_REQUEST_BODY
from spillway.sandbox.store import MAX_STORED_BYTES
from tests.sandbox.helpers import Raw, pod


def padded_pod(name: str, env_bytes: int) -> dict[str, Any]:
    body = pod(name)
    body["spec"]["containers"][0]["env"] = [{"name": "BLOB", "value": "x" * env_bytes}]
    return body


async def test_a_body_over_3_mib_is_413(sandbox: Sandbox) -> None:
    status, got, _ = await Raw(sandbox).request("POST", "/api/v1/namespaces/default/pods",
                                                padded_pod("big", MAX_REQUEST_BODY))
    assert status == 413
    assert got == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "Request entity too large: limit is 3145728", "reason": "RequestEntityTooLarge",
                   "code": 413}
    assert sandbox.store.count("pods") == 0


@pytest.mark.filterwarnings("ignore:Sending a large body:ResourceWarning")  # kubernetes_asyncio sends raw bytes
async def test_an_object_over_etcds_limit_is_the_real_500(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    status, got, _ = await Raw(sandbox).request("POST", "/api/v1/namespaces/default/pods",
                                                padded_pod("big", 1600 * 1024))
    assert status == 500
    assert got == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "etcdserver: request is too large", "code": 500}
    assert sandbox.store.count("pods") == 0
    with pytest.raises(ApiException) as err:
        await client.CoreV1Api(kube_api).create_namespaced_pod("default", padded_pod("big", 1600 * 1024))  # type: ignore[arg-type]  # dict body
    assert err.value.status == 500


async def test_a_pod_of_1_4_mib_is_accepted_and_may_not_grow_past_the_limit(sandbox: Sandbox) -> None:
    raw = Raw(sandbox)
    status, created, _ = await raw.request("POST", "/api/v1/namespaces/default/pods", padded_pod("p", 1400 * 1024))
    assert status == 201
    grow = {"metadata": {"annotations": {"more": "y" * (200 * 1024)}}}
    status, got, _ = await raw.request("PATCH", "/api/v1/namespaces/default/pods/p", grow,
                                       content_type="application/merge-patch+json")
    assert (status, got["message"]) == (500, "etcdserver: request is too large")
    kept = sandbox.store.get("pods", "default", "p")
    assert kept["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert "annotations" not in kept["metadata"]


def test_the_limits_are_the_real_defaults() -> None:
    assert (MAX_REQUEST_BODY, MAX_STORED_BYTES) == (3 * 1024 * 1024, 1572864)
