"""A server restart on the same port and store: the stream survives, the bus reconnects, consumers resume."""

from __future__ import annotations

import asyncio

from spillway.bus import Bus, Consumer, Handlers
from spillway.model import messages as m
from spillway.natsserver import NatsServer


async def test_consumer_resumes_after_server_restart(nats_process: NatsServer, bus: Bus) -> None:
    received: asyncio.Queue[m.ZoneCooldown] = asyncio.Queue()
    handlers = Handlers()

    @handlers.on(m.ZONE_COOLDOWN)
    async def on_cooldown(event: m.ZoneCooldown) -> None:
        await received.put(event)

    consumer = Consumer(bus, handlers.specs[0], fetch_timeout=0.5)
    await consumer.start()
    first = m.ZoneCooldown(zone="z-1", until=1.0)
    await bus.publish(first)
    assert await asyncio.wait_for(received.get(), 10) == first

    await nats_process.astop()
    await nats_process.astart()  # same port, same store dir
    second = m.ZoneCooldown(zone="z-2", until=2.0)
    await bus.publish(second, retry_for=20)
    assert await asyncio.wait_for(received.get(), 20) == second
    await consumer.stop()
