"""The runtime in-process: handlers run through the bus, readiness follows the service, shutdown drains."""

from __future__ import annotations

import asyncio

import aiohttp

from spillway.bus import Bus
from spillway.config import parse_config
from spillway.model import messages as m
from spillway.natsserver import free_port
from spillway.runtime import Context, Runtime, Service
from tests.bus.samples import sample


async def status(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as resp:
        return resp.status


async def test_service_handles_messages_and_drains_on_stop(nats_server: str, bus: Bus) -> None:
    service = Service("example")
    seen: list[str] = []
    started: list[str] = []
    slow_handler_finished = asyncio.Event()
    in_handler = asyncio.Event()

    @service.on_startup
    async def setup(ctx: Context) -> None:
        started.append(ctx.service)
        service.set_ready(False)

    running = asyncio.Event()

    @service.background
    async def mark_running(ctx: Context) -> None:
        running.set()  # background tasks start once consumers are up

    @service.on(m.POD_BOUND)
    async def on_bound(event: m.PodEvent) -> None:
        seen.append(event.pod.key)
        in_handler.set()
        await asyncio.sleep(0.3)  # still running when the stop comes: must be allowed to finish
        slow_handler_finished.set()

    port = free_port()
    config = parse_config({"nats": {"url": nats_server}}, env={})
    runtime = Runtime(service, config, health_port=port, health_host="127.0.0.1", grace=5)
    serving = asyncio.create_task(runtime.serve())
    async with aiohttp.ClientSession() as session:
        ready_url = f"http://127.0.0.1:{port}/readyz"
        await asyncio.wait_for(running.wait(), 10)
        assert await status(session, ready_url) == 503  # the service said not ready
        service.set_ready(True)
        assert await status(session, ready_url) == 200
        await bus.publish(sample(m.POD_BOUND))
        await asyncio.wait_for(in_handler.wait(), 10)
        runtime.stop()
        assert await asyncio.wait_for(serving, 10) == 0
    assert slow_handler_finished.is_set()
    assert seen == ["shop/web-1"] and started == ["example"]
    info = await bus.js.consumer_info(m.STREAM, "example-on_bound")
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_crashing_background_task_exits_1(nats_server: str) -> None:
    service = Service("crashy")

    @service.background
    async def explode(ctx: Context) -> None:
        raise RuntimeError("lost the watch")

    config = parse_config({"nats": {"url": nats_server}}, env={})
    runtime = Runtime(service, config, health_port=0, health_host="127.0.0.1")
    assert await asyncio.wait_for(runtime.serve(), 10) == 1


async def test_stop_while_nats_is_unreachable_exits_cleanly() -> None:
    config = parse_config({"nats": {"url": f"nats://127.0.0.1:{free_port()}"}}, env={})
    runtime = Runtime(Service("lonely"), config, health_port=0, health_host="127.0.0.1")
    serving = asyncio.create_task(runtime.serve())
    await asyncio.sleep(0.3)
    assert not runtime.is_ready()
    runtime.stop()
    assert await asyncio.wait_for(serving, 10) == 0
