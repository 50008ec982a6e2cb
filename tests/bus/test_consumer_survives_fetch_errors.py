"""The consume loop never dies quietly: a plain TimeoutError (nats-py raises one when its own
deadline has passed) or any other fetch failure is logged and the loop fetches again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from spillway.bus import Bus, Consumer, Handlers
from spillway.model import messages as m


class FlakySubscription:
    """Stands in for nats-py's pull subscription only to inject fetch failures."""

    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls = 0

    async def fetch(self, batch: int, timeout: float) -> list[Any]:  # noqa: ASYNC109 - nats-py signature
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        await asyncio.sleep(0.01)
        return []


async def test_loop_survives_plain_timeout_and_unexpected_errors(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    handlers = Handlers()

    @handlers.on(m.POD_BOUND)
    async def on_bound(event: m.PodEvent) -> None:  # pragma: no cover - never delivered here
        pass

    consumer = Consumer(bus, handlers.specs[0])
    sub = FlakySubscription([TimeoutError(), RuntimeError("boom"), TimeoutError()])

    async def bind(**kwargs: Any) -> FlakySubscription:
        return sub

    monkeypatch.setattr(bus.js, "pull_subscribe_bind", bind)
    await consumer.start()
    for _ in range(200):
        if sub.calls >= 5:
            break
        await asyncio.sleep(0.02)
    assert consumer.running
    assert sub.calls >= 5
    await asyncio.wait_for(consumer.stop(), 5)
