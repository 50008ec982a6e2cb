"""List+watch one collection, the way client-go's reflector does.

Resume from the last resourceVersion (bookmarks included), relist on 410 Expired, reconnect
with capped exponential backoff (`WATCH_BACKOFF`, on the reflector's clock). After a relist,
objects that vanished while we were away are reported as DELETED, so a consumer's view never
keeps ghosts. Objects stay raw bytes: the
consumer decodes only what it needs (msgspec, docs/design.md §9).

Per object, never per list: an item or watch event that cannot be read (metadata of the wrong
type, a line that is not JSON) or that the handler fails on (its own decode into a model) is
skipped, logged, counted and handed to `on_bad_object`; the list and the watch go on. The object
is remembered at its resourceVersion, so it is reported once per version, not on every relist.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from spillway.kube.client import PAGE_SIZE, ContinueExpired, KubeClient
from spillway.kube.errors import Gone, KubeError, status_from_event_object
from spillway.loops import SYSTEM_CLOCK, Backoff, Clock
from spillway.telemetry.metrics import REFLECTOR_BAD_OBJECTS, WATCH_RELISTS

log = logging.getLogger(__name__)
WATCH_BACKOFF = Backoff(initial=0.4, cap=10.0, jitter=0.5)
"""0.4 s, 0.8 s … 10 s, each shortened by up to half at random so reflectors do not reconnect in step."""


class _Meta(msgspec.Struct):
    name: str = ""
    namespace: str = ""
    resourceVersion: str = ""


class _Item(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


class _Event(msgspec.Struct):
    type: str
    object: msgspec.Raw


_item_decoder = msgspec.json.Decoder(_Item)
_event_decoder = msgspec.json.Decoder(_Event)


@dataclass(frozen=True, slots=True)
class RawEvent:
    """ADDED, MODIFIED or DELETED, with the object as the API sent it."""

    type: str
    key: str  # namespace/name, or name for cluster-scoped objects
    resource_version: str
    raw: bytes


Handler = Callable[[RawEvent], Awaitable[None]]


def object_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def _describe(raw: bytes | msgspec.Raw) -> tuple[str, str]:
    meta = _item_decoder.decode(raw).metadata
    return object_key(meta.namespace, meta.name), meta.resourceVersion


class _LooseMeta(msgspec.Struct):
    name: Any = ""
    namespace: Any = ""
    resourceVersion: Any = ""


class _LooseItem(msgspec.Struct):
    metadata: Any = None


def _describe_loosely(raw: bytes | msgspec.Raw) -> tuple[str, str]:
    """Key and resourceVersion of an object whose metadata does not decode: what can be read of
    them as strings ("" otherwise), so a bad object can still be named and tracked."""
    try:
        meta = msgspec.json.decode(raw, type=_LooseItem).metadata
    except msgspec.DecodeError:
        return "", ""
    if not isinstance(meta, dict):
        return "", ""
    name, namespace, rv = (meta.get(f) for f in ("name", "namespace", "resourceVersion"))
    if not isinstance(name, str) or not name:
        return "", rv if isinstance(rv, str) else ""
    return object_key(namespace if isinstance(namespace, str) else "", name), rv if isinstance(rv, str) else ""


@dataclass(frozen=True, slots=True)
class BadObject:
    """An object skipped by the reflector: `key` ("" when it cannot be named), the event type,
    the raw bytes as received and the error."""

    path: str
    event_type: str
    key: str
    raw: bytes
    error: BaseException


@dataclass
class Reflector:
    """Keeps a consumer's view of one collection in step with the API server."""

    client: KubeClient
    path: str
    handler: Handler
    label_selector: str | None = None
    field_selector: str | None = None
    watch_timeout_seconds: int = 300
    page_size: int = PAGE_SIZE
    backoff: Backoff = WATCH_BACKOFF
    clock: Clock = SYSTEM_CLOCK
    on_synced: Callable[[], Awaitable[None]] | None = None
    on_bad_object: Callable[[BadObject], None] | None = None
    resource_version: str = ""
    known: dict[str, str] = field(default_factory=dict)  # key → resourceVersion
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    relists: int = 0
    bad_objects: int = 0
    _unnamed_bad: set[str] = field(default_factory=set)  # digests of nameless bad items of the last list

    def _params(self) -> dict[str, str | int | bool]:
        params: dict[str, str | int | bool] = {}
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        if self.field_selector:
            params["fieldSelector"] = self.field_selector
        return params

    async def relist(self) -> None:
        """List everything, emit ADDED/MODIFIED for changes and DELETED for objects gone since.

        Page by page, each applied as it arrives (memory: one page). When the server compacted the
        list's snapshot before the last page, the list is done again in one piece, as client-go's
        pager does: pages of a newer snapshot would not be one consistent view to watch from."""
        try:
            await self._list(self.page_size)
        except ContinueExpired:
            log.info("list expired while paging; listing in one piece", extra={"path": self.path})
            await self._list(0)

    async def _list(self, page_size: int) -> None:
        seen: dict[str, str] = {}
        unnamed_seen: set[str] = set()
        async for page in self.client.list_pages(self.path, self._params(), page_size=page_size):
            for item in page.items:
                try:
                    key, rv = _describe(item)
                except msgspec.DecodeError as exc:
                    key, rv = _describe_loosely(item)
                    if key:
                        if self.known.get(key) != rv or key not in self.known:
                            self._skip("ADDED", key, bytes(item), exc)
                        seen[key] = self.known[key] = rv
                    else:  # nameless: tracked by content, so it is reported once, not on every relist
                        digest = hashlib.sha256(item).hexdigest()
                        unnamed_seen.add(digest)
                        if digest not in self._unnamed_bad:
                            self._skip("ADDED", key, bytes(item), exc)
                    continue
                seen[key] = rv
                previous = self.known.get(key)
                if previous != rv:
                    self.known[key] = rv
                    await self._handle(RawEvent("ADDED" if previous is None else "MODIFIED", key, rv, bytes(item)))
            self.resource_version = page.metadata.resourceVersion
        self._unnamed_bad = unnamed_seen
        for key in [k for k in self.known if k not in seen]:
            rv = self.known.pop(key)
            await self._handle(RawEvent("DELETED", key, rv, _tombstone(key)))
        relisted = WATCH_RELISTS.labels(self.path)  # exists at 0 from the first list on
        if self.relists:
            relisted.inc()
        self.relists += 1
        if not self.synced.is_set():
            self.synced.set()
            if self.on_synced is not None:
                await self.on_synced()

    async def watch_once(self) -> None:
        """One watch stream from the current resourceVersion until it ends."""
        params = self._params() | {
            "watch": True,
            "resourceVersion": self.resource_version,
            "allowWatchBookmarks": True,
            "timeoutSeconds": self.watch_timeout_seconds,
        }
        async for line in self.client.stream_lines(self.path, params):
            try:
                event = _event_decoder.decode(line)
            except msgspec.DecodeError as exc:
                self._skip("", "", line, exc)
                continue
            if event.type == "ERROR":
                raise status_from_event_object(_status_object(event.object))
            try:
                key, rv = _describe(event.object)
            except msgspec.DecodeError as exc:
                key, rv = _describe_loosely(event.object)
                failed: BaseException | None = exc
            else:
                failed = None
            if rv:
                self.resource_version = rv
            if event.type == "BOOKMARK":
                continue
            if key:
                if event.type == "DELETED":
                    self.known.pop(key, None)
                else:
                    self.known[key] = rv
            if failed is not None:
                self._skip(event.type, key, bytes(event.object), failed)
                if event.type == "DELETED" and key:  # gone all the same: the consumer forgets it
                    await self._handle(RawEvent("DELETED", key, rv, _tombstone(key)))
                continue
            await self._handle(RawEvent(event.type, key, rv, bytes(event.object)))

    async def _handle(self, event: RawEvent) -> None:
        """The handler on one object; what it raises is that object's problem alone."""
        try:
            await self.handler(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._skip(event.type, event.key, event.raw, exc)

    def _skip(self, event_type: str, key: str, raw: bytes, exc: BaseException) -> None:
        self.bad_objects += 1
        why = "undecodable" if isinstance(exc, msgspec.DecodeError) else "handler_error"
        REFLECTOR_BAD_OBJECTS.labels(self.path, why).inc()
        log.warning("object skipped", extra={"path": self.path, "key": key, "event": event_type, "why": why,
                                             "error": str(exc)[:300], "bytes": len(raw)})
        if self.on_bad_object is None:
            return
        try:
            self.on_bad_object(BadObject(self.path, event_type, key, raw, exc))
        except Exception:  # reporting is best effort; the list and the watch go on
            log.exception("reporting a skipped object failed", extra={"path": self.path, "key": key})

    async def run(self) -> None:
        """Forever: list, then watch; relist on 410; back off on errors. Cancel to stop."""
        failures = 0
        need_list = True
        while True:
            try:
                if need_list:
                    await self.relist()
                    need_list = False
                await self.watch_once()
                failures = 0
            except Gone:
                log.info("watch expired, relisting", extra={"path": self.path})
                need_list = True
            except (TimeoutError, KubeError, OSError, msgspec.DecodeError) as exc:
                failures += 1
                delay = self.backoff.delay(failures)
                log.warning("watch failed, retrying", extra={"path": self.path, "error": str(exc), "delay": delay})
                await self.clock.sleep(delay)
            except Exception as exc:  # aiohttp.ClientError and friends: reconnect, never die
                failures += 1
                delay = self.backoff.delay(failures)
                log.warning("watch stream broke, retrying", extra={"path": self.path, "error": repr(exc),
                                                                   "delay": delay})
                await self.clock.sleep(delay)


def _status_object(raw: msgspec.Raw) -> dict[str, Any]:
    """The Status of a watch ERROR event ({} when it is not an object: the error is raised anyway)."""
    try:
        return msgspec.json.decode(raw, type=dict[str, Any])
    except msgspec.DecodeError:
        return {}


def _tombstone(key: str) -> bytes:
    namespace, _, name = key.rpartition("/")
    meta: dict[str, str] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return msgspec.json.encode({"metadata": meta})
