"""Fixtures: a KubeClient on the sandbox, its instance names (`naming`), and a running cloud-provisioner
against sandbox + emulator + NATS;
`raw_api`: a KubeClient on a tiny API server that lists whatever pods a test puts in it, for the
bytes kube-apiserver (and so the sandbox) never serves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes_asyncio import client as k8s_client

from services.cloud_provisioner import main as provisioner_main
from services.cloud_provisioner.main import ProvisionerService
from spillway.cloud import InstanceNaming
from spillway.emulator.server import Emulator
from spillway.kube import KubeClient
from spillway.sandbox import Sandbox
from tests.services.cloud_provisioner.harness import NODE_A, cloud_config, fast_provider, naming_of
from tests.services.conftest import RunningService, ServiceEnv

RunProvisioner = Callable[..., AbstractAsyncContextManager[RunningService[ProvisionerService]]]


@pytest.fixture
async def kube(sandbox: Sandbox) -> AsyncIterator[KubeClient]:
    await sandbox.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "spillway"}})  # where leader leases live
    client = await KubeClient.connect(str(sandbox.kubeconfig_path))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def naming(kube: KubeClient) -> InstanceNaming:
    """This sandbox's instance names (its kube-system uid with the test clusterID)."""
    return await naming_of(kube)


@pytest.fixture
def run_provisioner(services_env: ServiceEnv, emulator: Emulator) -> RunProvisioner:
    """`async with run_provisioner(provisioner={...}) as svc:` runs one replica (call again for more)."""

    def run(clock: Any = None, **sections: Any) -> AbstractAsyncContextManager[RunningService[ProvisionerService]]:
        kwargs: dict[str, Any] = {"provider_factory": fast_provider(emulator)}
        if clock is not None:
            kwargs["clock"] = clock
        config = cloud_config(emulator, **sections)
        return services_env.run(lambda: provisioner_main.build_service(**kwargs), config=config)

    return run


def listed_pod(name: str, uid: Any, cpu: Any = "1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": uid, "resourceVersion": "5"},
            "spec": {"nodeName": NODE_A,
                     "containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}]}}


class PodListApi:
    """Serves `items` as the pods of every node, and `objects[(plural, name)]` in any namespace."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.objects: dict[tuple[str, str], Any] = {}

    async def pods(self, request: web.Request) -> web.Response:
        return web.json_response({"kind": "PodList", "metadata": {"resourceVersion": "10"}, "items": self.items})

    async def get(self, request: web.Request) -> web.Response:
        found = self.objects.get((request.match_info["plural"], request.match_info["name"]))
        if found is None:
            return web.json_response({"kind": "Status", "code": 404, "reason": "NotFound"}, status=404)
        return web.json_response(found)


@pytest.fixture
async def raw_api() -> AsyncIterator[tuple[PodListApi, KubeClient]]:
    api = PodListApi()
    app = web.Application()
    app.router.add_get("/api/v1/pods", api.pods)
    app.router.add_get("/api/v1/namespaces/{namespace}/{plural}/{name}", api.get)
    async with TestServer(app) as server:
        configuration = k8s_client.Configuration()
        configuration.host = str(server.make_url("")).rstrip("/")
        client = KubeClient(k8s_client.ApiClient(configuration))
        try:
            yield api, client
        finally:
            await client.close()
