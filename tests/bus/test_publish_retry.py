"""Publishing retries a timeout with the same message id, on the bus's clock (nothing sleeps for
real here), and gives up as a BusError once its `retry_for` seconds are spent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import nats.errors
import pytest
import pytest_asyncio
from nats.js.api import PubAck

from spillway.bus import MSG_ID_HEADER, Bus, BusError
from spillway.model import messages as m
from tests.bus.samples import sample
from tests.fixtures.clock import FakeClock


@pytest_asyncio.fixture
async def clocked_bus(nats_server: str) -> AsyncIterator[tuple[Bus, FakeClock]]:
    clock = FakeClock(auto_advance=True)
    bus = await Bus.connect(nats_server, service="test", clock=clock)
    await bus.ensure()
    try:
        yield bus, clock
    finally:
        await bus.close(drain=False)


def failing_first(bus: Bus, failures: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the first `failures` JetStream publishes time out; returns the message ids tried."""
    real = bus.js.publish
    tried: list[str] = []

    async def publish(subject: str, payload: bytes, *, headers: dict[str, str], **kwargs: Any) -> PubAck:
        tried.append(headers[MSG_ID_HEADER])
        if len(tried) <= failures:
            raise nats.errors.TimeoutError
        return await real(subject, payload, headers=headers, **kwargs)

    monkeypatch.setattr(bus.js, "publish", publish)
    return tried


async def test_a_timed_out_publish_is_retried_with_the_same_id(
    clocked_bus: tuple[Bus, FakeClock], monkeypatch: pytest.MonkeyPatch,
) -> None:
    bus, clock = clocked_bus
    tried = failing_first(bus, 2, monkeypatch)
    ack = await bus.publish(sample(m.POD_BOUND))
    assert ack.seq == 1 and not ack.duplicate
    assert len(tried) == 3 and len(set(tried)) == 1  # one id: an attempt that did land is de-duplicated
    assert clock.slept == [0.1, 0.2]


async def test_publish_gives_up_when_the_next_wait_would_pass_retry_for(
    clocked_bus: tuple[Bus, FakeClock], monkeypatch: pytest.MonkeyPatch,
) -> None:
    bus, clock = clocked_bus
    tried = failing_first(bus, 1_000, monkeypatch)
    with pytest.raises(BusError, match=r"gave up after 1.0s: TimeoutError"):
        await bus.publish(sample(m.POD_BOUND), retry_for=1.0)
    assert clock.slept == [0.1, 0.2, 0.4]  # 0.7 s waited; another 0.8 s would end past 1 s
    assert len(tried) == 4
