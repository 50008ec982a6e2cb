"""The admission service: the mutating webhook that gates pods placement must see first (docs/design.md §2).

HTTPS on `admission.port` (`POST /mutate`, plus /healthz); the runtime's health server still
serves /healthz, /readyz and /metrics on the health port. The global switch comes from the bus
(the watcher's `config` bucket), never from the API, and /readyz waits until it was read once.
TLS: `admission.tls.certFile/keyFile` (mounted from a Secret in production); when they are not
configured a self-signed certificate is generated in a temporary directory; when configured but
missing, one is generated at those paths (dev: `spillway up` then registers it as the caBundle).

Run it with `spillway run admission --config FILE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from services.admission.tls import ServingCert, ensure_certificate
from services.admission.webhook import webhook_app
from spillway.config import policy_options
from spillway.model import messages as m
from spillway.model.kube import ANNOTATION_AUTO_SCALE
from spillway.runtime import Context, Service


@dataclass
class AdmissionState:
    global_switch: str | None = None
    cert: ServingCert | None = None
    port: int = 0
    runner: web.AppRunner | None = None
    switch_synced: asyncio.Event = field(default_factory=asyncio.Event)
    tmpdir: tempfile.TemporaryDirectory[str] | None = None


class AdmissionService(Service):
    """The Service with its state exposed (tests read `state.port`, `state.cert`)."""

    def __init__(self) -> None:
        super().__init__("admission")
        self.state = AdmissionState()


def build_service() -> AdmissionService:
    service = AdmissionService()
    state = service.state

    @service.on_startup
    async def serve_webhook(ctx: Context) -> None:
        service.set_ready(False)
        tls = ctx.config.admission.tls
        if tls.cert_file and tls.key_file:
            state.cert = ensure_certificate(Path(tls.cert_file), Path(tls.key_file))
        else:
            state.tmpdir = tempfile.TemporaryDirectory(prefix="spillway-admission-")
            work = Path(state.tmpdir.name)
            state.cert = ensure_certificate(work / "tls.crt", work / "tls.key")
        app = webhook_app(lambda: state.global_switch, policy_options(ctx.config))
        state.runner = web.AppRunner(app, access_log=None)
        await state.runner.setup()
        site = web.TCPSite(state.runner, "0.0.0.0", ctx.config.admission.port,
                           ssl_context=state.cert.server_context())
        await site.start()
        sockets = getattr(getattr(site, "_server", None), "sockets", None) or []
        state.port = sockets[0].getsockname()[1] if sockets else ctx.config.admission.port
        ctx.log.info("webhook listening", extra={"port": state.port})

    @service.background
    async def follow_switch(ctx: Context) -> None:
        def synced() -> None:
            service.set_ready(True)
            state.switch_synced.set()

        configs = await ctx.bus.typed_kv(m.KV_CONFIG, m.ConfigEvent)
        async for change in configs.watch(m.CONFIG_KEY_EKS, on_synced=synced):
            config = change.value
            state.global_switch = None if config is None or config.deleted else config.data.get(ANNOTATION_AUTO_SCALE)

    @service.on_shutdown
    async def stop_webhook(ctx: Context) -> None:
        if state.runner is not None:
            await state.runner.cleanup()
            state.runner = None
        if state.tmpdir is not None:
            with contextlib.suppress(OSError):
                state.tmpdir.cleanup()
            state.tmpdir = None

    return service


service = build_service()
