"""The bus against a real nats-server: round trips, de-duplication, retries with delay, the DLQ."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from spillway.bus import (
    AdvisoryMover,
    Bus,
    Consumer,
    Handlers,
    PermanentError,
    TemporaryError,
    TypedKV,
    current_delivery,
)
from spillway.model import messages as m
from spillway.model.kube import Pod
from tests.bus.helpers import Collector
from tests.bus.samples import concrete_subjects, sample


async def run_consumer(bus: Bus, handlers: Handlers) -> list[Consumer]:
    consumers = [Consumer(bus, spec, fetch_timeout=0.5) for spec in handlers.specs]
    for c in consumers:
        await c.start()
    return consumers


async def test_every_message_type_round_trips_through_jetstream(bus: Bus) -> None:
    received: asyncio.Queue[tuple[str, m.Message]] = asyncio.Queue()
    handlers = Handlers()

    @handlers.on(*[s for s in concrete_subjects() if not s.startswith(m.DLQ_PREFIX)], durable="all")
    async def collect(msg: m.Message) -> None:
        delivery = current_delivery()
        assert delivery is not None
        await received.put((delivery.subject, msg))

    sent = {subject: sample(subject) for subject in concrete_subjects() if not subject.startswith(m.DLQ_PREFIX)}
    for subject, msg in sent.items():
        await bus.publish(msg, subject=subject)
    consumers = await run_consumer(bus, handlers)
    got = {}
    for _ in sent:
        subject, msg = await asyncio.wait_for(received.get(), 10)
        got[subject] = msg
    await consumers[0].stop()
    assert got == sent


async def test_dead_letters_round_trip_too(bus: Bus, jetstream: JetStreamContext) -> None:
    letter = sample("spillway.dlq.placement")
    await bus.publish(letter)
    raw = await jetstream.get_last_msg(m.STREAM, "spillway.dlq.placement")
    assert m.decode(raw.subject or "", raw.data or b"") == letter


async def test_same_msg_id_is_stored_once(bus: Bus, jetstream: JetStreamContext) -> None:
    msg = sample(m.POD_BOUND)
    first = await bus.publish(msg, msg_id="pod-uid-1:bound")
    second = await bus.publish(msg, msg_id="pod-uid-1:bound")
    third = await bus.publish(msg, msg_id="pod-uid-1:bound:again")
    assert (first.duplicate, second.duplicate, third.duplicate) == (None, True, None)
    assert second.seq == first.seq
    info = await jetstream.stream_info(m.STREAM)
    assert info.state.messages == 2


async def test_publish_refuses_a_type_the_subject_does_not_carry(bus: Bus) -> None:
    with pytest.raises(TypeError):
        await bus.publish(sample(m.ZONE_COOLDOWN), subject=m.POD_BOUND)


async def test_malformed_message_goes_to_dlq_and_the_consumer_goes_on(bus: Bus, nats_client: Client) -> None:
    dlq = await Collector.on(nats_client, "spillway.dlq.>")
    handled: asyncio.Queue[m.PodEvent] = asyncio.Queue()
    handlers = Handlers()

    @handlers.on(m.POD_BOUND)
    async def on_bound(event: m.PodEvent) -> None:
        await handled.put(event)

    await bus.publish_raw(m.POD_BOUND, b'{"v":1,"change":"bound"')  # truncated JSON
    good = sample(m.POD_BOUND)
    await bus.publish(good)
    consumers = await run_consumer(bus, handlers)

    letter_msg = await dlq.next()
    assert letter_msg.subject == "spillway.dlq.test"
    letter = m.decode(letter_msg.subject, letter_msg.data)
    assert letter.subject == m.POD_BOUND
    assert letter.payload == '{"v":1,"change":"bound"'
    assert letter.error.startswith("undecodable:")
    assert letter.consumer == "test-on_bound"
    assert letter.stream_seq == 1
    assert await asyncio.wait_for(handled.get(), 10) == good
    await consumers[0].stop()


async def test_failing_handler_is_retried_with_delays_then_dead_lettered(bus: Bus, nats_client: Client) -> None:
    acks = await Collector.on(nats_client, "$JS.ACK.SPILLWAY.test-always_fails.>")
    dlq = await Collector.on(nats_client, "spillway.dlq.test")
    deliveries: list[int] = []
    asked: list[float] = []

    def policy(attempt: int, error: BaseException) -> float:
        asked.append(0.1 * attempt)
        return 0.1 * attempt

    handlers = Handlers()

    @handlers.on(m.POD_TERMINATING, max_deliver=3, retry=policy)
    async def always_fails(event: m.PodEvent) -> None:
        delivery = current_delivery()
        assert delivery is not None
        deliveries.append(delivery.num_delivered)
        raise RuntimeError("cloud said no")

    await bus.publish(sample(m.POD_TERMINATING))
    consumers = await run_consumer(bus, handlers)
    letter = m.decode("spillway.dlq.test", (await dlq.next()).data)
    await consumers[0].stop()

    assert deliveries == [1, 2, 3]
    assert asked == [0.1, 0.2]
    assert (letter.deliveries, letter.error) == (3, "RuntimeError: cloud said no")
    verdicts = [(await acks.next()).data for _ in range(3)]
    # every nak carried a delay (nanoseconds), then the last delivery was terminated
    assert [v.split(b" ")[0] for v in verdicts] == [b"-NAK", b"-NAK", b"+TERM"]
    delays = [msgspec.json.decode(v.split(b" ", 1)[1])["delay"] for v in verdicts[:2]]
    assert delays == [100_000_000, 200_000_000]


@pytest.mark.parametrize(
    ("error", "expected_deliveries", "dead_lettered"),
    [
        pytest.param(PermanentError("pod is a DaemonSet"), [1], True, id="permanent-goes-straight-to-dlq"),
        pytest.param(TemporaryError("quota", delay=0.05), [1, 2], False, id="temporary-then-success"),
    ],
)
async def test_retry_as_data(
    bus: Bus, nats_client: Client, error: Exception, expected_deliveries: list[int], dead_lettered: bool
) -> None:
    dlq = await Collector.on(nats_client, "spillway.dlq.test")
    deliveries: list[int] = []
    done = asyncio.Event()
    handlers = Handlers()

    @handlers.on(m.ZONE_COOLDOWN, max_deliver=5)
    async def flaky(event: m.ZoneCooldown) -> None:
        delivery = current_delivery()
        assert delivery is not None
        deliveries.append(delivery.num_delivered)
        if isinstance(error, PermanentError) or delivery.num_delivered == 1:
            if isinstance(error, PermanentError):
                done.set()
            raise error
        done.set()

    await bus.publish(sample(m.ZONE_COOLDOWN))
    consumers = await run_consumer(bus, handlers)
    await asyncio.wait_for(done.wait(), 10)
    if dead_lettered:
        letter = m.decode("spillway.dlq.test", (await dlq.next()).data)
        assert letter.error == "PermanentError: pod is a DaemonSet"
    await consumers[0].stop()
    assert deliveries == expected_deliveries
    assert bool(dlq.drain()) is False


async def test_crashed_last_delivery_is_dead_lettered_by_the_advisory_mover(
    bus: Bus, jetstream: JetStreamContext, nats_client: Client
) -> None:
    dlq = await Collector.on(nats_client, "spillway.dlq.test")
    await jetstream.add_consumer(m.STREAM, ConsumerConfig(
        durable_name="test-crashy", filter_subject=m.ZONE_COOLDOWN, ack_policy=AckPolicy.EXPLICIT,
        ack_wait=0.5, max_deliver=1,
    ))
    mover = AdvisoryMover(bus, ["test-crashy"], fetch_timeout=0.5)
    await mover.start()
    original = sample(m.ZONE_COOLDOWN)
    await bus.publish(original)
    sub = await jetstream.pull_subscribe_bind(durable="test-crashy", stream=m.STREAM)
    fetched = await sub.fetch(1, timeout=5)  # ...and "crash": never ack
    assert len(fetched) == 1

    letter: Any = m.decode("spillway.dlq.test", (await dlq.next()).data)
    await mover.stop()
    assert letter.subject == m.ZONE_COOLDOWN
    assert m.decode(m.ZONE_COOLDOWN, letter.payload) == original
    assert letter.consumer == "test-crashy"
    assert "max deliveries" in letter.error


async def test_typed_kv_round_trip(bus: Bus) -> None:
    pods: TypedKV[Pod] = await bus.typed_kv(m.KV_PODS)
    event = sample(m.POD_BOUND)
    assert isinstance(event, m.PodEvent)
    pod = event.pod
    await pods.put(m.kv_key("shop", "web-1"), pod)
    assert await pods.get("shop/web-1") == pod
    assert await pods.keys() == ["shop/web-1"]
    await pods.delete("shop/web-1")
    assert await pods.get("shop/web-1") is None


async def test_ensure_is_idempotent(bus: Bus) -> None:
    await bus.ensure()
    await bus.ensure()
    for spec in m.BUCKETS:
        kv = await bus.kv(spec.name)
        status = await kv.status()
        assert status.bucket == spec.name


async def test_handlers_refuse_subjects_that_would_eat_dead_letters() -> None:
    handlers = Handlers()
    with pytest.raises(ValueError):
        handlers.on("spillway.>")
    with pytest.raises(KeyError):
        handlers.on("spillway.not.catalogued")
