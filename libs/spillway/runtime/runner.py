"""Run one service: startup → run → shutdown, uvicorn style (signal handlers only set a flag).

startup: telemetry, health server, NATS (retrying forever), stream/buckets, startup hooks,
consumers, the DLQ advisory mover, background tasks. run: wait for SIGTERM/SIGINT. shutdown: stop
fetching, drain in-flight handlers for up to `grace` seconds, cancel background tasks, shutdown
hooks, close NATS, flush traces.

Background tasks never end the process: each runs under `spillway.loops.supervise` (restarted with
backoff, logged, counted) and the runtime's `Liveness` (also `Context.liveness`, where the
service's periodic loops register) feeds `/healthz`, which fails when one is dead or stuck. The
process keeps serving its consumers meanwhile; restarting it is the kubelet's call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import io
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from spillway.bus import AdvisoryMover, Bus, Consumer
from spillway.config import Config
from spillway.loops import SYSTEM_CLOCK, Clock, Liveness, supervise
from spillway.runtime.health import HealthServer
from spillway.runtime.service import Context, Service
from spillway.telemetry import register_secret, setup_logging, setup_tracing, shutdown_tracing
from spillway.telemetry.metrics import SERVICE_READY

log = logging.getLogger("spillway.runtime")
T = TypeVar("T")


class Runtime:
    """Drives one Service. `stop()` (or a signal) ends `serve()`, which returns the exit status."""

    def __init__(
        self, service: Service, config: Config, *, nats_url: str | None = None, health_port: int | None = None,
        grace: float = 10.0, health_host: str = "0.0.0.0", clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.service = service
        self.config = config
        self.nats_url = nats_url or config.nats.url
        ports = [config.telemetry.health_port if health_port is None else health_port]
        if config.telemetry.metrics_port and config.telemetry.metrics_port not in ports:
            ports.append(config.telemetry.metrics_port)
        self.clock = clock
        self.liveness = Liveness(clock)
        self.health = HealthServer(self.is_ready, ports, health_host, problems=self.liveness.problems)
        self.grace = grace
        self.bus: Bus | None = None
        self.consumers: list[Consumer] = []
        self.mover: AdvisoryMover | None = None
        self._started = False
        self._stop = asyncio.Event()
        self._exit_code = 0
        self._tasks: list[asyncio.Task[None]] = []

    def is_ready(self) -> bool:
        ready = self._started and self.bus is not None and self.bus.connected and self.service.is_ready()
        SERVICE_READY.labels(self.service.name).set(1 if ready else 0)
        return ready

    def stop(self, exit_code: int = 0) -> None:
        """Ask for a graceful shutdown (safe from signal handlers)."""
        self._exit_code = self._exit_code or exit_code
        self._stop.set()

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
        try:
            if await self._startup():
                await self._stop.wait()
        finally:
            await self._shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
        return self._exit_code

    async def _startup(self) -> bool:
        """False when a stop came before startup finished."""
        await self.health.start()
        log.info("health server listening", extra={"ports": self.health.bound_ports})
        bus = await self._unless_stopped(Bus.connect(
            self.nats_url, service=self.service.name, user=self.config.nats.user, password=self.config.nats.password,
            ca_file=self.config.nats.ca_file))
        if bus is None:
            return False
        self.bus = bus
        # on its own bus user a service may not create the streams: the admin's set-up does
        set_up = bus.ensure() if bus.sets_up else bus.wait_for_setup()
        if not await self._unless_stopped(_done(set_up)):
            return False
        ctx = Context(self.service.name, self.config, self.bus, logging.getLogger(f"spillway.{self.service.name}"),
                      clock=self.clock, liveness=self.liveness)
        self.service.bind(ctx)
        for hook in self.service.startup_hooks:  # a hook may wait (the cluster's identity): a stop ends it
            if not await self._unless_stopped(_done(hook(ctx))):
                return False
        for spec in self.service.handler_specs(self.config):
            consumer = Consumer(self.bus, spec)
            await consumer.start()
            self.consumers.append(consumer)
        self.mover = AdvisoryMover(self.bus, [c.name for c in self.consumers])
        await self.mover.start()
        for fn in self.service.background_tasks:
            name = f"background:{fn.__name__}"
            task = asyncio.create_task(
                supervise(name, functools.partial(fn, ctx), clock=self.clock, liveness=self.liveness), name=name)
            self._tasks.append(task)
        self._started = True
        # Everything imported and built so far lives as long as the process: keep it out of
        # the collector's scans (full collections paused every service for 50-100 ms).
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        log.info("service started", extra={"nats": without_userinfo(self.nats_url), "nats_user": self.config.nats.user,
                                           "consumers": [c.name for c in self.consumers]})
        return not self._stop.is_set()

    async def _unless_stopped(self, step: Coroutine[Any, Any, T]) -> T | None:
        """`step`'s result, or None when a stop came first (the step is then cancelled)."""
        running = asyncio.create_task(step)
        stopping = asyncio.create_task(self._stop.wait())
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not running.done():
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running
            return None
        return running.result()

    async def _shutdown(self) -> None:
        self._started = False
        log.info("shutting down", extra={"grace_seconds": self.grace})
        await asyncio.gather(*(c.stop(self.grace) for c in self.consumers), return_exceptions=True)
        if self.mover is not None:
            await self.mover.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.service.running:
            for hook in self.service.shutdown_hooks:
                try:
                    await hook(self.service.ctx)
                except Exception:
                    log.exception("shutdown hook failed", extra={"hook": getattr(hook, "__name__", "?")})
        self.service.bind(None)
        if self.bus is not None:
            await self.bus.close()
        await self.health.stop()
        log.info("stopped", extra={"exit_code": self._exit_code})


async def _done(step: Coroutine[Any, Any, None]) -> bool:
    await step
    return True


def without_userinfo(url: str) -> str:
    """`url` without `user:password@` (a URL may carry credentials; logs must not)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


# Young collections as usual, full ones rare: the state a service keeps (views, caches) is
# acyclic and long-lived, so scanning it costs 50-100 ms pauses and frees nothing.
GC_THRESHOLDS = (10_000, 20, 1_000)


def dump_tasks() -> None:
    """`kill -USR1 <pid>` writes every asyncio task's stack to stderr: a hung drain explains itself."""
    for task in asyncio.all_tasks():
        buffer = io.StringIO()
        task.print_stack(limit=8, file=buffer)
        sys.stderr.write(buffer.getvalue())
    sys.stderr.flush()


def run_service(
    service: Service, config: Config, *, nats_url: str | None = None, health_port: int | None = None,
    grace: float = 10.0,
) -> int:
    """Set up logs and tracing as `spillway-<name>`, run until a signal, return the exit status."""
    setup_logging(f"spillway-{service.name}", config.telemetry.log_level)
    for secret in (config.cloud.secret_key, config.nats.password):
        if secret:
            register_secret(secret.reveal())
    setup_tracing(f"spillway-{service.name}")
    try:
        return asyncio.run(Runtime(service, config, nats_url=nats_url, health_port=health_port, grace=grace).serve())
    finally:
        shutdown_tracing()
