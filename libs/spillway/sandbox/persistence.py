"""State that survives a restart: a snapshot written atomically on shutdown and periodically while
dirty. After a restore the retained watch history is empty, so a client resuming from an older
resourceVersion gets 410 and relists — exactly what a real watch cache restart looks like.
resourceVersions continue from the snapshot.

Sized for a cluster of 50,000 pods (about 400 MB of JSON):
- the file is JSON lines — a header `{"resourceVersion": N}`, then one `[bucket, object]` per
  line — written and read one object at a time, so neither a save nor a load holds the whole
  cluster as one buffer (the older single-document format is still read);
- a periodic save waits at least `SAVE_COST_FACTOR` times as long as the last one took (the first,
  as long as the load took), so writing the snapshot never takes more than about 5% of a core
  whatever the cluster's size;
- loading runs with the garbage collector off (millions of new, acyclic objects: each collection
  meanwhile would scan them all for nothing) and shares equal parts between objects
  (`SubtreeSharing`): the replicas of one workload are alike but for a few fields, so their specs,
  labels and conditions are stored once instead of once per pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import msgspec

from spillway.model.sharing import EqualParts
from spillway.sandbox.store import Store

SNAPSHOT = "snapshot.json"
SAVE_COST_FACTOR = 20.0
SHARED_SUBTREES = 4096
"""Distinct shared parts remembered while loading (the most recent win): far more than the
templates of a cluster's workloads, a bounded table whatever the snapshot holds."""
Obj = dict[str, Any]
_encode = msgspec.json.Encoder().encode


class _Header(msgspec.Struct):
    resourceVersion: int = 0
    objects: dict[str, list[Obj]] | None = None  # the single-document format


class _Line(msgspec.Struct, array_like=True):
    bucket: str
    object: Obj


_header_decoder = msgspec.json.Decoder(_Header)
_line_decoder = msgspec.json.Decoder(_Line)


class SubtreeSharing:
    """Replaces each second-level part of an object (`spec.containers`, `metadata.labels`,
    `status.conditions`, …) by an equal part seen before, so equal parts are stored once.

    Safe because the store never changes a stored object in place: a write builds new dicts along
    the path it changes and shares the rest, so a shared part is never written through."""

    def __init__(self, capacity: int = SHARED_SUBTREES) -> None:
        self._parts = EqualParts(capacity)

    def share(self, obj: Obj) -> Obj:
        for section in ("metadata", "spec", "status"):
            fields = obj.get(section)
            if not isinstance(fields, dict):
                continue
            for key, value in fields.items():
                if isinstance(value, (dict, list)) and value:
                    fields[key] = self._parts.share(value)
        return obj


def load(store: Store, data_dir: Path) -> bool:
    path = data_dir / SNAPSHOT
    if not path.exists():
        return False
    sharing = SubtreeSharing()
    collecting = gc.isenabled()
    gc.disable()
    try:
        with path.open("rb") as snapshot:
            header = _header_decoder.decode(snapshot.readline())
            if header.objects is not None:  # the single-document format: one line holds everything
                store.restore(header.resourceVersion, ((b, sharing.share(o)) for b, objs in header.objects.items()
                                                      for o in objs))
            else:
                store.restore(header.resourceVersion, _objects(snapshot, sharing))
    finally:
        if collecting:
            gc.enable()
    return True


def _objects(lines: Iterable[bytes], sharing: SubtreeSharing) -> Iterator[tuple[str, Obj]]:
    for line in lines:
        if line.strip():
            item = _line_decoder.decode(line)
            yield item.bucket, sharing.share(item.object)


def write(data_dir: Path, resource_version: int, objects: Iterable[tuple[str, Obj]]) -> None:
    """Replace the snapshot atomically (a crash mid-write leaves the previous one), one object per line."""
    with _replacing(data_dir) as out:
        out.write(_header(resource_version))
        for item in objects:
            out.write(_line(item))


def _header(resource_version: int) -> bytes:
    return _encode({"resourceVersion": resource_version}) + b"\n"


def _line(item: tuple[str, Obj]) -> bytes:
    return _encode(item) + b"\n"


def _tmp(data_dir: Path) -> Path:
    """Where a snapshot is written before it replaces the last one."""
    return data_dir / (SNAPSHOT + ".tmp")


def save(store: Store, data_dir: Path) -> None:
    write(data_dir, store.rv, store.objects())
    store.dirty = False


async def save_in_steps(store: Store, data_dir: Path, step: int = 500) -> None:
    """`save` that lets the server answer between steps of `step` objects. The objects are taken
    first: stored objects are never changed in place, so those references are the store as of one
    resourceVersion however it changes meanwhile. Each step is encoded here and written by a
    thread: a write the kernel throttles (hundreds of MB of dirty pages every few seconds) would
    otherwise stop the server for a quarter of a second at 20,000 pods."""
    rv, objects = store.rv, list(store.objects())
    store.dirty = False
    tmp = _tmp(data_dir)
    try:
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
        out = await asyncio.to_thread(tmp.open, "wb")
        try:
            await asyncio.to_thread(out.write, _header(rv))
            for start in range(0, len(objects), step):
                chunk = b"".join(_line(item) for item in objects[start:start + step])
                await asyncio.to_thread(out.write, chunk)
        finally:
            await asyncio.to_thread(out.close)
        # replacing unlinks the previous snapshot: freeing hundreds of MB takes the kernel a while too
        await asyncio.to_thread(os.replace, tmp, data_dir / SNAPSHOT)
    except OSError:
        store.dirty = True
        raise


@contextlib.contextmanager
def _replacing(data_dir: Path) -> Iterator[IO[bytes]]:
    """A file that becomes the snapshot once written in full."""
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(data_dir)
    with tmp.open("wb") as out:
        yield out
    os.replace(tmp, data_dir / SNAPSHOT)


async def save_periodically(store: Store, data_dir: Path, every: float, load_seconds: float = 0.0) -> None:
    """Save while dirty, pausing `SAVE_COST_FACTOR` times the last save's duration (at least
    `every`); before the first save, the snapshot's load time stands for it (a save costs less
    than a load), so a big cluster is not written back while the services start against it."""
    pause = max(every, SAVE_COST_FACTOR * load_seconds)
    while True:
        await asyncio.sleep(pause)
        if store.dirty:
            started = time.monotonic()
            with contextlib.suppress(OSError):
                await save_in_steps(store, data_dir)
            pause = max(every, SAVE_COST_FACTOR * (time.monotonic() - started))
