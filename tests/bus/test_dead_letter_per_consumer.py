"""Two services failing on the same message each leave their own dead letter (found by the
chaos suite: the second letter shared the first one's Nats-Msg-Id and was de-duplicated away)."""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext

from spillway.bus import Bus, Consumer, Handlers, dead_letter_id
from spillway.model import messages as m


def test_dead_letter_ids_differ_per_consumer_and_repeat_per_message() -> None:
    assert dead_letter_id("S", 7, "a-on_bound") != dead_letter_id("S", 7, "b-on_bound")
    assert dead_letter_id("S", 7, "a-on_bound") == dead_letter_id("S", 7, "a-on_bound")


async def test_one_poison_message_two_services_two_letters(nats_server: str, jetstream: JetStreamContext) -> None:
    buses = [await Bus.connect(nats_server, service=name) for name in ("svc-a", "svc-b")]
    consumers: list[Consumer] = []
    try:
        await buses[0].ensure()
        for bus in buses:
            handlers = Handlers()

            @handlers.on(m.POD_BOUND)
            async def on_bound(event: m.PodEvent) -> None:
                raise AssertionError("an undecodable message never reaches the handler")

            consumers += [Consumer(bus, spec, fetch_timeout=0.5) for spec in handlers.specs]
        for consumer in consumers:
            await consumer.start()
        await buses[0].publish_raw(m.POD_BOUND, b"not json")
        subjects: dict[str, int] = {}
        for _ in range(100):
            info = await jetstream.stream_info(m.STREAM, subjects_filter=m.DLQ_ALL)
            subjects = dict(info.state.subjects or {})
            if len(subjects) == 2:
                break
            await asyncio.sleep(0.05)
        assert subjects == {"spillway.dlq.svc-a": 1, "spillway.dlq.svc-b": 1}
    finally:
        for consumer in consumers:
            await consumer.stop()
        for bus in buses:
            await bus.close(drain=False)
