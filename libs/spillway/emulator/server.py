"""The emulator's HTTP server: the API 3.0 envelope, signature check, limits, faults, admin endpoints.

`async with Emulator(EmulatorOptions(...)) as emu:` serves on 127.0.0.1 (port 0 = a free one)
and exposes `emu.url`, `emu.endpoint`, `emu.faults` and `emu.state` to tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from spillway.emulator import actions
from spillway.emulator.errors import ApiError
from spillway.emulator.faults import FaultDice, Faults
from spillway.emulator.signing import verify
from spillway.emulator.state import Store, WallClock
from spillway.emulator.validation import validate

log = logging.getLogger(__name__)
SERVICE = "tke"
VERSION = "2018-05-25"
SNAPSHOT_INTERVAL = 0.5


@dataclass
class EmulatorOptions:
    secret_id: str
    secret_key: str = field(repr=False)
    region: str = "ap-guangzhou"
    host: str = "127.0.0.1"
    port: int = 0
    start_delay: float = 0.0
    data_dir: Path | None = None
    quota: int = 500
    rate_limit: float = 20.0  # per action per second; 0 disables
    subnets: dict[str, str] = field(default_factory=dict)  # subnet id → zone
    default_zone: str | None = None  # for unknown subnets; None → "<region>-1"
    clock: WallClock = time.time  # drives instance lifecycles (signatures always use real time)
    seed: int | None = None
    faults: Faults = field(default_factory=Faults)


class RequestLimit:
    """The API's frequency limit on one action: `rate` requests a second, and as many saved up
    (at least one) while idle; a request past it is refused. The emulator's own, not the
    client's bucket, so that a client that misjudges the limit meets RequestLimitExceeded."""

    def __init__(self, rate: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._monotonic = monotonic
        self._allowance = self.capacity
        self._at = monotonic()

    def allow(self) -> bool:
        now = self._monotonic()
        self._allowance = min(self.capacity, self._allowance + (now - self._at) * self.rate)
        self._at = now
        if self._allowance < 1:
            return False
        self._allowance -= 1
        return True


class Emulator:
    def __init__(self, options: EmulatorOptions) -> None:
        self.options = options
        self.state = Store(options.clock, options.start_delay, seed=options.seed)
        self.faults = options.faults
        self._dice = FaultDice(self.faults, seed=options.seed)
        self._limits: dict[str, RequestLimit] = {}
        self._runner: web.AppRunner | None = None
        self._snapshotter: asyncio.Task[None] | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"{self.options.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}/"

    async def start(self) -> None:
        if self.options.data_dir is not None:
            self.state.load(self.options.data_dir)
        app = web.Application(client_max_size=8 * 2**20)
        app.router.add_post("/", self._handle)
        app.router.add_get("/_admin/state", self._admin_state)
        app.router.add_post("/_admin/faults", self._admin_faults)
        app.router.add_post("/_admin/reset", self._admin_reset)
        app.router.add_post("/_admin/vanish", self._admin_vanish)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.options.host, self.options.port).start()
        self.port = self._runner.addresses[0][1]
        if self.options.data_dir is not None:
            self._snapshotter = asyncio.create_task(self._snapshot_loop())

    async def stop(self) -> None:
        if self._snapshotter is not None:
            self._snapshotter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._snapshotter
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._save()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _save(self) -> None:
        if self.options.data_dir is not None and self.state.dirty:
            self.state.save(self.options.data_dir)

    async def _snapshot_loop(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_INTERVAL)
            self._save()

    def zone_of(self, subnet_id: str, region: str) -> str:
        return self.options.subnets.get(subnet_id) or self.options.default_zone or f"{region}-1"

    def vanish(self, ids: list[str]) -> None:
        """Delete instances behind the client's back."""
        self.state.delete(ids)

    # ---- the API -----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        request_id = str(uuid.uuid4())
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        action = headers.get("x-tc-action", "")
        try:
            result = await self._dispatch(request, action, headers, body)
            payload: dict[str, Any] = {**result, "RequestId": request_id}
        except ApiError as err:
            self.state.errors[action or "-"][err.code] += 1
            payload = {"Error": {"Code": err.code, "Message": err.message}, "RequestId": request_id}
        return web.Response(body=json.dumps({"Response": payload}).encode(),
                            headers={"Content-Type": "application/json"})

    async def _dispatch(self, request: web.Request, action: str, headers: dict[str, str],
                        body: bytes) -> dict[str, Any]:
        if not action:
            raise ApiError("MissingParameter", "The request is missing the X-TC-Action header.")
        self.state.calls[action] += 1
        if self.faults.latency_ms > 0:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        verify(method=request.method, path=request.path, query=request.query_string, headers=headers, body=body,
               service=SERVICE, credentials=self._credentials, now=time.time())
        if headers.get("x-tc-version") != VERSION:
            raise ApiError("NoSuchVersion", f"The API version {headers.get('x-tc-version')!r} does not exist.")
        handler = actions.HANDLERS.get(action)
        if handler is None:
            raise ApiError("InvalidAction", f"The action {action!r} does not exist for service {SERVICE}.")
        region = headers.get("x-tc-region", "")
        if not region:
            raise ApiError("MissingParameter", "The request is missing the X-TC-Region header.")
        if region not in {r[0] for r in actions.REGIONS} | {self.options.region}:
            raise ApiError("UnsupportedRegion", f"The action does not support region {region!r}.")
        if not self._within_limit(action):
            raise ApiError("RequestLimitExceeded", f"Your requests of {action} exceed the frequency limit.")
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            raise ApiError("InvalidParameter", "The request body is not valid JSON.") from None
        validate(action, params)
        rule = self._dice.error_for(action)
        if rule is not None and not (rule.after_effect and action in actions.MUTATING):
            raise ApiError(rule.code, rule.message)
        self.state.tick()
        ctx = actions.Context(self.state, self._dice, region, self.options.quota, self.zone_of, self.options.region)
        result = handler(ctx, params)
        if rule is not None:
            raise ApiError(rule.code, rule.message)
        return result

    def _credentials(self, secret_id: str) -> str | None:
        return self.options.secret_key if secret_id == self.options.secret_id else None

    def _within_limit(self, action: str) -> bool:
        if self.options.rate_limit <= 0:
            return True
        limit = self._limits.get(action)
        if limit is None:
            limit = self._limits[action] = RequestLimit(self.options.rate_limit)
        return limit.allow()

    # ---- admin (unsigned; the emulator only listens on loopback) ----------------------------

    def snapshot(self) -> dict[str, Any]:
        self.state.tick()
        return {
            "region": self.options.region,
            "instances": [r.to_api() | {"Region": r.region, "Zone": r.zone} for r in self.state.records.values()],
            "calls": dict(self.state.calls),
            "errors": {a: dict(c) for a, c in self.state.errors.items()},
            "faults": self.faults.to_json(),
            "quota": self.options.quota,
            "rate_limit": self.options.rate_limit,
            "start_delay": self.options.start_delay,
        }

    async def _admin_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    async def _admin_faults(self, request: web.Request) -> web.Response:
        try:
            self.faults.update(await request.json())
        except (ValueError, TypeError, msgspec.ValidationError) as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response(self.faults.to_json())

    async def _admin_reset(self, request: web.Request) -> web.Response:
        what = (await request.json()) if request.can_read_body else {}
        if what.get("instances", True):
            self.state.reset()
        if what.get("calls", True):
            self.state.reset_calls()
        if what.get("faults", True):
            self.faults.update(msgspec.to_builtins(Faults()))
        return web.json_response({})

    async def _admin_vanish(self, request: web.Request) -> web.Response:
        data = await request.json()
        ids = set(data.get("ids") or [])
        names = set(data.get("names") or [])
        gone = [r.id for r in self.state.records.values() if r.id in ids or r.name in names]
        self.vanish(gone)
        return web.json_response({"vanished": gone})

