"""DLQ safety net: dead-letter messages whose last delivery ended without a verdict.

The consumer loop dead-letters a message when its handler fails on the last delivery. If the
process crashed or the handler hung instead, the server emits a MAX_DELIVERIES advisory (kept in
the SPILLWAY_ADVISORIES stream); this mover turns each advisory for one of our consumers into a
DeadLetter with the original payload. It uses the same Nats-Msg-Id as the consumer path, so a
message is never dead-lettered twice within the de-duplication window.

Like the consumer path, a payload too big to travel inside its letter (the original was near the
server's max_payload) is cut to its head: the letter is always sent, never retried until the
advisory itself is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

from spillway.bus import streams
from spillway.bus.client import Bus
from spillway.bus.consumer import DEAD_LETTER_PAYLOAD_HEAD, dead_letter_id, error_text
from spillway.bus.errors import PayloadTooLarge, is_permanent
from spillway.bus.handlers import safe_durable
from spillway.model import messages as m
from spillway.telemetry.metrics import BUS_DEAD_LETTERS

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
    data = b""
    try:
        raw = await bus.js.get_msg(adv.stream, adv.stream_seq)
        subject, data = raw.subject or "", raw.data or b""
    except NotFoundError:
        subject = ""
    letter = m.DeadLetter(
        service=bus.service, subject=subject, consumer=adv.consumer, deliveries=adv.deliveries,
        stream_seq=adv.stream_seq, payload=data.decode("utf-8", errors="replace"),
        error="max deliveries reached without a verdict (handler crashed, hung or timed out)",
    )
    msg_id = dead_letter_id(adv.stream, adv.stream_seq, adv.consumer)
    try:
        await bus.publish(letter, msg_id=msg_id)
    except PayloadTooLarge:
        await bus.publish(cut_payload(letter, len(data)), msg_id=msg_id)
    BUS_DEAD_LETTERS.labels(adv.consumer, "no_verdict").inc()
    log.warning("message dead-lettered from advisory",
                extra={"consumer": adv.consumer, "stream_seq": adv.stream_seq, "subject": subject})


def cut_payload(letter: m.DeadLetter, size: int) -> m.DeadLetter:
    """The letter with only the head of its payload, saying how big the original was (`size` bytes)."""
    head = letter.payload[:DEAD_LETTER_PAYLOAD_HEAD]
    return msgspec.structs.replace(letter, payload=f"{head}… [{size} bytes, truncated]")


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
        for name in self.consumer_names:  # the series exist at 0, so the first one shows in increase()
            BUS_DEAD_LETTERS.labels(name, "no_verdict")
        self._task = asyncio.create_task(self._loop(sub), name=f"advisories:{self.name}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self, sub: Any) -> None:
        """Until stopped; nothing but cancellation ends it (a failed fetch or ack is logged and retried)."""
        while not self._stopping.is_set():
            try:
                msgs = await sub.fetch(10, timeout=self.fetch_timeout)
            except TimeoutError:  # nats' own is one too
                continue
            except Exception as exc:  # disconnected, closed…: back off and try again, never die quietly
                log.warning("advisory fetch failed", extra={"error": error_text(exc)[:500]})
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                try:
                    await self._move(msg)
                except Exception as exc:  # the verdict could not be sent: the advisory comes back after ack_wait
                    log.warning("advisory verdict not sent", extra={"error": error_text(exc)[:500]})

    async def _move(self, msg: Any) -> None:
        try:
            await move_to_dlq(self.bus, msg.data)
        except msgspec.DecodeError:
            await msg.term()
        except Exception as exc:
            if is_permanent(exc):  # no retry can send this letter: say so, once, and move on
                log.error("advisory dropped: its dead letter cannot be sent", extra={"error": error_text(exc)[:500]})
                await msg.term()
                return
            log.warning("advisory not moved yet", extra={"error": error_text(exc)[:500]})
            await msg.nak(delay=5.0)
        else:
            await msg.ack()
