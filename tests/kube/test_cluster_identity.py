"""The cluster's identity is the uid of its kube-system namespace: read from the API, different for
every cluster, and never defaulted when it cannot be read (an error, retried at start-up)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes_asyncio import client as k8s_client
from prometheus_client import REGISTRY

from spillway.kube import ClusterIdentityError, KubeClient, cluster_uid, wait_for_cluster_uid
from spillway.kube.identity import IDENTITY_LOOP
from spillway.loops import Liveness
from spillway.sandbox import Sandbox
from tests.fixtures.clock import FakeClock
from tests.fixtures.sandbox import SandboxFactory

KUBE_SYSTEM = "/api/v1/namespaces/kube-system"


async def test_the_uid_is_kube_systems_and_each_cluster_has_its_own(
    sandbox: Sandbox, make_sandbox: SandboxFactory,
) -> None:
    uids = []
    for sb in (sandbox, await make_sandbox()):
        async with await KubeClient.connect(str(sb.kubeconfig_path)) as client:
            uid = await cluster_uid(client)
        assert uid == sb.store.get("namespaces", None, "kube-system")["metadata"]["uid"]
        uids.append(uid)
    assert uids[0] and uids[1] and uids[0] != uids[1]


class NamespaceApi:
    """Answers GET kube-system with `answers`, one per call (the last one repeats)."""

    def __init__(self, *answers: tuple[int, Any]) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def get(self, request: web.Request) -> web.Response:
        status, body = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return web.json_response(body, status=status)


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    servers: list[TestServer] = []
    clients: list[KubeClient] = []

    async def start(api: NamespaceApi) -> KubeClient:
        app = web.Application()
        app.router.add_get(KUBE_SYSTEM, api.get)
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        configuration = k8s_client.Configuration()
        configuration.host = str(server.make_url("")).rstrip("/")
        clients.append(KubeClient(k8s_client.ApiClient(configuration)))
        return clients[-1]

    try:
        yield start
    finally:
        for client in clients:
            await client.close()
        for server in servers:
            await server.close()


def status(code: int, reason: str, message: str) -> tuple[int, Any]:
    return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
                  "message": message}


def namespace(uid: str | None) -> tuple[int, Any]:
    meta: dict[str, Any] = {"name": "kube-system"} | ({"uid": uid} if uid is not None else {})
    return 200, {"kind": "Namespace", "apiVersion": "v1", "metadata": meta}


@pytest.mark.parametrize(("answer", "expected"), [
    pytest.param(status(404, "NotFound", 'namespaces "kube-system" not found'), "namespace kube-system not found",
                 id="missing"),
    pytest.param(namespace(None), "has no metadata.uid", id="no-uid"),
    pytest.param(namespace(""), "has no metadata.uid", id="empty-uid"),
    pytest.param(status(403, "Forbidden", 'namespaces "kube-system" is forbidden'),
                 "grant get on namespaces named kube-system", id="forbidden"),
    pytest.param((200, {"metadata": {"uid": 7}}), "does not decode", id="odd-uid"),
])
async def test_no_uid_is_an_error_never_a_default(serve: Any, answer: tuple[int, Any], expected: str) -> None:
    client = await serve(NamespaceApi(answer))
    with pytest.raises(ClusterIdentityError, match=expected):
        await cluster_uid(client)


async def test_start_up_reports_and_retries_until_the_uid_can_be_read(serve: Any) -> None:
    api = NamespaceApi(status(404, "NotFound", "not found"), namespace(""), namespace("3c9e-uid"))
    client = await serve(api)
    clock, liveness = FakeClock(), Liveness(FakeClock())
    failed_before = REGISTRY.get_sample_value("spillway_loop_failures_total", {"loop": IDENTITY_LOOP}) or 0.0
    task = asyncio.create_task(wait_for_cluster_uid(client, clock=clock, liveness=liveness))
    for _ in range(2):
        await clock.parked()  # a failed read: counted, backed off, not done
        assert not task.done()
        clock.advance(clock.slept[-1])
    assert await task == "3c9e-uid"
    assert api.calls == 3
    failed = REGISTRY.get_sample_value("spillway_loop_failures_total", {"loop": IDENTITY_LOOP}) or 0.0
    assert failed - failed_before == 2
    assert liveness.names() == []  # done: the start-up loop left the registry
