"""Retryable and permanent bus errors told apart, and messages as big as any Kubernetes object, on a real NATS."""

from __future__ import annotations

import msgspec
import nats.errors
import nats.js.errors
import pytest

from spillway.bus import (
    Bus,
    BusError,
    Consumer,
    Handlers,
    PayloadTooLarge,
    PermanentError,
    TemporaryError,
    is_permanent,
)
from spillway.model import messages as m
from spillway.natsserver import NatsServer
from spillway.natsserver.server import MAX_PAYLOAD
from tests.bus.samples import sample
from tests.fixtures.eventually import eventually
from tests.services.conftest import BusRecord, bus_records

MIB = 2**20


@pytest.mark.parametrize(("error", "permanent"), [
    pytest.param(nats.errors.MaxPayloadError(), True, id="max-payload"),
    pytest.param(PayloadTooLarge(2 * MIB, MIB), True, id="payload-too-large"),
    pytest.param(nats.js.errors.InvalidKeyError("a b"), True, id="invalid-key"),
    pytest.param(msgspec.EncodeError("cannot encode"), True, id="encode"),
    pytest.param(PermanentError("handler says so"), True, id="permanent"),
    pytest.param(nats.js.errors.BadRequestError(code=400, err_code=10054, description="message size exceeds"),
                 True, id="jetstream-refuses-the-message"),
    pytest.param(nats.errors.TimeoutError(), False, id="timeout"),
    pytest.param(nats.errors.ConnectionReconnectingError(), False, id="reconnecting"),
    pytest.param(nats.errors.NoRespondersError(), False, id="no-responders"),
    pytest.param(nats.js.errors.NoStreamResponseError(), False, id="no-stream"),
    pytest.param(nats.js.errors.KeyWrongLastSequenceError("wrong last sequence"), False, id="kv-cas-race"),
    pytest.param(nats.js.errors.BadRequestError(code=400, err_code=10071), False, id="cas-race-raw"),
    pytest.param(nats.errors.OutboundBufferLimitError(), False, id="outbound-buffer-full"),
    pytest.param(BusError("publish gave up"), False, id="bus-gave-up"),
    pytest.param(TemporaryError("later"), False, id="temporary"),
    pytest.param(OSError("connection reset"), False, id="os-error"),
])
def test_classification(error: BaseException, permanent: bool) -> None:
    assert is_permanent(error) is permanent


async def test_the_bus_knows_the_server_limit_and_carries_the_biggest_kubernetes_object(bus: Bus) -> None:
    assert bus.max_payload == MAX_PAYLOAD
    big = b"x" * (3 * MIB // 2)  # kube-apiserver's storage limit for one object
    revision = await bus.kv_put(m.KV_PODS, "default/big", big)
    entry = await (await bus.kv(m.KV_PODS)).get("default/big")
    assert entry.revision == revision and entry.value == big
    ack = await bus.publish_raw("spillway.test.big", big)
    assert ack.seq >= 1


async def test_over_the_limit_is_refused_before_sending_and_the_connection_survives(bus: Bus) -> None:
    too_big = b"x" * (bus.max_payload + 1)
    with pytest.raises(PayloadTooLarge) as kv_refused:
        await bus.kv_put(m.KV_PODS, "default/huge", too_big)
    assert is_permanent(kv_refused.value) and "default/huge" in str(kv_refused.value)
    # headers count too: a payload that fits alone but not with its Nats-Msg-Id and trace headers
    with pytest.raises(PayloadTooLarge):
        await bus.publish_raw("spillway.test.edge", b"x" * (bus.max_payload - 8))
    assert bus.connected
    assert (await bus.publish_raw("spillway.test.after", b"fine")).seq >= 1


async def test_invalid_key_is_refused_naming_it(bus: Bus) -> None:
    for key in ("default/vttablet-{{uid}}", "a b", "", "trailing.", "a..b"):
        with pytest.raises(nats.js.errors.InvalidKeyError) as refused:
            await bus.kv_put(m.KV_PODS, key, b"{}")
        assert is_permanent(refused.value)
        assert repr(key[:200]) in str(refused.value)
    assert await bus.kv_put(m.KV_PODS, "default/web-1.x_y=z", b"{}") >= 1


async def test_a_smaller_server_limit_is_read_from_the_server() -> None:
    with NatsServer(max_payload=MIB) as server:
        bus = await Bus.connect(server.url, service="test")
        try:
            await bus.ensure()
            assert bus.max_payload == MIB
            with pytest.raises(PayloadTooLarge):
                await bus.kv_put(m.KV_PODS, "default/big", b"x" * (MIB + 1))
            assert await bus.kv_put(m.KV_PODS, "default/small", b"x" * 1000) >= 1
        finally:
            await bus.close(drain=False)


async def test_a_handler_hitting_a_permanent_bus_error_is_dead_lettered_at_once(bus: Bus) -> None:
    """The consumer asks is_permanent too: an invalid KV key is not redelivered max_deliver times."""
    calls: list[int] = []
    handlers = Handlers()

    @handlers.on(m.POD_BOUND)
    async def on_bound(event: m.PodEvent) -> None:
        calls.append(1)
        await bus.kv_put(m.KV_PODS, "not a key", b"{}")

    [consumer] = [Consumer(bus, spec, fetch_timeout=0.5) for spec in handlers.specs]
    await consumer.start()
    try:
        await bus.publish(sample(m.POD_BOUND))
        letters = await eventually(lambda: _letters(bus), what="a dead letter")
        assert "InvalidKeyError" in letters[0].message.error and len(calls) == 1
    finally:
        await consumer.stop()


async def _letters(bus: Bus) -> list[BusRecord] | None:
    return await bus_records(bus, m.DLQ_ALL) or None
