"""`KubeClient.evict_pod`: the Eviction it sends, and how a 429 is read (the wait, bounded; whether
a disruption budget refused it). Against the sandbox for the real answers, and against a small
stub server for the waits a sandbox never names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from spillway.kube import Conflict, KubeClient, NotFound, pod_path
from spillway.kube.client import MAX_RETRY_AFTER, TooManyRequests, collection_path
from spillway.model.kube import decode_pod
from spillway.sandbox import Sandbox


async def test_an_eviction_deletes_gracefully_and_names_the_pod_s_uid(sandbox: Sandbox) -> None:
    kube = await KubeClient.connect(str(sandbox.kubeconfig_path))
    try:
        await kube.request("POST", collection_path("v1", "pods", "default"), body={
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "nginx"}]}})
        uid = decode_pod(await kube.request("GET", pod_path("default", "p"))).metadata.uid
        with pytest.raises(Conflict):
            await kube.evict_pod("default", "p", uid="another-incarnation")
        await kube.evict_pod("default", "p", uid=uid)
        assert decode_pod(await kube.request("GET", pod_path("default", "p"))).is_terminating()
        with pytest.raises(NotFound):
            await kube.evict_pod("default", "missing")
    finally:
        await kube.close()


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[tuple[list[dict[str, Any]], list[web.Response], KubeClient]]:
    """A server answering each eviction with the next queued response; the bodies it got."""
    received: list[dict[str, Any]] = []
    answers: list[web.Response] = []

    async def evict(request: web.Request) -> web.Response:
        received.append(await request.json())
        return answers.pop(0)

    app = web.Application()
    app.router.add_post("/api/v1/namespaces/{ns}/pods/{name}/eviction", evict)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "stub",
        "clusters": [{"name": "stub", "cluster": {"server": f"http://{host}:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "u"}}]}))
    kube = await KubeClient.connect(str(kubeconfig))
    try:
        yield received, answers, kube
    finally:
        await kube.close()
        await runner.cleanup()


def too_many(retry_after: int | None = None, *, header: str | None = None, budget: bool = True) -> web.Response:
    details: dict[str, Any] = {"causes": [{"reason": "DisruptionBudget", "message": "needs 2"}] if budget else []}
    if retry_after is not None:
        details["retryAfterSeconds"] = retry_after
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "TooManyRequests", "code": 429,
            "message": "Cannot evict pod as it would violate the pod's disruption budget.", "details": details}
    return web.json_response(body, status=429, headers={"Retry-After": header} if header is not None else None)


@pytest.mark.parametrize(("answer", "wait", "budget"), [
    pytest.param(lambda: too_many(), None, True, id="no-wait-named"),
    pytest.param(lambda: too_many(10, header="10"), 10.0, True, id="header"),
    pytest.param(lambda: too_many(7), 7.0, True, id="details-only"),
    pytest.param(lambda: too_many(header="86400"), MAX_RETRY_AFTER, True, id="bounded"),
    pytest.param(lambda: too_many(header="Wed, 21 Oct 2015 07:28:00 GMT"), None, True, id="http-date-ignored"),
    pytest.param(lambda: too_many(3, budget=False), 3.0, False, id="throttled-not-a-budget"),
])
async def test_a_429_says_how_long_to_wait(stub: tuple[list[dict[str, Any]], list[web.Response], KubeClient],
                                           answer: Any, wait: float | None, budget: bool) -> None:
    received, answers, kube = stub
    answers.append(answer())
    with pytest.raises(TooManyRequests) as refused:
        await kube.evict_pod("ns", "web-1", uid="u-1", grace_seconds=5)
    assert (refused.value.retry_after, refused.value.disruption_budget) == (wait, budget)
    assert refused.value.status == 429
    assert received == [{"apiVersion": "policy/v1", "kind": "Eviction",
                         "metadata": {"name": "web-1", "namespace": "ns"},
                         "deleteOptions": {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 5,
                                           "preconditions": {"uid": "u-1"}}}]
