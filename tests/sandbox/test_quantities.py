"""Quantities are decoded and stored as kube-apiserver's canonical strings, in every field that
holds one; a value that is no quantity fails the decode with the real 400."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client

from spillway.sandbox import AdmissionRequest, Sandbox, quantity
from tests.fixtures.sandbox import SandboxFactory
from tests.sandbox.helpers import Raw, node, pod

REGEX_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


@pytest.mark.parametrize(("given", "stored"), [
    (1, "1"), (0.5, "500m"), (2.5, "2500m"), (0, "0"), (None, "0"), (1e-07, "100e-9"),
    ("0.5", "500m"), ("1000m", "1"), ("100m", "100m"), ("1.5", "1500m"), ("0.0000000001", "1n"),
    ("1024Mi", "1Gi"), ("1.5Gi", "1536Mi"), ("0.5Gi", "512Mi"), ("0.1Ki", "102400m"), ("1.1Ki", "1126400m"),
    ("1023", "1023"), ("1024", "1024"), ("2048Ki", "2Mi"), ("-1024Mi", "-1Gi"), ("128974848", "128974848"),
    ("129e6", "129e6"), ("1e3", "1e3"), ("1000e0", "1e3"), ("129M", "129M"), ("1000k", "1M"), ("5E", "5E"),
    ("1000E", "1e21"), (" 2Gi ", "2Gi"), ("+", "0"), (".", "0"), ("-0.5", "-500m"),
    # beyond int64 or below nano: the slow path rounds up to nano and caps at 2^63-1
    ("8Ei", "9223372036854775807"), ("99999999999999999999", "9223372036854775807"),
    ("1e-30000000", "1e-9"),
    # 18 digits or fewer at a scale of nano or more: exact, whatever the exponent (no power is built)
    ("1e30000000", "1e30000000"), ("1e2147483647", "10e2147483646"),
])
def test_canonical_strings(given: Any, stored: str) -> None:
    assert quantity.canonicalize(given) == stored


@pytest.mark.parametrize(("given", "error"), [
    ("", REGEX_ERROR), ("abc", REGEX_ERROR), ("1.2.3", REGEX_ERROR), ("Infinity", REGEX_ERROR),
    ("-Infinity", REGEX_ERROR), ("NaN", REGEX_ERROR), (True, REGEX_ERROR), ({}, REGEX_ERROR), ([1], REGEX_ERROR),
    ("1K", quantity.ERR_SUFFIX), ("1e", quantity.ERR_SUFFIX), ("1e99999999999999999999", quantity.ERR_SUFFIX),
    ("1" * 129, quantity.ERR_NUMERIC),
])
def test_malformed_quantities_raise_the_go_message(given: Any, error: str) -> None:
    with pytest.raises(quantity.QuantityError) as err:
        quantity.canonicalize(given)
    assert str(err.value) == error


def test_a_huge_number_caps_without_building_it() -> None:
    assert quantity.canonicalize(10**70) == "9223372036854775807"
    assert quantity.canonicalize(-(10**400)) == "-9223372036854775807"


@pytest.mark.parametrize(("given", "milli", "units"), [
    ("0", 0, 0), ("1", 1000, 1), ("500m", 500, 1), ("1.5", 1500, 2), ("100u", 1, 1), ("1n", 1, 1),
    ("2Gi", 2 * 2**30 * 1000, 2 * 2**30), ("0.5Gi", 512 * 2**20 * 1000, 512 * 2**20), ("1e3", 10**6, 1000),
    ("129e6", 129 * 10**9, 129 * 10**6), (0.25, 250, 1), (None, 0, 0), ("-1.5", -1500, -2),
    # saturated at int64 rather than built: a huge exponent costs nothing
    ("8Ei", quantity.MAX_INT64, quantity.MAX_INT64), ("1e30000000", quantity.MAX_INT64, quantity.MAX_INT64),
])
def test_scaled_values_round_up(given: Any, milli: int, units: int) -> None:
    """MilliValue and Value: rounded away from zero, as the scheduler counts resources."""
    q = quantity.decode(given)
    assert (quantity.ceil_scaled(q, -3), quantity.ceil_scaled(q, 0)) == (milli, units)


def _numeric_pod(name: str = "p") -> dict[str, Any]:
    body = pod(name, overhead={"cpu": 0.25},
               volumes=[{"name": "scratch", "emptyDir": {"sizeLimit": 1073741824}}])
    body["spec"]["containers"][0]["resources"] = {"requests": {"cpu": 1, "memory": "1024Mi"},
                                                  "limits": {"cpu": 0.5, "memory": 2147483648}}
    body["spec"]["initContainers"] = [{"name": "init", "image": "busybox", "resources": {"requests": {"cpu": 0.1}}}]
    return body


async def test_numeric_pod_quantities_come_back_as_canonical_strings(sandbox: Sandbox,
                                                                     kube_api: client.ApiClient) -> None:
    raw = Raw(sandbox)
    status, created, _ = await raw.request("POST", "/api/v1/namespaces/default/pods", _numeric_pod())
    assert status == 201
    resources = created["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "2147483648"}}
    assert created["spec"]["initContainers"][0]["resources"] == {"requests": {"cpu": "100m"}}
    assert created["spec"]["overhead"] == {"cpu": "250m"}
    assert created["spec"]["volumes"][0]["emptyDir"] == {"sizeLimit": "1073741824"}  # no suffix: decimal
    _, listed, _ = await raw.request("GET", "/api/v1/namespaces/default/pods")
    assert listed["items"][0]["spec"]["containers"][0]["resources"] == resources
    # the generated client's models read the same strings
    got = await client.CoreV1Api(kube_api).read_namespaced_pod("p", "default")
    assert got.spec.containers[0].resources.requests == {"cpu": "1", "memory": "1Gi"}
    assert got.spec.containers[0].resources.limits == {"cpu": "500m", "memory": "2147483648"}


async def test_kubernetes_asyncio_create_with_numbers_is_canonicalised(sandbox: Sandbox,
                                                                       kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api)
    created = await core.create_namespaced_pod("default", _numeric_pod("q"))  # type: ignore[arg-type]  # dict body
    assert created.spec.containers[0].resources.limits == {"cpu": "500m", "memory": "2147483648"}
    listed = await core.list_namespaced_pod("default")
    assert [p.spec.overhead for p in listed.items] == [{"cpu": "250m"}]


async def test_an_invalid_quantity_is_the_real_400(sandbox: Sandbox) -> None:
    body = pod("p")
    body["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "Infinity"}}
    status, got, _ = await Raw(sandbox).request("POST", "/api/v1/namespaces/default/pods", body)
    assert (status, got["reason"], got["code"]) == (400, "BadRequest", 400)
    assert got["message"] == f'Pod in version "v1" cannot be handled as a Pod: {REGEX_ERROR}'
    assert sandbox.store.try_get("pods", "default", "p") is None


async def test_workload_template_and_claim_templates_are_canonicalised(sandbox: Sandbox) -> None:
    template = {"metadata": {"labels": {"app": "db"}}, "spec": _numeric_pod()["spec"]}
    sts: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"selector": {"matchLabels": {"app": "db"}}, "serviceName": "db", "template": template,
                    "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                              "spec": {"resources": {"requests": {"storage": 10.5}}}}]}}
    status, created, _ = await Raw(sandbox).request("POST", "/apis/apps/v1/namespaces/default/statefulsets", sts)
    assert status == 201
    assert created["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "500m",
                                                                                          "memory": "2147483648"}
    assert created["spec"]["volumeClaimTemplates"][0]["spec"]["resources"] == {"requests": {"storage": "10500m"}}
    bad = {**sts, "metadata": {"name": "bad"}}
    bad["spec"] = {**sts["spec"], "volumeClaimTemplates": [{"metadata": {"name": "d"},
                                                            "spec": {"resources": {"requests": {"storage": "1K"}}}}]}
    status, got, _ = await Raw(sandbox).request("POST", "/apis/apps/v1/namespaces/default/statefulsets", bad)
    assert (status, got["message"]) == (
        400, 'StatefulSet in version "v1" cannot be handled as a StatefulSet: unable to parse quantity\'s suffix')


async def test_patch_and_status_writes_are_canonicalised(sandbox: Sandbox) -> None:
    raw = Raw(sandbox)
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}
    await raw.request("POST", "/apis/apps/v1/namespaces/default/deployments", deployment)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "resources": {"requests": {"cpu": 2}}}]}}}}
    status, got, _ = await raw.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/web", patch,
                                       content_type="application/strategic-merge-patch+json")
    assert status == 200
    assert got["spec"]["template"]["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "2"}}
    await sandbox.store.create("nodes", node("n1"))
    status_patch = {"status": {"capacity": {"cpu": 4, "memory": "8192Mi", "pods": 110},
                               "allocatable": {"cpu": 3.5, "memory": 8000000000}}}
    status, got, _ = await raw.request("PATCH", "/api/v1/nodes/n1/status", status_patch,
                                       content_type="application/merge-patch+json")
    assert status == 200
    assert got["status"]["capacity"] == {"cpu": "4", "memory": "8Gi", "pods": "110"}
    assert got["status"]["allocatable"] == {"cpu": "3500m", "memory": "8G"}


async def test_volumes_claims_and_capacity(sandbox: Sandbox) -> None:
    raw = Raw(sandbox)
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1"},
          "spec": {"capacity": {"storage": "5120Mi"}, "accessModes": ["ReadWriteOnce"]}}
    status, got, _ = await raw.request("POST", "/api/v1/persistentvolumes", pv)
    assert (status, got["spec"]["capacity"]) == (201, {"storage": "5Gi"})
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c1"},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1000Mi"},
                                                                    "limits": {"storage": 2000000000}}}}
    status, got, _ = await raw.request("POST", "/api/v1/namespaces/default/persistentvolumeclaims", pvc)
    assert (status, got["spec"]["resources"]) == (201, {"requests": {"storage": "1000Mi"},
                                                        "limits": {"storage": "2G"}})


async def test_what_an_admission_hook_adds_is_canonicalised_too(make_sandbox: SandboxFactory) -> None:
    async def add_limits(request: AdmissionRequest) -> None:
        if request.resource.plural == "pods":
            request.object["spec"]["containers"][0]["resources"] = {"limits": {"cpu": 0.75}}

    sb = await make_sandbox(admission_hooks=[add_limits])
    created = await sb.store.create("pods", pod("p"), namespace="default")
    assert created["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "750m"}}
