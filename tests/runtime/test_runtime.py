"""The runtime in-process: handlers run through the bus, readiness follows the service, shutdown drains."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from spillway.bus import Bus
from spillway.config import parse_config
from spillway.loops import every
from spillway.model import messages as m
from spillway.natsserver import free_port
from spillway.runtime import Context, Runtime, Service
from tests.bus.samples import sample
from tests.fixtures.clock import FakeClock


async def status_of(session: aiohttp.ClientSession, url: str) -> int:
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
        await asyncio.Event().wait()  # and run until shutdown

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
        assert await status_of(session, ready_url) == 503  # the service said not ready
        service.set_ready(True)
        assert await status_of(session, ready_url) == 200
        await bus.publish(sample(m.POD_BOUND))
        await asyncio.wait_for(in_handler.wait(), 10)
        runtime.stop()
        assert await asyncio.wait_for(serving, 10) == 0
    assert slow_handler_finished.is_set()
    assert seen == ["shop/web-1"] and started == ["example"]
    info = await bus.js.consumer_info(m.STREAM, "example-on_bound")
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def health(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as resp:
        return resp.status, await resp.text()


async def test_crashing_background_task_is_restarted_and_fails_healthz_after_repeated_crashes(
    nats_server: str, bus: Bus,
) -> None:
    service = Service("crashy")
    crashes = 0

    @service.background
    async def explode(ctx: Context) -> None:
        nonlocal crashes
        crashes += 1
        raise RuntimeError("lost the watch")

    @service.on(m.POD_BOUND)
    async def on_bound(event: m.PodEvent) -> None:
        handled.set()

    handled = asyncio.Event()
    clock = FakeClock()
    port = free_port()
    config = parse_config({"nats": {"url": nats_server}}, env={})
    runtime = Runtime(service, config, health_port=port, health_host="127.0.0.1", clock=clock)
    serving = asyncio.create_task(runtime.serve())
    url = f"http://127.0.0.1:{port}/healthz"
    async with aiohttp.ClientSession() as session:
        for attempt in range(1, 5):
            await clock.parked()
            assert crashes == attempt and not serving.done()
            assert await health(session, url) == (200, "ok\n")  # a few crashes: restarted, still healthy
            clock.advance(120.0)
        await clock.parked()
        status, body = await health(session, url)
        assert status == 503
        assert body == ("task 'background:explode' is dead: raised RuntimeError: lost the watch; "
                        "ended 5 times in a row\n")
        await bus.publish(sample(m.POD_BOUND))
        await asyncio.wait_for(handled.wait(), 10)  # the consumers kept working all along
        runtime.stop()
        assert await asyncio.wait_for(serving, 10) == 0


async def test_a_stuck_periodic_loop_fails_healthz_naming_it(nats_server: str) -> None:
    service = Service("stuck")
    release, hanging = asyncio.Event(), asyncio.Event()
    calls = 0

    async def round_that_hangs_the_second_time() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            hanging.set()
            await release.wait()

    @service.background
    async def sweep(ctx: Context) -> None:
        await every("sweep", 10.0, round_that_hangs_the_second_time, clock=ctx.clock, liveness=ctx.liveness,
                    stuck_after=60.0)

    clock = FakeClock()
    port = free_port()
    config = parse_config({"nats": {"url": nats_server}}, env={})
    runtime = Runtime(service, config, health_port=port, health_host="127.0.0.1", clock=clock)
    serving = asyncio.create_task(runtime.serve())
    url = f"http://127.0.0.1:{port}/healthz"
    async with aiohttp.ClientSession() as session:
        await clock.parked()
        assert await health(session, url) == (200, "ok\n")
        clock.advance(10.0)
        await hanging.wait()  # the second round started and hangs
        clock.advance(61.0)
        status, body = await health(session, url)
        assert (status, body) == (503, "loop 'sweep' is stuck: no heartbeat for 61s (deadline 60s)\n")
        assert await status_of(session, f"http://127.0.0.1:{port}/readyz") == 200  # readiness is another question
        release.set()
        await clock.parked()
        assert await health(session, url) == (200, "ok\n")
        runtime.stop()
        assert await asyncio.wait_for(serving, 10) == 0


async def test_stop_while_nats_is_unreachable_exits_cleanly() -> None:
    config = parse_config({"nats": {"url": f"nats://127.0.0.1:{free_port()}"}}, env={})
    runtime = Runtime(Service("lonely"), config, health_port=0, health_host="127.0.0.1")
    serving = asyncio.create_task(runtime.serve())
    await asyncio.sleep(0.3)
    assert not runtime.is_ready()
    runtime.stop()
    assert await asyncio.wait_for(serving, 10) == 0


def test_a_handlers_concurrency_can_come_from_the_config_without_rewriting_its_spec() -> None:
    service = Service("configured")

    @service.on(m.POD_BOUND, concurrency=lambda config: config.provisioner.create_concurrency)
    async def on_bound(event: m.PodEvent) -> None:  # pragma: no cover - never delivered here
        pass

    @service.on(m.POD_DELETED, concurrency=3)
    async def on_deleted(event: m.PodEvent) -> None:  # pragma: no cover - never delivered here
        pass

    config = parse_config({"nats": {"url": "nats://127.0.0.1:4222"}, "provisioner": {"createConcurrency": 12}},
                          env={})
    assert [s.concurrency for s in service.handler_specs(config)] == [12, 3]
    assert [s.concurrency for s in service.handlers.specs] == [1, 3]  # the registered specs stay as they were
    zero = parse_config({"nats": {"url": "nats://127.0.0.1:4222"}, "provisioner": {"createConcurrency": 0}}, env={})
    assert [s.concurrency for s in service.handler_specs(zero)] == [1, 3]  # never below one


async def test_a_stop_during_a_waiting_startup_hook_ends_it_and_runs_the_shutdown_hooks(nats_server: str) -> None:
    service = Service("waiting")
    waiting, cancelled, shut_down = asyncio.Event(), asyncio.Event(), asyncio.Event()

    @service.on_startup
    async def wait_for_identity(ctx: Context) -> None:
        waiting.set()
        try:
            await asyncio.Event().wait()  # an answer that never comes (the API unreachable)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    @service.on_shutdown
    async def close(ctx: Context) -> None:
        shut_down.set()

    config = parse_config({"nats": {"url": nats_server}}, env={})
    runtime = Runtime(service, config, health_port=0, health_host="127.0.0.1")
    serving = asyncio.create_task(runtime.serve())
    await asyncio.wait_for(waiting.wait(), 10)
    runtime.stop()
    assert await asyncio.wait_for(serving, 10) == 0
    assert cancelled.is_set() and shut_down.is_set()
    assert not runtime.is_ready()



def test_a_services_wall_time_is_its_runtimes_clock() -> None:
    """Builders hand `service.wall_time` where a `() -> float` clock is wanted: it reads the
    clock of the context bound at startup, the one the service's loops run on."""
    service = Service("clocked")
    wall = service.wall_time
    with pytest.raises(RuntimeError):
        wall()  # not running yet
    clock = FakeClock(wall_start=1_800_000_000.0)
    config = parse_config({"nats": {"url": "nats://127.0.0.1:4222"}}, env={})
    service.bind(Context("clocked", config, None, logging.getLogger("clocked"),  # type: ignore[arg-type]  # no bus
                         clock=clock))
    clock.advance(5.0)
    assert wall() == 1_800_000_005.0
