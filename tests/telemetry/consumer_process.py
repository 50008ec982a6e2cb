"""A consumer in its own process for the cross-process trace test: handle one message, flush traces, exit.

Usage: python -m tests.telemetry.consumer_process NATS_URL   (exports per the OTEL_* environment)
"""

from __future__ import annotations

import asyncio
import sys

from spillway.bus import Bus, Consumer, Handlers
from spillway.model import messages as m
from spillway.telemetry import setup_tracing, shutdown_tracing


async def main(url: str) -> None:
    bus = await Bus.connect(url, service="traced")
    handled = asyncio.Event()
    handlers = Handlers()

    @handlers.on(m.POD_BOUND)
    async def on_bound(event: m.PodEvent) -> None:
        handled.set()

    consumer = Consumer(bus, handlers.specs[0], fetch_timeout=0.5)
    await consumer.start()
    print("consuming", flush=True)
    await asyncio.wait_for(handled.wait(), 20)
    await consumer.stop()
    await bus.close()


if __name__ == "__main__":
    setup_tracing("spillway-traced")
    try:
        asyncio.run(main(sys.argv[1]))
    finally:
        shutdown_tracing()
