"""Watch fan-out: one bounded queue per watcher, filled synchronously when the store commits.

Committing never waits on a watcher. A watcher whose queue overflows is closed (its client
sees the stream end and re-watches from its last resourceVersion, as after any disconnect),
so one slow reader cannot stall the server. Selector transitions follow the cacher:
an object entering the selector is ADDED, one leaving it is DELETED (with the old object).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

Obj = dict[str, Any]
Matcher = Callable[[Obj], bool]
_encode = msgspec.json.Encoder().encode


@dataclass(slots=True)
class WatchEvent:
    """A committed change; its encoded line is built once and shared by every plain watcher."""

    type: str
    obj: Obj
    rv: int
    old: Obj | None = None
    _line: bytes | None = field(default=None, repr=False)

    def line(self) -> bytes:
        if self._line is None:
            self._line = _encode({"type": self.type, "object": self.obj}) + b"\n"
        return self._line


# What a watcher delivers: (type, object, shared event when the type and object are the event's own).
Delivery = tuple[str, Obj, WatchEvent | None]


class Watcher:
    """One watch stream's view of a bucket; iterate it for (type, object) pairs."""

    def __init__(
        self,
        bucket: str,
        namespace: str | None,
        match: Matcher,
        maxsize: int,
        on_close: Callable[[Watcher], None],
        transform: Callable[[Obj], Obj] | None = None,
    ) -> None:
        self.bucket = bucket
        self.namespace = namespace
        self.match = match
        self.maxsize = maxsize
        self.closed = False
        self.overflowed = False
        self._queue: deque[Delivery] = deque()
        self._wake = asyncio.Event()
        self._on_close = on_close
        self._transform = transform

    def push(self, delivery: Delivery) -> None:
        if self.closed:
            return
        self._queue.append(delivery)
        if len(self._queue) > self.maxsize:
            self.overflowed = True
            self.close()
        self._wake.set()

    def offer(self, event: WatchEvent) -> None:
        """Called by the store for every committed event of this watcher's bucket."""
        if self._transform is not None:
            view = self._transform
            event = WatchEvent(event.type, view(event.obj), event.rv, view(event.old) if event.old else None)
        obj = event.obj
        if self.namespace is not None and obj["metadata"].get("namespace") != self.namespace:
            return
        if event.type == "MODIFIED" and event.old is not None:
            now, before = self.match(obj), self.match(event.old)
            if now and before:
                self.push((event.type, obj, event))
            elif now:
                self.push(("ADDED", obj, None))
            elif before:
                self.push(("DELETED", event.old, None))
            return
        if self.match(obj):
            self.push((event.type, obj, event))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._wake.set()
            self._on_close(self)

    def pending(self) -> int:
        return len(self._queue)

    async def next_batch(self, wait: float | None) -> list[Delivery] | None:
        """Everything queued, waiting up to `wait` seconds; [] on timeout, None once closed and drained."""
        if not self._queue and not self.closed:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                return []
        if self._queue and not self.overflowed:
            batch = list(self._queue)
            self._queue.clear()
            return batch
        return None if self.closed else []

    async def __aiter__(self) -> AsyncIterator[tuple[str, Obj]]:
        """In-process use: `async for type_, obj in store.watch(...)`; ends when closed."""
        while True:
            batch = await self.next_batch(None)
            if batch is None:
                return
            for type_, obj, _ in batch:
                yield type_, obj
