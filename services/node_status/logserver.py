"""The kubelet log endpoint of the super nodes: `kubectl logs` of a cloud pod.

The API server proxies `pods/log` to `https://<node InternalIP>:<kubeletEndpoint.Port>/
containerLogs/{namespace}/{pod}/{container}`; this answers from DescribeEksContainerInstanceLog.
The pod's uid (read from the API) gives the instance name, the name gives its id. `tailLines`,
`limitBytes` and `follow` are honoured (follow polls the cloud every `follow_interval` seconds
until the instance stops or the client goes away); `timestamps`, `sinceSeconds` and `previous`
are accepted and ignored.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

from aiohttp import web

from spillway.cloud import CloudError, InstanceNaming, InstanceProvider, LogSource, NotFoundError
from spillway.kube import KubeClient, NotFound, pod_path
from spillway.model.kube import Pod

log = logging.getLogger("spillway.node-status.logs")
MAX_TAIL = 2000


def new_lines(before: list[str], after: list[str]) -> list[str]:
    """The lines of `after` that follow the end of `before` (both are tails of one growing log)."""
    if not before:
        return after
    for start in range(len(after) - 1, -1, -1):
        if after[start] == before[-1] and after[max(0, start - len(before) + 1):start + 1] == \
                before[max(0, len(before) - start - 1):]:
            return after[start + 1:]
    return after


class LogServer:
    """aiohttp over TLS; `port` is the bound port once started."""

    def __init__(self, client: KubeClient, provider: InstanceProvider, naming: InstanceNaming, *, host: str,
                 port: int, ssl_context: ssl.SSLContext, follow_interval: float = 2.0,
                 is_ours: Callable[[str], bool] = lambda node: True) -> None:
        self.client = client
        self.provider = provider
        self.naming = naming
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.follow_interval = follow_interval
        self.is_ours = is_ours
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _instance_id(self, namespace: str, name: str) -> str:
        try:
            pod = await self.client.get_as(pod_path(namespace, name), Pod)
        except NotFound:
            raise web.HTTPNotFound(text=f"pod {namespace}/{name} not found\n") from None
        if not self.is_ours(pod.spec.node_name):
            raise web.HTTPNotFound(text=f"pod {namespace}/{name} is not on a super node\n")
        iname = self.naming.name(pod.metadata.uid)
        found = (await self.provider.describe_by_names([iname])).get(iname)
        if found is None:
            raise web.HTTPNotFound(text=f"pod {namespace}/{name} has no container instance (yet)\n")
        return found.id

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        if not isinstance(self.provider, LogSource):
            raise web.HTTPNotImplemented(text="this cloud provider has no logs\n")
        source: LogSource = self.provider
        ns, name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        tail = _int(request.query.get("tailLines"))
        limit = _int(request.query.get("limitBytes"))
        follow = request.query.get("follow", "").lower() in ("true", "1")
        try:
            instance_id = await self._instance_id(ns, name)
            text = await source.logs(instance_id, container, min(tail, MAX_TAIL) if tail is not None else None)
        except NotFoundError:
            raise web.HTTPNotFound(text=f"container instance of {ns}/{name} not found\n") from None
        except CloudError as exc:
            raise web.HTTPBadRequest(text=f"cannot read logs of {ns}/{name}/{container}: {exc.code}: "
                                          f"{exc.message}\n") from None
        if limit is not None:
            text = text.encode()[:limit].decode("utf-8", "ignore")
        if not follow:
            return web.Response(text=text, content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(text.encode())
        lines = text.splitlines()
        while True:
            await asyncio.sleep(self.follow_interval)
            state = (await self.provider.describe([instance_id])).get(instance_id)
            try:
                latest = (await source.logs(instance_id, container, MAX_TAIL)).splitlines()
            except CloudError:
                break
            fresh = new_lines(lines, latest)
            if fresh:
                await response.write(("\n".join(fresh) + "\n").encode())
            lines = latest
            if state is None or state.status != "Running":
                break
        await response.write_eof()
        return response


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        raise web.HTTPBadRequest(text=f"not an integer: {text!r}\n") from None
