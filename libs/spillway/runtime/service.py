"""The Service interface every `services/<name>/main.py` fills in, and the Context it is handed.

A service module creates one `Service` and decorates plain functions (kopf style; the decorators
return them unchanged):

    service = Service("placement")

    @service.on(messages.POD_PENDING_GATED, messages.POD_PENDING_UNSCHEDULABLE)
    async def on_pending(event: PodEvent) -> None:
        await service.ctx.bus.publish(decision)          # ack/nak/DLQ/tracing done by the runtime

    @service.on_startup
    async def warm_up(ctx: Context) -> None: ...          # before consumers start; ctx.config, ctx.bus

    @service.background
    async def resync(ctx: Context) -> None: ...           # runs until shutdown (then cancelled)

    @service.background
    async def sweep(ctx: Context) -> None:                # periodic work: one supervised loop
        await every("sweep", 30.0, do_sweep, clock=ctx.clock, liveness=ctx.liveness)

    @service.on_shutdown
    async def flush(ctx: Context) -> None: ...

`service.set_ready(False)` makes /readyz answer 503 (e.g. while a cache is not synced yet).

Background tasks are supervised (`spillway.loops.supervise`): one that returns or raises is logged,
counted and restarted with backoff in-process, and after five ends in a row `/healthz` answers 503
naming it, so Kubernetes restarts the pod (a kubelet's answer, not an exit: one bad round must not
take the consumers down with it). Periodic work inside them uses `spillway.loops.every` with
`ctx.clock` and `ctx.liveness`, so a loop that dies or hangs fails `/healthz` too.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from spillway.bus import Bus, Handlers, HandlerSpec
from spillway.bus.handlers import Handler
from spillway.bus.retry import default_retry
from spillway.config import Config
from spillway.loops import SYSTEM_CLOCK, Clock, Liveness, RetryPolicy
from spillway.model import messages as m

Hook = Callable[["Context"], Coroutine[Any, Any, None]]
F = TypeVar("F", bound=Hook)
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class Context:
    """What a running service gets: its name, the validated config, the bus, a logger, the clock its
    loops run on and the liveness registry `/healthz` reads."""

    service: str
    config: Config
    bus: Bus
    log: logging.Logger
    clock: Clock = SYSTEM_CLOCK
    liveness: Liveness = field(default_factory=Liveness)


class Service:
    """Handlers, hooks and background tasks of one service; the runtime drives it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.handlers = Handlers()
        self.startup_hooks: list[Hook] = []
        self.shutdown_hooks: list[Hook] = []
        self.background_tasks: list[Hook] = []
        self._concurrency_from: dict[Handler, Callable[[Config], int]] = {}
        self._ready = True
        self._ctx: Context | None = None

    def on(
        self, *subjects: str, durable: str | None = None, max_deliver: int = 5, ack_wait: float = 10.0,
        batch: int = 20, concurrency: int | Callable[[Config], int] = 1, retry: RetryPolicy = default_retry,
        message_type: type[m.Message] | None = None,
    ) -> Callable[[H], H]:
        """Register a bus handler `async def fn(msg)`; see `spillway.bus.Handlers.on`. `concurrency`
        may come from the configuration (`lambda config: ...`), read when the consumers start."""
        register = self.handlers.on(
            *subjects, durable=durable, max_deliver=max_deliver, ack_wait=ack_wait, batch=batch,
            concurrency=concurrency if isinstance(concurrency, int) else 1, retry=retry, message_type=message_type)
        if isinstance(concurrency, int):
            return register

        def register_configured(fn: H) -> H:
            self._concurrency_from[fn] = concurrency
            return register(fn)

        return register_configured

    def handler_specs(self, config: Config) -> list[HandlerSpec]:
        """The handlers' consumer settings, with what comes from `config` filled in."""
        return [dataclasses.replace(spec, concurrency=max(1, configured(config)))
                if (configured := self._concurrency_from.get(spec.fn)) is not None else spec
                for spec in self.handlers.specs]

    def on_startup(self, fn: F) -> F:
        self.startup_hooks.append(fn)
        return fn

    def on_shutdown(self, fn: F) -> F:
        self.shutdown_hooks.append(fn)
        return fn

    def background(self, fn: F) -> F:
        """A long-running task started after the consumers, supervised: restarted with backoff if it
        returns or raises, and reported on `/healthz` after repeated ends (see the module doc)."""
        self.background_tasks.append(fn)
        return fn

    def set_ready(self, ready: bool) -> None:
        self._ready = ready

    def is_ready(self) -> bool:
        return self._ready

    @property
    def running(self) -> bool:
        """Whether the runtime has bound a context (startup ran, shutdown not finished)."""
        return self._ctx is not None

    @property
    def ctx(self) -> Context:
        """The running context (available from startup on)."""
        if self._ctx is None:
            raise RuntimeError(f"service {self.name!r} is not running")
        return self._ctx

    def wall_time(self) -> float:
        """Epoch seconds on the runtime's clock, the one every loop of the service runs on (pass
        `service.wall_time` where a plain `() -> float` clock is wanted; it reads the clock when called)."""
        return self.ctx.clock.time()

    def bind(self, ctx: Context | None) -> None:
        """Called by the runtime at startup and shutdown."""
        self._ctx = ctx
