"""The sandbox as a running thing: options, the aiohttp application, start/stop, kubeconfig.

`async with Sandbox(SandboxOptions(...)) as sb:` runs it on the current event loop (tests do
this); `spillway sandbox` wraps the same class. The in-process controllers plug in as
`options.controllers`: async callables taking the Sandbox, run as tasks after start and
cancelled on stop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from spillway.sandbox import chaos, discovery, persistence
from spillway.sandbox.api import MAX_REQUEST_BODY, ResourceApi, error_response, json_response
from spillway.sandbox.certs import SandboxPki, ensure_pki
from spillway.sandbox.controllers import run_workload_controllers
from spillway.sandbox.errors import ApiError
from spillway.sandbox.kubelet import run_kubelet
from spillway.sandbox.rbac import AuditRecord, Rbac
from spillway.sandbox.scheduler import DEFAULT_SCHEDULER_NAMES, run_scheduler
from spillway.sandbox.store import AdmissionHook, Store
from spillway.sandbox.topology import LocalNode, ensure_nodes
from spillway.sandbox.webhooks import WebhookDispatcher

Controller = Callable[["Sandbox"], Coroutine[Any, Any, None]]


@dataclass
class SandboxOptions:
    """Everything `spillway sandbox` takes; add fields here when adding flags."""

    host: str = "127.0.0.1"
    port: int = 0
    kubeconfig: Path | None = None
    data_dir: Path | None = None
    watch_history: int = 10_000
    watch_queue_size: int = 10_000
    rbac: bool = False
    tls: bool | None = None  # None: on exactly when rbac is (kubectl sends tokens only over HTTPS)
    tokens_dir: Path | None = None
    pki_dir: Path | None = None
    bookmark_interval: float = 5.0
    snapshot_interval: float = 5.0
    admission_hooks: list[AdmissionHook] = field(default_factory=list)
    controllers: list[Controller] = field(default_factory=list)
    # Cluster behaviour: all off by default in-process, on for `spillway sandbox`.
    nodes: list[LocalNode] = field(default_factory=list)
    workload_controllers: bool = False
    scheduler: bool = False
    scheduler_names: tuple[str, ...] = DEFAULT_SCHEDULER_NAMES
    kubelet: bool = False
    kubelet_delay: float = 0.5
    kubelet_job_duration: float = 1.0
    kubelet_lease_interval: float = 10.0
    webhooks: bool = False


class Sandbox:
    """An in-memory Kubernetes API server bound to host:port."""

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.options = options or SandboxOptions()
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self.store = Store(watch_history=self.options.watch_history, watch_queue_size=self.options.watch_queue_size)
        self.store.admission_hooks.extend(self.options.admission_hooks)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.webhooks: WebhookDispatcher | None = None
        if self.options.webhooks:
            self.webhooks = WebhookDispatcher(self.store)
            self.store.admission_hooks.append(self.webhooks)
        self.port = 0
        self.rbac: Rbac
        self.pki: SandboxPki
        self.kubeconfig_path: Path

    # ---- public API ------------------------------------------------------------------------

    @property
    def tls(self) -> bool:
        return self.options.rbac if self.options.tls is None else self.options.tls

    @property
    def url(self) -> str:
        host = f"[{self.options.host}]" if ":" in self.options.host else self.options.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """For raw HTTP clients: trusts the sandbox CA (None when serving plain HTTP)."""
        return ssl.create_default_context(cafile=str(self.pki.ca_path)) if self.tls else None

    @property
    def audit(self) -> list[AuditRecord]:
        return self.rbac.audit

    @property
    def admin_token(self) -> str:
        return self.rbac.admin_token

    def token_for(self, namespace: str, serviceaccount: str) -> str:
        return self.rbac.token_for(namespace, serviceaccount)

    def write_kubeconfig(self, path: Path, token: str | None = None, user: str = "admin") -> Path:
        """A kubeconfig for this server; pass a service-account token for a least-privilege one."""
        cluster: dict[str, str] = {"server": self.url}
        if self.tls:
            cluster["certificate-authority-data"] = base64.b64encode(self.pki.ca_path.read_bytes()).decode()
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "spillway-sandbox", "preferences": {},
            "clusters": [{"name": "spillway-sandbox", "cluster": cluster}],
            "users": [{"name": user, "user": {"token": token or self.rbac.admin_token}}],
            "contexts": [{"name": "spillway-sandbox",
                          "context": {"cluster": "spillway-sandbox", "user": user, "namespace": "default"}}],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path

    async def start(self) -> None:
        opts = self.options
        self._workdir = tempfile.TemporaryDirectory(prefix="spillway-sandbox-")
        work = Path(self._workdir.name)
        self.pki = ensure_pki(opts.pki_dir or (opts.data_dir / "pki" if opts.data_dir else work / "pki"),
                              (opts.host,))
        tokens_dir = opts.tokens_dir or (opts.data_dir / "tokens" if opts.data_dir else None)
        self.rbac = Rbac(self.store, enabled=opts.rbac, tokens_dir=tokens_dir)
        loading = time.monotonic()
        if not (opts.data_dir and persistence.load(self.store, opts.data_dir)):
            self.store.bootstrap()
        load_seconds = time.monotonic() - loading
        self.api = ResourceApi(self.store, self.rbac, self.pki, bookmark_interval=opts.bookmark_interval)
        self._runner = web.AppRunner(self._app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        server_ssl = None
        if self.tls:
            server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_ssl.load_cert_chain(str(self.pki.serving_cert_path), str(self.pki.serving_key_path))
        site = web.TCPSite(self._runner, opts.host, opts.port, reuse_address=True, ssl_context=server_ssl)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else opts.port
        self.kubeconfig_path = self.write_kubeconfig(opts.kubeconfig or work / "kubeconfig")
        if opts.data_dir:
            self._tasks.append(asyncio.create_task(
                persistence.save_periodically(self.store, opts.data_dir, opts.snapshot_interval, load_seconds)))
        await ensure_nodes(self.store, opts.nodes)
        for controller in [*self._cluster_loops(), *opts.controllers]:
            self._tasks.append(asyncio.create_task(controller(self)))

    def _cluster_loops(self) -> list[Controller]:
        opts = self.options
        chosen: list[tuple[bool, Controller]] = [
            (opts.kubelet, run_kubelet), (opts.scheduler, run_scheduler),
            (opts.workload_controllers, run_workload_controllers)]
        return [loop for on, loop in chosen if on]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.webhooks is not None:
            await self.webhooks.close()
        self.store.close_watchers()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.options.data_dir:
            persistence.save(self.store, self.options.data_dir)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- the application -------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BODY)
        r = app.router
        for path in ("/healthz", "/readyz", "/livez"):
            r.add_get(path, self._ok)
        documents: list[tuple[str, Callable[[web.Request], Any]]] = [
            ("/version", lambda _r: discovery.version()),
            ("/api", lambda req: discovery.core_versions(req.host)),
            ("/api/v1", lambda _r: discovery.resource_list("", "v1")),
            ("/apis", lambda _r: discovery.group_list()),
            ("/apis/{group}", lambda req: discovery.group(req.match_info["group"])),
            ("/apis/{group}/{version}",
             lambda req: discovery.resource_list(req.match_info["group"], req.match_info["version"])),
            ("/openapi/v3", lambda _r: discovery.openapi_v3_index()),
        ]
        for path, build in documents:  # generated clients ask for `/version/`, `/api/v1/`
            r.add_get(path, self._simple(build))
            r.add_get(path + "/", self._simple(build))
        r.add_get("/openapi/v3/{path:.+}", self._simple(
            lambda req: discovery.openapi_v3_group_version(req.match_info["path"])))
        r.add_get("/debug/spillway/audit", self._audit)
        chaos.register(r, self)
        r.add_route("*", "/api/v1/{tail:.+}", self.api.handle)
        r.add_route("*", "/apis/{group}/{version}/{tail:.+}", self.api.handle)
        return app

    async def _ok(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    def _simple(self, build: Callable[[web.Request], Any]) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            try:
                self.api.user_of(request)
                body = build(request)
            except ApiError as err:
                return error_response(err)
            if body is None:
                return error_response(ApiError(404, "NotFound", "the server could not find the requested resource"))
            return json_response(body)

        return handler

    async def _audit(self, request: web.Request) -> web.Response:
        try:
            user = self.api.user_of(request)
            if self.rbac.enabled and "system:masters" not in user.groups:
                raise ApiError(403, "Forbidden", f'User "{user.name}" cannot get path "/debug/spillway/audit"')
        except ApiError as err:
            return error_response(err)
        return json_response([r.as_dict() for r in self.rbac.audit])
