"""Typed access to a KV bucket: values are msgspec Structs (or Kubernetes views) encoded as JSON."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import msgspec
from nats.js.errors import InvalidKeyError, KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from spillway.loops import raise_if_cancelled

log = logging.getLogger(__name__)
T = TypeVar("T")
_DELETED = ("DEL", "PURGE")
# the KV key grammar of the NATS server and clients; a key outside it can never be stored
VALID_KEY = re.compile(r"[-/_=.a-zA-Z0-9]+")
MAX_KEY_LENGTH = 1024


def is_valid_key(key: str) -> bool:
    """Whether NATS KV can store `key` (its grammar, no empty subject token, a sane length)."""
    return bool(key) and len(key) <= MAX_KEY_LENGTH and VALID_KEY.fullmatch(key) is not None \
        and not key.startswith(".") and not key.endswith(".") and ".." not in key


def require_valid_key(key: str) -> None:
    """Raise InvalidKeyError (a permanent error) for a key NATS KV would refuse, naming the key
    (nats-py's own error does not say which one)."""
    if not is_valid_key(key):
        raise InvalidKeyError(f"not a valid KV key: {key[:200]!r}")


@dataclass(frozen=True, slots=True)
class KVChange(Generic[T]):
    """One key's entry as a watch delivers it."""

    key: str
    value: T | None
    """None: the key was deleted or purged."""
    revision: int


class TypedKV(Generic[T]):
    """`put`/`get`/`create`/`update`/`delete`/`keys`/`items`/`watch` over one bucket with one value type."""

    def __init__(self, kv: KeyValue, value_type: type[T]) -> None:
        self.raw = kv
        self.value_type = value_type
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(value_type)
        self.undecodable = 0
        """Entries a watch skipped because they did not decode."""

    async def put(self, key: str, value: T) -> int:
        """Write; returns the new revision."""
        return await self.raw.put(key, msgspec.json.encode(value))

    async def create(self, key: str, value: T) -> int:
        """Write only if the key is absent (raises KeyWrongLastSequenceError otherwise)."""
        return await self.raw.create(key, msgspec.json.encode(value))

    async def update(self, key: str, value: T, last: int) -> int:
        """Compare-and-set on the revision (raises KeyWrongLastSequenceError when stale)."""
        return await self.raw.update(key, msgspec.json.encode(value), last=last)

    async def get_entry(self, key: str) -> tuple[T, int] | None:
        """(value, revision), or None when missing or deleted."""
        try:
            entry = await self.raw.get(key)
        except KeyNotFoundError:
            return None
        if entry.value is None or not entry.value or entry.revision is None:
            return None
        return self._decoder.decode(entry.value), entry.revision

    async def get(self, key: str) -> T | None:
        found = await self.get_entry(key)
        return None if found is None else found[0]

    async def delete(self, key: str) -> None:
        await self.raw.delete(key)

    async def keys(self) -> list[str]:
        try:
            return await self.raw.keys()
        except NoKeysError:
            return []

    async def items(self) -> AsyncIterator[tuple[str, T]]:
        """Every live key and its value (a snapshot, read one by one)."""
        for key in await self.keys():
            value = await self.get(key)
            if value is not None:
                yield key, value

    async def watch(self, key: str = ">", *, on_synced: Callable[[], object] | None = None
                    ) -> AsyncIterator[KVChange[T]]:
        """The latest entry of every key matching `key` (`>`: all of them), then each change as it
        is written, until the caller stops iterating (cancel it, or close it with
        `contextlib.aclosing`). `on_synced` is called once, after the entries present when the
        watch began were all yielded (at once for an empty bucket). An entry that does not decode
        is logged, counted (`undecodable`) and skipped: one bad value never ends the watch."""
        watcher = await self.raw.watch(key)
        try:
            raise_if_cancelled()  # a stop during the set-up requests must not become a wait for ever
            async for entry in watcher:
                if entry is None:  # nats-py's marker: the initial entries were all delivered
                    if on_synced is not None:
                        on_synced()
                    continue
                change = self._change(entry)
                if change is not None:
                    yield change
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]

    def _change(self, entry: KeyValue.Entry) -> KVChange[T] | None:
        revision = entry.revision or 0
        if entry.operation in _DELETED or not entry.value:
            return KVChange(entry.key, None, revision)
        try:
            return KVChange(entry.key, self._decoder.decode(entry.value), revision)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.undecodable += 1
            log.warning("undecodable KV entry skipped", extra={
                "bucket": entry.bucket, "key": entry.key, "revision": revision, "error": str(exc)[:300]})
            return None
