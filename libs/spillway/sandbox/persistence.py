"""State that survives a restart: a msgspec JSON snapshot written atomically on shutdown and
periodically while dirty. After a restore the retained watch history is empty, so a client
resuming from an older resourceVersion gets 410 and relists — exactly what a real watch
cache restart looks like. resourceVersions continue from the snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import msgspec

from spillway.sandbox.store import Store

SNAPSHOT = "snapshot.json"


def load(store: Store, data_dir: Path) -> bool:
    path = data_dir / SNAPSHOT
    if not path.exists():
        return False
    store.restore(msgspec.json.decode(path.read_bytes()))
    return True


def save(store: Store, data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / (SNAPSHOT + ".tmp")
    tmp.write_bytes(msgspec.json.encode(store.snapshot()))
    os.replace(tmp, data_dir / SNAPSHOT)
    store.dirty = False


async def save_periodically(store: Store, data_dir: Path, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        if store.dirty:
            with contextlib.suppress(OSError):
                save(store, data_dir)
