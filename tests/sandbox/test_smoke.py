"""The sandbox starts, answers discovery and health, and serves kubernetes_asyncio."""

from __future__ import annotations

from kubernetes_asyncio import client

from spillway.sandbox import Sandbox


async def test_default_namespaces_exist(kube_api: client.ApiClient) -> None:
    names = {ns.metadata.name for ns in (await client.CoreV1Api(kube_api).list_namespace()).items}
    assert names == {"default", "kube-system", "kube-public", "kube-node-lease"}


async def test_version_endpoint(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    info = await client.VersionApi(kube_api).get_code()
    assert info.major == "1"
