"""PodDisruptionBudgets and pods/eviction behave as kube-apiserver and the disruption controller do
(docs/kubernetes-api.md, "PodDisruptionBudgets and eviction"): validation, the status the
controller computes, an eviction refused with 429 when no disruption is allowed, spent otherwise."""

from __future__ import annotations

import re
from typing import Any

import pytest

from spillway.kube import KubeClient
from spillway.kube.client import TooManyRequests
from spillway.sandbox import Sandbox
from tests.fixtures.eventually import eventually
from tests.sandbox.conftest import ClusterFactory
from tests.sandbox.helpers import Raw

PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."


def budget(name: str = "web", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


def deployment(replicas: int, name: str = "web") -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}


def eviction(name: str, **options: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}
    if options:
        body["deleteOptions"] = options
    return body


async def running_pod(raw: Raw, name: str, labels: dict[str, str], *, running: bool = True) -> None:
    """A bare pod in default; Running (as its kubelet would report it) unless `running` is False."""
    await raw.request("POST", "/api/v1/namespaces/default/pods",
                      {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                       "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    if running:
        await raw.request("PATCH", f"/api/v1/namespaces/default/pods/{name}/status", {"status": {"phase": "Running"}},
                          content_type="application/merge-patch+json")


async def ready_pods(raw: Raw, app: str = "web") -> list[dict[str, Any]]:
    _, listed, _ = await raw.request("GET", f"/api/v1/namespaces/default/pods?labelSelector=app%3D{app}")
    return [p for p in listed["items"] if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]


async def pdb_status(raw: Raw, name: str = "web") -> dict[str, Any]:
    _, obj, _ = await raw.request("GET", f"{PDBS}/{name}")
    status: dict[str, Any] = obj["status"]
    return status


@pytest.mark.parametrize(("spec", "field", "message"), [
    ({"minAvailable": 1, "maxUnavailable": 1}, "spec", "minAvailable and maxUnavailable cannot be both set"),
    ({"maxUnavailable": -1}, "spec.maxUnavailable", "Invalid value: -1: must be greater than or equal to 0"),
    ({"minAvailable": "50"}, "spec.minAvailable", "a valid percent string must be a numeric string followed by an "
                                                   "ending '%'"),
    ({"minAvailable": "150%"}, "spec.minAvailable", 'Invalid value: "150%": must not be greater than 100%'),
    ({"maxUnavailable": 1, "unhealthyPodEvictionPolicy": "Sometimes"}, "spec.unhealthyPodEvictionPolicy",
     'Unsupported value: "Sometimes"'),
    ({"maxUnavailable": 1, "selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
     "spec.selector.matchExpressions[0].values", "Required value"),
])
async def test_invalid_budgets_are_refused_with_422_naming_the_field(
        sandbox: Sandbox, spec: dict[str, Any], field: str, message: str) -> None:
    raw = Raw(sandbox)
    status, body, _ = await raw.request("POST", PDBS, budget(**spec))
    assert status == 422, body
    assert body["reason"] == "Invalid"
    assert any(c["field"] == field and message in c["message"] for c in body["details"]["causes"]), body


async def test_a_new_budget_shows_zero_counts_and_generation_1(sandbox: Sandbox) -> None:
    raw = Raw(sandbox)
    status, created, _ = await raw.request("POST", PDBS, budget(maxUnavailable="25%"))
    assert status == 201, created
    assert created["metadata"]["generation"] == 1
    assert created["status"] == {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                                 "expectedPods": 0}
    _, patched, _ = await raw.request("PATCH", f"{PDBS}/web", {"spec": {"maxUnavailable": 2}},
                                      content_type="application/merge-patch+json")
    assert patched["metadata"]["generation"] == 2 and patched["spec"]["maxUnavailable"] == 2


async def test_the_controller_computes_the_status_from_ready_pods_and_the_deployment_scale(
        cluster: Sandbox) -> None:
    raw = Raw(cluster)
    await raw.request("POST", "/apis/apps/v1/namespaces/default/deployments", deployment(4))
    await eventually(lambda: _count(raw, 4), what="4 ready web pods")
    await raw.request("POST", PDBS, budget(maxUnavailable=1))

    async def computed() -> dict[str, Any] | None:
        status = await pdb_status(raw)
        return status if status.get("observedGeneration") == 1 and status["currentHealthy"] == 4 else None
    status = await eventually(computed, what="the budget's status computed")
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (4, 3, 1)
    condition = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
    assert (condition["status"], condition["reason"]) == ("True", "SufficientPods")


async def _count(raw: Raw, n: int) -> bool:
    return len(await ready_pods(raw)) == n


async def test_an_eviction_spends_the_budget_and_the_next_one_is_refused_with_429(
        make_cluster: ClusterFactory) -> None:
    """kubelet delay 1 s: the first evicted pod's replacement is not ready yet when the second
    eviction comes, so the budget (maxUnavailable 1) has nothing left to spend."""
    sb = await make_cluster(kubelet_delay=1.0)
    raw = Raw(sb)
    await raw.request("POST", "/apis/apps/v1/namespaces/default/deployments", deployment(3))
    await eventually(lambda: _count(raw, 3), what="3 ready web pods", seconds=20)
    await raw.request("POST", PDBS, budget(maxUnavailable=1))
    await eventually(lambda: _allowed(raw, 1), what="one disruption allowed")
    first, second, _ = [p["metadata"]["name"] for p in await ready_pods(raw)]
    status, body, _ = await raw.request("POST", f"/api/v1/namespaces/default/pods/{first}/eviction", eviction(first))
    assert (status, body["status"]) == (201, "Success"), body
    _, pod, _ = await raw.request("GET", f"/api/v1/namespaces/default/pods/{first}")
    assert pod["metadata"].get("deletionTimestamp"), "an eviction is a graceful delete"
    target = next(c for c in pod["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert (target["status"], target["reason"]) == ("True", "EvictionByEvictionAPI")
    spent = await pdb_status(raw)
    assert spent["disruptionsAllowed"] == 0 and first in spent["disruptedPods"]
    status, body, headers = await raw.request("POST", f"/api/v1/namespaces/default/pods/{second}/eviction",
                                              eviction(second))
    assert status == 429, body
    assert (body["reason"], body["message"]) == ("TooManyRequests", REFUSED)
    [cause] = body["details"]["causes"]
    assert cause["reason"] == "DisruptionBudget"
    # the handler reads the budget's status as last written: by itself (3) or by the controller (2)
    assert re.fullmatch(r"The disruption budget web needs 2 healthy pods and has [23] currently", cause["message"])
    assert "Retry-After" not in headers, "a budget with nothing to spend names no wait"
    _, still, _ = await raw.request("GET", f"/api/v1/namespaces/default/pods/{second}")
    assert not still["metadata"].get("deletionTimestamp")
    # once the replacement is ready the controller gives the disruption back
    await eventually(lambda: _allowed(raw, 1), what="the budget allows one disruption again", seconds=20)


async def _allowed(raw: Raw, n: int) -> bool:
    return (await pdb_status(raw)).get("disruptionsAllowed") == n


async def test_a_budget_not_observed_yet_answers_429_with_retry_after_10(sandbox: Sandbox, kube: KubeClient) -> None:
    """No controller runs here: the budget's status was never computed for its generation."""
    raw = Raw(sandbox)
    await running_pod(raw, "p", {"app": "web"})
    await raw.request("POST", PDBS, budget(maxUnavailable=1))
    status, body, headers = await raw.request("POST", "/api/v1/namespaces/default/pods/p/eviction", eviction("p"))
    assert status == 429 and headers["Retry-After"] == "10"
    assert body["details"]["retryAfterSeconds"] == 10
    processing = "The disruption budget web is still being processed by the server."
    assert body["details"]["causes"][0]["message"] == processing
    with pytest.raises(TooManyRequests) as refused:
        await kube.evict_pod("default", "p")
    assert refused.value.retry_after == 10.0 and refused.value.disruption_budget


async def test_pending_pods_and_pods_without_a_budget_are_simply_deleted(sandbox: Sandbox) -> None:
    raw = Raw(sandbox)
    await running_pod(raw, "pending", {"app": "web"}, running=False)
    await running_pod(raw, "free", {"app": "other"})
    await raw.request("POST", PDBS, budget(minAvailable=5))
    for name in ("pending", "free"):
        status, body, _ = await raw.request("POST", f"/api/v1/namespaces/default/pods/{name}/eviction",
                                            eviction(name))
        assert status == 201, body


async def test_an_eviction_must_name_its_pod_and_two_budgets_are_a_500(sandbox: Sandbox) -> None:
    raw = Raw(sandbox)
    await running_pod(raw, "p", {"app": "web"})
    status, body, _ = await raw.request("POST", "/api/v1/namespaces/default/pods/p/eviction", eviction("q"))
    assert (status, body["message"]) == (400, "name in URL does not match name in Eviction object")
    await raw.request("POST", PDBS, budget("a", maxUnavailable=1))
    await raw.request("POST", PDBS, budget("b", maxUnavailable=1))
    status, body, _ = await raw.request("POST", "/api/v1/namespaces/default/pods/p/eviction", eviction("p"))
    assert status == 500 and "more than one PodDisruptionBudget" in body["message"]


async def test_an_empty_selector_guards_nothing_at_eviction_but_counts_every_pod(cluster: Sandbox) -> None:
    """Upstream's asymmetry: the eviction handler skips a budget with an empty selector, while the
    disruption controller counts every pod of the namespace for it."""
    raw = Raw(cluster)
    await raw.request("POST", "/apis/apps/v1/namespaces/default/deployments", deployment(2))
    await eventually(lambda: _count(raw, 2), what="2 ready web pods")
    await raw.request("POST", PDBS, {**budget(minAvailable=2), "spec": {"minAvailable": 2, "selector": {}}})

    async def counted() -> bool:
        return (await pdb_status(raw)).get("currentHealthy") == 2
    await eventually(counted, what="the empty selector counts both pods")
    name = (await ready_pods(raw))[0]["metadata"]["name"]
    status, body, _ = await raw.request("POST", f"/api/v1/namespaces/default/pods/{name}/eviction", eviction(name))
    assert status == 201, body
