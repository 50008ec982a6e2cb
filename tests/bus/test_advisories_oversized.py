"""The advisory dead-letter path (a consumer that crashed on its last delivery) sends a letter even
for a payload near the server's max_payload: the letter keeps the head of it, as the consumer path does."""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from spillway.bus import AdvisoryMover, Bus
from spillway.bus.consumer import DEAD_LETTER_PAYLOAD_HEAD
from spillway.model import messages as m
from tests.bus.helpers import Collector

SUBJECT = "spillway.test.oversized"


async def crash_on(jetstream: JetStreamContext, durable: str) -> None:
    """Fetch the one message of `durable` and never ack it (max_deliver 1): the server gives up."""
    sub = await jetstream.pull_subscribe_bind(durable=durable, stream=m.STREAM)
    assert len(await sub.fetch(1, timeout=5)) == 1


async def test_an_oversized_payload_is_cut_and_the_letter_is_sent(
    bus: Bus, jetstream: JetStreamContext, nats_client: Client,
) -> None:
    dlq = await Collector.on(nats_client, "spillway.dlq.test")
    for durable in ("test-big-crash", "test-small-crash"):
        await jetstream.add_consumer(m.STREAM, ConsumerConfig(
            durable_name=durable, filter_subject=f"{SUBJECT}.{durable}", ack_policy=AckPolicy.EXPLICIT,
            ack_wait=0.5, max_deliver=1,
        ))
    mover = AdvisoryMover(bus, ["test-big-crash", "test-small-crash"], fetch_timeout=0.5)
    await mover.start()
    try:
        # fits alone, not inside a letter: its quotes and newlines are escaped there, twice as long
        big = ('"\n' + "é" * 10 + "x" * 88).encode() * ((bus.max_payload - 4096) // 110)
        await bus.publish_raw(f"{SUBJECT}.test-big-crash", big)
        await crash_on(jetstream, "test-big-crash")
        letter: Any = m.decode("spillway.dlq.test", (await dlq.next()).data)

        await bus.publish_raw(f"{SUBJECT}.test-small-crash", b'{"small": true}')  # the mover goes on
        await crash_on(jetstream, "test-small-crash")
        small: Any = m.decode("spillway.dlq.test", (await dlq.next()).data)
    finally:
        await mover.stop()
    assert (letter.consumer, letter.subject) == ("test-big-crash", f"{SUBJECT}.test-big-crash")
    assert letter.payload.startswith(big.decode()[:DEAD_LETTER_PAYLOAD_HEAD])
    assert letter.payload.endswith(f"… [{len(big)} bytes, truncated]")
    assert "max deliveries" in letter.error
    assert (small.consumer, small.payload) == ("test-small-crash", '{"small": true}')
