"""List+watch one collection, the way client-go's reflector does.

Resume from the last resourceVersion (bookmarks included), relist on 410 Expired, reconnect
with capped exponential backoff. After a relist, objects that vanished while we were away are
reported as DELETED, so a consumer's view never keeps ghosts. Objects stay raw bytes: the
consumer decodes only what it needs (msgspec, DESIGN §9).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from spillway.kube.client import KubeClient
from spillway.kube.errors import Gone, KubeError, status_from_event_object

log = logging.getLogger(__name__)


class _Meta(msgspec.Struct):
    name: str = ""
    namespace: str = ""
    resourceVersion: str = ""


class _Item(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


class _ListMeta(msgspec.Struct):
    resourceVersion: str = ""
    continue_: str = msgspec.field(default="", name="continue")


class _ListEnvelope(msgspec.Struct):
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)
    items: list[msgspec.Raw] = []


class _Event(msgspec.Struct):
    type: str
    object: msgspec.Raw


_item_decoder = msgspec.json.Decoder(_Item)
_list_decoder = msgspec.json.Decoder(_ListEnvelope)
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


@dataclass
class Reflector:
    """Keeps a consumer's view of one collection in step with the API server."""

    client: KubeClient
    path: str
    handler: Handler
    label_selector: str | None = None
    field_selector: str | None = None
    watch_timeout_seconds: int = 300
    page_size: int = 500
    max_backoff: float = 10.0
    on_synced: Callable[[], Awaitable[None]] | None = None
    resource_version: str = ""
    known: dict[str, str] = field(default_factory=dict)  # key → resourceVersion
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    relists: int = 0

    def _params(self) -> dict[str, str | int | bool]:
        params: dict[str, str | int | bool] = {}
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        if self.field_selector:
            params["fieldSelector"] = self.field_selector
        return params

    async def relist(self) -> None:
        """List everything, emit ADDED/MODIFIED for changes and DELETED for objects gone since."""
        seen: dict[str, str] = {}
        cont = ""
        while True:
            params = self._params() | {"limit": self.page_size}
            if cont:
                params["continue"] = cont
            page = _list_decoder.decode(await self.client.request("GET", self.path, params=params))
            for item in page.items:
                key, rv = _describe(item)
                seen[key] = rv
                previous = self.known.get(key)
                if previous != rv:
                    self.known[key] = rv
                    await self.handler(RawEvent("ADDED" if previous is None else "MODIFIED", key, rv, bytes(item)))
            cont = page.metadata.continue_
            if not cont:
                self.resource_version = page.metadata.resourceVersion
                break
        for key in [k for k in self.known if k not in seen]:
            rv = self.known.pop(key)
            await self.handler(RawEvent("DELETED", key, rv, _tombstone(key)))
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
            event = _event_decoder.decode(line)
            if event.type == "ERROR":
                raise status_from_event_object(msgspec.json.decode(event.object, type=dict[str, Any]))
            key, rv = _describe(event.object)
            if rv:
                self.resource_version = rv
            if event.type == "BOOKMARK":
                continue
            if event.type == "DELETED":
                self.known.pop(key, None)
            else:
                self.known[key] = rv
            await self.handler(RawEvent(event.type, key, rv, bytes(event.object)))

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
                delay = min(self.max_backoff, 0.2 * 2 ** min(failures, 10)) * (0.5 + random.random() / 2)
                log.warning("watch failed, retrying", extra={"path": self.path, "error": str(exc), "delay": delay})
                await asyncio.sleep(delay)
            except Exception as exc:  # aiohttp.ClientError and friends: reconnect, never die
                failures += 1
                delay = min(self.max_backoff, 0.2 * 2 ** min(failures, 10))
                log.warning("watch stream broke, retrying", extra={"path": self.path, "error": repr(exc)})
                await asyncio.sleep(delay)


def _tombstone(key: str) -> bytes:
    namespace, _, name = key.rpartition("/")
    meta: dict[str, str] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return msgspec.json.encode({"metadata": meta})
