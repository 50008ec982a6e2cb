"""Every label-selector form, the pod and node field selectors, and 400s for bad input."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from spillway.sandbox import Sandbox
from tests.sandbox.helpers import node, pod

PODS = {
    "a": {"app": "web", "tier": "front"},
    "b": {"app": "web", "tier": "back"},
    "c": {"app": "db"},
    "d": {},
}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", "ab"),
        ("app==web", "ab"),
        ("app!=web", "cd"),
        ("tier in (front,back)", "ab"),
        ("tier notin (front)", "bcd"),
        ("tier", "ab"),
        ("!tier", "cd"),
        ("app=web,tier=back", "b"),
        ("app in (web, db),!tier", "c"),
        ("", "abcd"),
    ],
    ids=["eq", "double-eq", "neq-includes-missing", "in", "notin-includes-missing", "exists", "not-exists", "and",
         "in-and-not-exists", "empty"],
)
async def test_label_selectors(sandbox: Sandbox, kube_api: client.ApiClient, selector: str, expected: str) -> None:
    for name, labels in PODS.items():
        await sandbox.store.create("pods", pod(name, labels=labels), namespace="default")
    got = await client.CoreV1Api(kube_api).list_namespaced_pod("default", label_selector=selector)
    assert "".join(p.metadata.name for p in got.items) == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("spec.nodeName=n1", "a"),
        ("spec.nodeName=", "bc"),
        ("spec.nodeName!=n1", "bc"),
        ("status.phase=Pending", "abc"),
        ("spec.schedulerName=tke-scheduler", "c"),
        ("metadata.name=b", "b"),
        ("metadata.namespace=default,metadata.name!=a", "bc"),
        ("spec.restartPolicy=Always", "abc"),
        ("spec.serviceAccountName=default", "abc"),
    ],
    ids=["node", "unscheduled", "node-neq", "phase", "scheduler", "name", "namespace-and-name", "restart-policy",
         "service-account"],
)
async def test_pod_field_selectors(sandbox: Sandbox, kube_api: client.ApiClient, selector: str, expected: str) -> None:
    await sandbox.store.create("pods", pod("a", node="n1"), namespace="default")
    await sandbox.store.create("pods", pod("b"), namespace="default")
    await sandbox.store.create("pods", pod("c", schedulerName="tke-scheduler"), namespace="default")
    got = await client.CoreV1Api(kube_api).list_pod_for_all_namespaces(field_selector=selector)
    assert "".join(p.metadata.name for p in got.items) == expected


@pytest.mark.parametrize(("selector", "expected"), [("spec.unschedulable=true", ["cordoned"]),
                                                   ("spec.unschedulable=false", ["open"])], ids=["true", "false"])
async def test_node_unschedulable_field(sandbox: Sandbox, kube_api: client.ApiClient, selector: str,
                                        expected: list[str]) -> None:
    cordoned = node("cordoned")
    cordoned["spec"] = {"unschedulable": True}
    await sandbox.store.create("nodes", cordoned)
    await sandbox.store.create("nodes", node("open"))
    got = await client.CoreV1Api(kube_api).list_node(field_selector=selector)
    assert [n.metadata.name for n in got.items] == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"field_selector": "spec.bogus=1"}, "field label not supported: spec.bogus"),
        ({"field_selector": "nonsense"}, "invalid selector"),
        ({"label_selector": "a in (x"}, "unable to parse requirement"),
        ({"label_selector": "bad key=1"}, "unable to parse requirement"),
    ],
    ids=["unknown-field", "malformed-field", "unclosed-set", "bad-key"],
)
async def test_bad_selectors_are_400(kube_api: client.ApiClient, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiException) as err:
        await client.CoreV1Api(kube_api).list_namespaced_pod("default", **kwargs)
    assert err.value.status == 400
    body: object = err.value.body  # the client decodes it to str before raising; its stubs say bytes
    assert isinstance(body, str)
    assert message in body
