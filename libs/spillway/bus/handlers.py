"""Handler registration (kopf style): a decorator records the handler and returns it unchanged.

    handlers = Handlers()

    @handlers.on(messages.POD_BOUND)
    async def on_bound(event: PodEvent) -> None: ...

The runtime turns each registration into one durable pull consumer named
`<service>-<durable or function name>` and does ack/nak/DLQ/tracing around the call.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from spillway.bus.retry import default_retry
from spillway.loops import RetryPolicy
from spillway.model import messages as m

Handler = Callable[[Any], Awaitable[None]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class HandlerSpec:
    """One handler and its consumer settings."""

    fn: Handler
    subjects: tuple[str, ...]
    durable: str
    max_deliver: int = 5
    ack_wait: float = 10.0
    batch: int = 20
    concurrency: int = 1
    max_ack_pending: int = 1000
    retry: RetryPolicy = default_retry
    message_type: type[m.Message] | None = None  # None: decode by subject from the catalogue

    def consumer_name(self, service: str) -> str:
        return safe_durable(f"{service}-{self.durable}")


def safe_durable(name: str) -> str:
    """Durable names may not contain '.', '*', '>' or whitespace."""
    return re.sub(r"[^-_a-zA-Z0-9]", "_", name)


@dataclass(frozen=True)
class Delivery:
    """Facts about the message being handled, for handlers that need them (`current_delivery()`)."""

    subject: str
    stream_seq: int
    num_delivered: int
    max_deliver: int
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_last_attempt(self) -> bool:
        return self.max_deliver > 0 and self.num_delivered >= self.max_deliver


_delivery: contextvars.ContextVar[Delivery | None] = contextvars.ContextVar("spillway_delivery", default=None)


def current_delivery() -> Delivery | None:
    """The Delivery being handled in this task, or None outside a handler."""
    return _delivery.get()


class Handlers:
    """A registry of bus handlers (one per service module)."""

    def __init__(self) -> None:
        self.specs: list[HandlerSpec] = []

    def on(
        self, *subjects: str, durable: str | None = None, max_deliver: int = 5, ack_wait: float = 10.0,
        batch: int = 20, concurrency: int = 1, retry: RetryPolicy = default_retry,
        message_type: type[m.Message] | None = None,
    ) -> Callable[[H], H]:
        """Register `async def handler(msg)` for catalogue subjects; returns the function unchanged."""
        if not subjects:
            raise ValueError("on() needs at least one subject")
        for subject in subjects:
            if subject in (f"{m.SUBJECT_ROOT}.>", ">") or subject.startswith(m.DLQ_PREFIX + "."):
                raise ValueError(f"a durable handler must not consume {subject!r} (it would eat dead letters)")
            if message_type is None:
                m.type_for_subject(subject.replace(">", "x").replace("*", "x"))  # KeyError if not catalogued
        if max_deliver < 1 or concurrency < 1 or batch < 1:
            raise ValueError("max_deliver, concurrency and batch must be >= 1")

        def register(fn: H) -> H:
            self.specs.append(HandlerSpec(
                fn=fn, subjects=tuple(subjects), durable=durable or fn.__name__, max_deliver=max_deliver,
                ack_wait=ack_wait, batch=batch, concurrency=concurrency, retry=retry, message_type=message_type,
            ))
            return fn

        return register
