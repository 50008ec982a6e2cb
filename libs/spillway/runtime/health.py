"""The HTTP side of a service: /healthz (alive), /readyz (connected and ready), /metrics (Prometheus).

/healthz is liveness: 503 with one line per dead or stuck supervised loop or task (`alive()`), so
Kubernetes restarts the pod; /readyz is readiness: connected to NATS and the service says ready.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from spillway.telemetry import render_latest


class HealthServer:
    """aiohttp on one or more ports; `ready` is asked on every /readyz."""

    def __init__(self, ready: Callable[[], bool], ports: list[int], host: str = "0.0.0.0",
                 problems: Callable[[], list[str]] = list) -> None:
        self.ready = ready
        self.problems = problems
        self.ports = ports
        self.host = host
        self.bound_ports: list[int] = []
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        for port in self.ports:
            await web.TCPSite(self._runner, self.host, port).start()
        self.bound_ports.extend(dict.fromkeys(address[1] for address in self._runner.addresses))

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        problems = self.problems()
        if problems:
            return web.Response(status=503, text="".join(f"{p}\n" for p in problems))
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        if self.ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        body, content_type = render_latest()
        return web.Response(body=body, headers={"Content-Type": content_type})
