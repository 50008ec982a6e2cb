"""Small async helpers for bus tests: collect messages from a core subscription, wait for a condition."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg


class Collector:
    """A core NATS subscription that queues every message (also sees JetStream publishes and acks)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Msg] = asyncio.Queue()
        self.sub: Any = None

    @classmethod
    async def on(cls, nc: Client, subject: str) -> Collector:
        c = cls()

        async def cb(msg: Msg) -> None:
            await c.queue.put(msg)

        c.sub = await nc.subscribe(subject, cb=cb)
        await nc.flush()
        return c

    async def next(self, within: float = 10.0) -> Msg:
        return await asyncio.wait_for(self.queue.get(), within)

    def drain(self) -> list[Msg]:
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out
