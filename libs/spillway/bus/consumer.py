"""The consume loop: fetch a batch, decode, call the handler, then ack / nak with delay / dead-letter.

Rules (each one a verified pitfall, see the JetStream reference):
- every nak carries a delay (a bare nak redelivers at once, ignoring backoff: a hot loop);
- ack only after the handler returned; a handler longer than ack_wait/2 is kept alive with
  in_progress();
- an undecodable message, a PermanentError, or a failure at the last delivery goes to
  `spillway.dlq.<service>` (DeadLetter with error and original payload), then term();
- fetch timeouts and `[]` after a reconnect are normal; the loop just fetches again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import msgspec
import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from spillway.bus import streams
from spillway.bus.client import Bus
from spillway.bus.errors import PayloadTooLarge, TemporaryError, is_permanent
from spillway.bus.handlers import Delivery, HandlerSpec, _delivery
from spillway.loops import every, raise_if_cancelled
from spillway.model import messages as m
from spillway.telemetry import extract_context, get_tracer
from spillway.telemetry.metrics import (
    BUS_CONSUMER_ACK_PENDING,
    BUS_CONSUMER_PENDING,
    BUS_DEAD_LETTERS,
    BUS_HANDLED,
    BUS_HANDLER_SECONDS,
    BUS_REDELIVERIES,
)

log = logging.getLogger(__name__)
DEAD_LETTER_PAYLOAD_HEAD = 64 * 1024  # characters of an oversized payload a dead letter keeps
DEAD_LETTER_WHYS = ("undecodable", "permanent", "exhausted")
BACKLOG_SECONDS = 10.0
"""How often a consumer asks the server for its backlog (the pending gauges)."""


def dead_letter_id(stream: str, seq: int, consumer: str) -> str:
    """Shared by the consumer path and the advisory path, so one message is dead-lettered once
    per consumer. The consumer is part of it: two services failing on the same message each
    owe a letter on their own `spillway.dlq.<service>` (without it the second was de-duplicated away)."""
    return f"dlq:{stream}:{consumer}:{seq}"


def error_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Consumer:
    """One durable pull consumer running one handler. start() → (runs) → stop(grace)."""

    def __init__(self, bus: Bus, spec: HandlerSpec, *, fetch_timeout: float = 1.0) -> None:
        self.bus = bus
        self.spec = spec
        self.name = spec.consumer_name(bus.service)
        self.fetch_timeout = fetch_timeout
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._backlog: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(spec.concurrency)

    def config(self) -> ConsumerConfig:
        subjects = list(self.spec.subjects)
        return ConsumerConfig(
            durable_name=self.name,
            description=f"{self.bus.service}: {self.spec.fn.__qualname__}",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.spec.ack_wait,
            max_deliver=self.spec.max_deliver,
            max_ack_pending=self.spec.max_ack_pending,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
            filter_subjects=subjects if len(subjects) > 1 else None,
        )

    async def start(self) -> None:
        """Create or update the durable consumer, then run the loop in a task."""
        await streams.ensure_consumer(self.bus.js, m.STREAM, self.config())
        sub = await self.bus.js.pull_subscribe_bind(durable=self.name, stream=m.STREAM)
        for why in DEAD_LETTER_WHYS:  # the series exist at 0, so the first one shows in increase()
            BUS_DEAD_LETTERS.labels(self.name, why)
        BUS_REDELIVERIES.labels(self.name)
        self._task = asyncio.create_task(self._loop(sub), name=f"consumer:{self.name}")
        self._backlog = asyncio.create_task(self._report_backlog(sub), name=f"backlog:{self.name}")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop fetching; let in-flight handlers finish for up to `grace` seconds, then cancel them."""
        self._stopping.set()
        if self._backlog is not None:
            self._backlog.cancel()
            await asyncio.wait({self._backlog}, timeout=grace)  # never wait for ever on a gauge
            for gauge in (BUS_CONSUMER_PENDING, BUS_CONSUMER_ACK_PENDING):  # a stopped consumer reports no backlog
                with contextlib.suppress(KeyError):
                    gauge.remove(self.name)
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=grace)
            if not self._task.done():
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self, sub: Any) -> None:
        stop_wait = asyncio.create_task(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                await self._slots.acquire()  # wait for a free slot before fetching more
                self._slots.release()
                want = max(1, min(self.spec.batch, self._free_slots()))
                fetch = asyncio.create_task(sub.fetch(want, timeout=self.fetch_timeout))
                await asyncio.wait({fetch, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    with contextlib.suppress(asyncio.CancelledError, nats.errors.Error):
                        await fetch
                    break
                try:
                    msgs: list[Msg] = fetch.result()
                except TimeoutError:  # nats' own, or a plain one nats-py raises when its deadline passed
                    continue
                except Exception as exc:  # disconnected, closed…: back off and try again, never die quietly
                    log.warning("fetch failed", extra={"consumer": self.name, "error": error_text(exc)})
                    await asyncio.sleep(0.5)
                    continue
                for msg in msgs:
                    if self._stopping.is_set():  # shutting down: hand the rest back
                        with contextlib.suppress(nats.errors.Error):
                            await msg.nak(delay=1.0)
                        continue
                    await self._slots.acquire()
                    task = asyncio.create_task(self._run_one(msg))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                    if self.spec.concurrency == 1:
                        await asyncio.wait({task})  # strict order with one slot
        finally:
            stop_wait.cancel()

    async def _report_backlog(self, sub: Any) -> None:
        """The server's count of what waits for this consumer, now and every BACKLOG_SECONDS: a
        stuck or slow consumer shows as a growing backlog even when it fetches nothing."""

        async def look() -> None:
            try:
                info = await sub.consumer_info()
            except Exception as exc:  # a gauge goes stale for a round; the consumer is not affected
                log.debug("consumer info failed", extra={"consumer": self.name, "error": error_text(exc)})
            else:
                BUS_CONSUMER_PENDING.labels(self.name).set(info.num_pending or 0)
                BUS_CONSUMER_ACK_PENDING.labels(self.name).set(info.num_ack_pending or 0)
            raise_if_cancelled()  # nats-py's request may have swallowed `stop`'s cancel

        await every(f"backlog {self.name}", BACKLOG_SECONDS, look)

    def _free_slots(self) -> int:
        return self.spec.concurrency - len(self._inflight)

    async def _run_one(self, msg: Msg) -> None:
        try:
            await self.handle(msg)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await msg.nak(delay=1.0)  # shutdown: hand it back soon instead of after ack_wait
            raise
        except Exception:
            log.exception("message handling failed", extra={"consumer": self.name, "subject": msg.subject})
        finally:
            self._slots.release()

    async def handle(self, msg: Msg) -> None:
        """Process one delivered message to a verdict (ack, nak with delay, or DLQ + term)."""
        md = msg.metadata
        if md.num_delivered > 1:
            BUS_REDELIVERIES.labels(self.name).inc()
        headers = dict(msg.headers or {})
        with get_tracer().start_as_current_span(
            f"{msg.subject} process", context=extract_context(headers), kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "nats", "messaging.destination.name": msg.subject,
                        "messaging.consumer.group.name": self.name,
                        "messaging.nats.stream_sequence": md.sequence.stream,
                        "messaging.nats.num_delivered": md.num_delivered},
        ) as span:
            try:
                decoded = m.decode(self.spec.message_type or msg.subject, msg.data)
            except (msgspec.DecodeError, msgspec.ValidationError, KeyError) as exc:
                span.set_status(trace.StatusCode.ERROR, "undecodable")
                await self.dead_letter(msg, f"undecodable: {error_text(exc)}", why="undecodable")
                return
            token = _delivery.set(Delivery(msg.subject, md.sequence.stream, md.num_delivered,
                                           self.spec.max_deliver, headers))
            keepalive = asyncio.create_task(self._keep_alive(msg))
            started = time.perf_counter()
            try:
                await self.spec.fn(decoded)
            except Exception as exc:
                span.record_exception(exc)
                if is_permanent(exc):
                    span.set_status(trace.StatusCode.ERROR, "permanent error")
                    await self.dead_letter(msg, error_text(exc), why="permanent")
                    return
                span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
                await self._retry_or_dead_letter(msg, exc)
                return
            finally:
                keepalive.cancel()
                _delivery.reset(token)
                BUS_HANDLER_SECONDS.labels(self.name).observe(time.perf_counter() - started)
            await msg.ack()
            BUS_HANDLED.labels(self.name, "ack").inc()

    async def _retry_or_dead_letter(self, msg: Msg, exc: Exception) -> None:
        attempt = msg.metadata.num_delivered
        delay: float | None = None
        if attempt < self.spec.max_deliver:
            if isinstance(exc, TemporaryError) and exc.delay is not None:
                delay = max(0.05, exc.delay)
            else:
                delay = self.spec.retry(attempt, exc)
        if delay is None:
            await self.dead_letter(msg, error_text(exc), why="exhausted")
            return
        log.info("handler failed, will retry", extra={"consumer": self.name, "subject": msg.subject,
                                                      "attempt": attempt, "delay": round(delay, 3),
                                                      "error": error_text(exc)})
        await msg.nak(delay=delay)
        BUS_HANDLED.labels(self.name, "retry").inc()

    async def dead_letter(self, msg: Msg, error: str, *, why: str) -> None:
        """Publish a DeadLetter for msg, then term() it. If the DLQ publish fails, nak for later."""
        md = msg.metadata
        letter = m.DeadLetter(
            service=self.bus.service, subject=msg.subject, error=error,
            payload=msg.data.decode("utf-8", errors="replace"), deliveries=md.num_delivered,
            stream_seq=md.sequence.stream, consumer=self.name,
        )
        msg_id = dead_letter_id(md.stream, md.sequence.stream, self.name)
        try:
            try:
                await self.bus.publish(letter, msg_id=msg_id, retry_for=5.0)
            except PayloadTooLarge:
                # the original payload (near the limit itself) plus the envelope does not fit:
                # keep its head, so the letter is still sent and the message still leaves the queue
                head = letter.payload[:DEAD_LETTER_PAYLOAD_HEAD]
                letter = msgspec.structs.replace(letter, payload=f"{head}… [{len(msg.data)} bytes, truncated]")
                await self.bus.publish(letter, msg_id=msg_id, retry_for=5.0)
        except Exception as exc:
            log.error("dead-lettering failed, will retry", extra={"consumer": self.name, "error": error_text(exc)})
            await msg.nak(delay=5.0)
            return
        await msg.term()
        log.warning("message dead-lettered", extra={"consumer": self.name, "subject": msg.subject,
                                                    "stream_seq": md.sequence.stream, "why": why, "error": error})
        BUS_HANDLED.labels(self.name, "dead_letter").inc()
        BUS_DEAD_LETTERS.labels(self.name, why).inc()

    async def _keep_alive(self, msg: Msg) -> None:
        """Tell the server we are still working, so a long handler is not redelivered meanwhile."""
        period = max(0.5, self.spec.ack_wait / 2)
        while True:
            await asyncio.sleep(period)
            with contextlib.suppress(nats.errors.Error):
                await msg.in_progress()
