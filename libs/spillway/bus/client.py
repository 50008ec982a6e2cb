"""The bus connection: connect with endless reconnect, publish with de-duplication and tracing, KV.

`Bus` is what services and tools hold. Publishing retries timeouts with the same `Nats-Msg-Id`,
so an attempt that landed before the timeout is de-duplicated by the server (2-minute window).
A message bigger than the server's `max_payload` (learnt at connect) is refused before it is
sent, as a permanent `PayloadTooLarge`: the server would otherwise close the connection, and a
retry could never make it fit.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from typing import Any, TypeVar

import nats
import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import NoStreamResponseError
from nats.js.kv import KeyValue
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from spillway.bus import permissions, streams
from spillway.bus.errors import BusError, PayloadTooLarge
from spillway.bus.kv import TypedKV, require_valid_key
from spillway.config.secret import Secret
from spillway.loops import SYSTEM_CLOCK, Backoff, Clock, call_with_retry
from spillway.model import messages as m
from spillway.telemetry import get_tracer, inject_headers
from spillway.telemetry.metrics import BUS_PUBLISH_RETRIES, BUS_PUBLISHED

log = logging.getLogger(__name__)
T = TypeVar("T")
MSG_ID_HEADER = "Nats-Msg-Id"
_RETRYABLE = (nats.errors.TimeoutError, NoStreamResponseError, nats.errors.ConnectionReconnectingError)
PUBLISH_BACKOFF = Backoff(initial=0.1, cap=2.0, jitter=0.0)
"""A publish that timed out is tried again after 0.1 s, 0.2 s … 2 s, for up to its `retry_for` seconds."""


def header_block_size(headers: dict[str, str] | None) -> int:
    """Bytes the NATS header block of `headers` takes on the wire (the server counts them in max_payload)."""
    if not headers:
        return 0
    return len(b"NATS/1.0\r\n\r\n") + sum(len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items())


def content_msg_id(subject: str, data: bytes) -> str:
    """Default message id: a hash of subject and payload (identical events de-duplicate)."""
    return hashlib.sha256(subject.encode() + b"\0" + data).hexdigest()[:32]


def connect_options(user: str, password: Secret | None, ca_file: str = "") -> dict[str, Any]:
    """`nats.connect` arguments for bus user `user` (none without one): the user, its password
    and its own inbox prefix, the only place it may receive replies; with `ca_file`, TLS that
    verifies the server's certificate and name against that CA (the password never travels in clear)."""
    options: dict[str, Any] = {}
    if user:
        options.update(user=user, password=password.reveal() if password else "",
                       inbox_prefix=permissions.inbox_prefix(user))
    if ca_file:
        options["tls"] = ssl.create_default_context(cafile=ca_file)
    return options


class Bus:
    """A NATS connection with JetStream, owned by one service (`service` names its consumers and DLQ)."""

    def __init__(self, nc: Client, service: str, *, js_timeout: float = 5.0, clock: Clock = SYSTEM_CLOCK,
                 sets_up: bool = True) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=js_timeout)
        self.service = service
        self.clock = clock
        self.sets_up = sets_up
        """Whether this connection creates the streams and buckets (see `ensure`, `wait_for_setup`)."""
        self._buckets: dict[str, KeyValue] = {}

    @classmethod
    async def connect(
        cls, url: str, *, service: str, name: str | None = None, connect_timeout: float = 2.0,
        reconnect_time_wait: float = 0.5, max_reconnect_attempts: int = -1, clock: Clock = SYSTEM_CLOCK,
        user: str = "", password: Secret | None = None, ca_file: str = "",
    ) -> Bus:
        """Connect; keeps retrying forever by default (also the first connect), logging state changes.

        With `user` (and its `password`) the connection is that bus user's (`permissions.USERS`):
        replies come to its own inbox prefix, and unless it is the admin it never creates a stream
        or bucket. Without, the server must let anyone in (a development server). With `ca_file`
        the connection is TLS, the server verified against that CA.
        """

        async def on_error(exc: Exception) -> None:
            log.warning("nats error: %s", type(exc).__name__, extra={"error": str(exc)})

        async def on_disconnected() -> None:
            log.info("nats disconnected")

        async def on_reconnected() -> None:
            log.info("nats reconnected")

        nc = await nats.connect(
            url, name=name or f"spillway-{service}", connect_timeout=int(max(1, connect_timeout)),
            reconnect_time_wait=reconnect_time_wait, max_reconnect_attempts=max_reconnect_attempts,
            error_cb=on_error, disconnected_cb=on_disconnected, reconnected_cb=on_reconnected,
            **connect_options(user, password, ca_file),
        )
        return cls(nc, service, clock=clock, sets_up=not user or user == permissions.ADMIN)

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    @property
    def max_payload(self) -> int:
        """The server's limit on one message, headers included (from its INFO, per connection)."""
        return int(self.nc.max_payload)

    def check_fits(self, size: int, where: str) -> None:
        """Raise PayloadTooLarge (permanent) when `size` bytes cannot be one message on this server."""
        limit = self.max_payload
        if size > limit:
            raise PayloadTooLarge(size, limit, where)

    async def kv_put(self, bucket: str, key: str, value: bytes) -> int:
        """Put `value` under `key`, refusing at once (permanent errors) an invalid key or a value
        the server cannot take; returns the new revision."""
        require_valid_key(key)
        self.check_fits(len(value), f"KV {bucket}/{key}")
        return await (await self.kv(bucket)).put(key, value)

    async def ensure(self) -> None:
        """Create or update the stream, the advisory stream and every KV bucket (idempotent)."""
        self._buckets.update(await streams.ensure_all(self.js))

    async def wait_for_setup(self, poll: float = 1.0) -> None:
        """Until the streams and buckets exist: a service on its own user may not create them,
        the admin's set-up does (`spillway bus setup`, or `spillway up` itself)."""
        said = False
        while not await streams.set_up_done(self.js):
            if not said:
                log.warning("waiting for the bus set-up: the admin user creates the streams and buckets",
                            extra={"stream": m.STREAM})
                said = True
            await self.clock.sleep(poll)

    async def publish(
        self, msg: m.Message, *, subject: str | None = None, msg_id: str | None = None,
        headers: dict[str, str] | None = None, retry_for: float = 30.0,
    ) -> PubAck:
        """Publish a catalogue message to JetStream and wait for the ack.

        `subject` defaults to `m.subject_for(msg)`; it must carry msg's type per the catalogue.
        `msg_id` (de-duplication key) defaults to a hash of subject and payload. Timeouts and
        "no stream" are retried with the same id for up to `retry_for` seconds, then BusError.
        A message over the server's max_payload raises PayloadTooLarge before anything is sent.
        """
        subject = subject or m.subject_for(msg)
        expected = m.type_for_subject(subject)
        if not isinstance(msg, expected):
            raise TypeError(f"{subject} carries {expected.__name__}, not {type(msg).__name__}")
        return await self.publish_raw(subject, m.encode(msg), msg_id=msg_id, headers=headers, retry_for=retry_for)

    async def publish_raw(
        self, subject: str, data: bytes, *, msg_id: str | None = None, headers: dict[str, str] | None = None,
        retry_for: float = 30.0,
    ) -> PubAck:
        """Publish bytes as they are (tests, tools); same de-duplication, retry and tracing as publish()."""
        msg_id = msg_id or content_msg_id(subject, data)
        with get_tracer().start_as_current_span(
            f"{subject} publish", kind=SpanKind.PRODUCER,
            attributes={"messaging.system": "nats", "messaging.destination.name": subject,
                        "messaging.message.id": msg_id},
        ) as span:
            hdrs = inject_headers({**(headers or {}), MSG_ID_HEADER: msg_id})
            self.check_fits(len(data) + header_block_size(hdrs), f"publish to {subject}")
            attempts = 0

            async def attempt() -> PubAck:
                nonlocal attempts
                attempts += 1
                if attempts > 1:
                    BUS_PUBLISH_RETRIES.labels(subject).inc()
                # a fresh dict per attempt: js.publish may modify the one it is given
                return await self.js.publish(subject, data, headers=dict(hdrs))

            try:
                ack = await call_with_retry(attempt, PUBLISH_BACKOFF, retry_on=_RETRYABLE, clock=self.clock,
                                            max_elapsed=retry_for)
            except _RETRYABLE as exc:  # still failing when its time was up
                span.set_status(trace.StatusCode.ERROR, "publish timed out")
                raise BusError(f"publish to {subject} gave up after {retry_for}s: {type(exc).__name__}") from exc
            span.set_attribute("messaging.nats.stream_sequence", ack.seq)
            if ack.duplicate:
                span.set_attribute("messaging.nats.duplicate", True)
            BUS_PUBLISHED.labels(subject).inc()
            return ack

    async def kv(self, bucket: str) -> KeyValue:
        """The raw nats KeyValue of a bucket (created from the catalogue on first use)."""
        kv = self._buckets.get(bucket)
        if kv is None:
            kv = self._buckets[bucket] = await streams.open_bucket(self.js, bucket, create=self.sets_up)
        return kv

    async def typed_kv(self, bucket: str, value_type: type[T] | None = None) -> TypedKV[T]:
        """A bucket whose values decode into `value_type` (default: the catalogue's type for it)."""
        if value_type is None:
            spec = next((b for b in m.BUCKETS if b.name == bucket), None)
            if spec is None:
                raise KeyError(f"bucket {bucket!r} is not in the catalogue; pass value_type")
            value_type = spec.value_type
        assert value_type is not None
        return TypedKV(await self.kv(bucket), value_type)

    async def close(self, drain: bool = True, drain_timeout: float = 2.0) -> None:
        """Flush pending publishes and close. Drain lets in-flight subscriptions finish, but a
        subscription whose reader is gone (a cancelled KV watch) never empties its queue, so
        drain gets `drain_timeout` seconds and then the connection is closed anyway."""
        if self.nc.is_closed:
            return
        try:
            if drain and self.nc.is_connected:
                await asyncio.wait_for(self.nc.drain(), drain_timeout)
            else:
                await self.nc.close()
        except (TimeoutError, nats.errors.Error):
            await self.nc.close()
