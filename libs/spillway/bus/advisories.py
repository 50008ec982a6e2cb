"""DLQ safety net: dead-letter messages whose last delivery ended without a verdict.

The consumer loop dead-letters a message when its handler fails on the last delivery. If the
process crashed or the handler hung instead, the server emits a MAX_DELIVERIES advisory (kept in
the SPILLWAY_ADVISORIES stream); this mover turns each advisory for one of our consumers into a
DeadLetter with the original payload. It uses the same Nats-Msg-Id as the consumer path, so a
message is never dead-lettered twice within the de-duplication window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

from spillway.bus import streams
from spillway.bus.client import Bus
from spillway.bus.consumer import dead_letter_id
from spillway.bus.handlers import safe_durable
from spillway.model import messages as m

log = logging.getLogger(__name__)


class MaxDeliveriesAdvisory(msgspec.Struct, frozen=True):
    """`io.nats.jetstream.advisory.v1.max_deliver` (only the fields we use)."""

    stream: str
    consumer: str
    stream_seq: int
    deliveries: int = 0


def advisory_subject(consumer: str) -> str:
    return f"{streams.MAX_DELIVERIES_ADVISORY}.{m.STREAM}.{consumer}"


async def move_to_dlq(bus: Bus, data: bytes) -> None:
    """Handle one advisory: fetch the original message and publish its DeadLetter."""
    adv = msgspec.json.decode(data, type=MaxDeliveriesAdvisory)
    try:
        raw = await bus.js.get_msg(adv.stream, adv.stream_seq)
        subject, payload = raw.subject or "", (raw.data or b"").decode("utf-8", errors="replace")
    except NotFoundError:
        subject, payload = "", ""
    letter = m.DeadLetter(
        service=bus.service, subject=subject, consumer=adv.consumer, deliveries=adv.deliveries,
        stream_seq=adv.stream_seq, payload=payload,
        error="max deliveries reached without a verdict (handler crashed, hung or timed out)",
    )
    await bus.publish(letter, msg_id=dead_letter_id(adv.stream, adv.stream_seq, adv.consumer))
    log.warning("message dead-lettered from advisory",
                extra={"consumer": adv.consumer, "stream_seq": adv.stream_seq, "subject": subject})


class AdvisoryMover:
    """A durable consumer on SPILLWAY_ADVISORIES for one service's consumers."""

    def __init__(self, bus: Bus, consumer_names: list[str], *, fetch_timeout: float = 1.0) -> None:
        self.bus = bus
        self.consumer_names = consumer_names
        self.name = safe_durable(f"{bus.service}-dlq-advisories")
        self.fetch_timeout = fetch_timeout
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self.consumer_names:
            return
        subjects = [advisory_subject(name) for name in self.consumer_names]
        await streams.ensure_consumer(self.bus.js, streams.ADVISORY_STREAM, ConsumerConfig(
            durable_name=self.name, ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_deliver=20,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
            filter_subjects=subjects if len(subjects) > 1 else None,
        ))
        sub = await self.bus.js.pull_subscribe_bind(durable=self.name, stream=streams.ADVISORY_STREAM)
        self._task = asyncio.create_task(self._loop(sub), name=f"advisories:{self.name}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self, sub: Any) -> None:
        while not self._stopping.is_set():
            try:
                msgs = await sub.fetch(10, timeout=self.fetch_timeout)
            except nats.errors.TimeoutError:
                continue
            except nats.errors.Error:
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                try:
                    await move_to_dlq(self.bus, msg.data)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    await msg.term()
                except Exception as exc:
                    log.warning("advisory not moved yet", extra={"error": f"{type(exc).__name__}: {exc}"})
                    await msg.nak(delay=5.0)
                else:
                    await msg.ack()
