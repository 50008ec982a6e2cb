"""Small builders and raw-HTTP helpers shared by the sandbox tests.

The builders make plain dicts. kubernetes_asyncio sends a dict body as it is, but its stubs accept
only its model classes, so a call that passes one carries `# type: ignore[arg-type]  # dict body`.
"""

from __future__ import annotations

import io
from typing import Any

import aiohttp
import msgspec
from multidict import CIMultiDictProxy

from spillway.sandbox import Sandbox


def pod(name: str, *, labels: dict[str, str] | None = None, gates: list[str] | None = None,
        node: str | None = None, image: str = "nginx:1.27", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "app", "image": image}], **spec},
    }
    if gates:
        body["spec"]["schedulingGates"] = [{"name": g} for g in gates]
    if node:
        body["spec"]["nodeName"] = node
    return body


def node(name: str, *, labels: dict[str, str] | None = None, kubelet_port: int | None = None,
         ip: str = "127.0.0.1") -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [{"type": "Ready", "status": "True"}],
        "addresses": [{"type": "InternalIP", "address": ip}],
        "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Spillway", "kernelVersion": "6.0",
                     "containerRuntimeVersion": "containerd://1.7", "architecture": "amd64", "bootID": "b",
                     "kubeProxyVersion": "", "machineID": "m", "operatingSystem": "linux", "systemUUID": "u"},
    }
    if kubelet_port:
        status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": kubelet_port}}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}}, "status": status}


class Raw:
    """Plain HTTP against the sandbox, for checks below what kubernetes_asyncio exposes."""

    def __init__(self, sb: Sandbox, token: str | None = None) -> None:
        self.sb = sb
        self.headers = {"Authorization": f"Bearer {token or sb.admin_token}"}

    async def request(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
                      headers: dict[str, str] | None = None) -> tuple[int, Any, CIMultiDictProxy[str]]:
        encoded = msgspec.json.encode(body) if body is not None else None
        # aiohttp warns about large raw-bytes bodies; a file-like one is streamed instead
        data = io.BytesIO(encoded) if encoded is not None and len(encoded) > 1024 * 1024 else encoded
        hdrs = {**self.headers, "Content-Type": content_type, **(headers or {})}
        async with aiohttp.ClientSession() as session, \
                session.request(method, self.sb.url + path, data=data, headers=hdrs,
                                ssl=self.sb.ssl_context() or True) as resp:
            raw = await resp.read()
            try:
                decoded = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                decoded = raw.decode()
            return resp.status, decoded, resp.headers

    async def stream(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]]]:
        """GET a watch and collect every line until the server ends the stream."""
        async with aiohttp.ClientSession() as session, \
                session.get(self.sb.url + path, headers={**self.headers, **(headers or {})},
                            ssl=self.sb.ssl_context() or True) as resp:
            lines = [msgspec.json.decode(line) async for line in resp.content if line.strip()]
            return resp.status, lines
