"""The work-queue pattern every sandbox controller shares (client-go's informer + workqueue,
in-process): watches turn events into dirty keys, one worker reconciles each dirty key once
per batch from the store's current state, failures are retried after a delay.

Reading the store at reconcile time (not a watch-fed cache) means a controller always sees its
own writes, so it needs no "expectations" to avoid double-creating pods.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from spillway.sandbox.errors import ApiError
from spillway.sandbox.store import Store

Obj = dict[str, Any]
Key = tuple[str, str]
log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
RETRY_DELAY = 0.5
BATCH_WINDOW = 0.05  # events arriving within it share one reconcile (a reconcile is O(dependents))


def controller_uid(obj: Obj) -> str:
    """The uid of the owner with controller=true ("" when there is none)."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid", ""))
    return ""


def _shape(obj: Obj) -> tuple[Any, ...]:
    """What owners count of a dependent: phase, readiness, node, deletion, labels, owners, and
    for ReplicaSets their replica figures."""
    meta, status = obj["metadata"], obj.get("status") or {}
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    return (status.get("phase"), ready, (obj.get("spec") or {}).get("nodeName"), meta.get("deletionTimestamp"),
            meta.get("labels"), meta.get("ownerReferences"), meta.get("uid"), (obj.get("spec") or {}).get("replicas"),
            status.get("replicas"), status.get("readyReplicas"), status.get("availableReplicas"))


def controller_ref(obj: Obj) -> Obj | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_reference(owner: Obj) -> Obj:
    """What the real controllers put on what they create."""
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def owned(store: Store, owner: Obj, key: str) -> list[Obj]:
    """Objects of `key` controlled by `owner` (controller reference, not just any owner reference)."""
    uid = owner["metadata"]["uid"]
    return [o for o in store.dependents(uid, key) if controller_uid(o) == uid]


class Reconciler:
    """Subclasses set `kind_key`, `watched`, and implement `reconcile(ns, name)`; `on_event`
    maps events to keys (default: the object itself for `kind_key`, the controller owner of
    kind `owner_kind` for anything else)."""

    kind_key = ""
    owner_kind = ""
    watched: tuple[str, ...] = ()

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dirty: dict[Key, None] = {}
        self.wake = asyncio.Event()
        self._seen: dict[tuple[str, str, str], tuple[Any, ...]] = {}

    def enqueue(self, namespace: str, name: str) -> None:
        self.dirty[(namespace, name)] = None
        self.wake.set()

    def enqueue_all(self) -> None:
        for obj in self.store.list(self.kind_key)[0]:
            self.enqueue(obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    def on_event(self, key: str, type_: str, obj: Obj) -> None:
        meta = obj["metadata"]
        if key == self.kind_key:
            self.enqueue(meta.get("namespace", ""), meta["name"])
            return
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != self.owner_kind:
            return
        seen_key = (key, meta.get("namespace", ""), meta["name"])
        if type_ == "DELETED":
            self._seen.pop(seen_key, None)
        else:
            shape = _shape(obj)
            if self._seen.get(seen_key) == shape:
                return  # e.g. an annotation or a condition message: nothing an owner counts changed
            self._seen[seen_key] = shape
        self.enqueue(meta.get("namespace", ""), str(ref.get("name", "")))

    async def reconcile(self, namespace: str, name: str) -> None:
        raise NotImplementedError

    async def delete_pod(self, pod: Obj) -> None:
        """Delete one of our pods (gracefully, pinned to its uid); already gone is fine."""
        meta = pod["metadata"]
        try:
            await self.store.delete("pods", meta["namespace"], meta["name"], preconditions={"uid": meta["uid"]})
        except ApiError as err:
            if err.code != 404:
                raise

    async def run(self) -> None:
        watches = [asyncio.create_task(self._watch(key)) for key in self.watched]
        try:
            await self._work()
        finally:
            for task in watches:
                task.cancel()

    async def _watch(self, key: str) -> None:
        while True:
            objs, rv = self.store.list(key)
            for obj in objs:
                self.on_event(key, "ADDED", obj)
            watcher = self.store.watch(key, resource_version=rv)
            try:
                async for type_, obj in watcher:
                    self.on_event(key, type_, obj)
            finally:
                watcher.close()
            if not watcher.overflowed:
                return

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            # A burst of pod events for one ReplicaSet must cost one O(pods) reconcile, not one
            # per event (that was 2/3 of the sandbox's CPU in a 1000-pod burst).
            await asyncio.sleep(BATCH_WINDOW)
            self.wake.clear()
            batch: Iterable[Key] = list(self.dirty)
            self.dirty.clear()
            for namespace, name in batch:
                try:
                    await self.reconcile(namespace, name)
                except ApiError as err:
                    log.debug("%s %s/%s: %s; retrying", self.kind_key, namespace, name, err.message)
                    loop.call_later(RETRY_DELAY, self.enqueue, namespace, name)
                except Exception:
                    log.exception("%s %s/%s: reconcile failed; retrying", self.kind_key, namespace, name)
                    loop.call_later(RETRY_DELAY * 4, self.enqueue, namespace, name)
                await asyncio.sleep(0)


async def slow_start(count: int, create_one: Any, initial: int = 1) -> int:
    """The real controllers' slowStartBatch: batches of 1, 2, 4, … in parallel, stopping at the
    first batch with a failure (so a refusing webhook costs one call, not thousands). Returns
    how many succeeded."""
    done, batch, remaining = 0, initial, count
    while remaining > 0:
        size = min(batch, remaining)
        results = await asyncio.gather(*(create_one() for _ in range(size)), return_exceptions=True)
        ok = sum(1 for r in results if not isinstance(r, BaseException))
        done += ok
        if ok < size:
            failure = next(r for r in results if isinstance(r, BaseException))
            if not isinstance(failure, ApiError):
                log.error("creating objects failed: %r", failure)
            break
        remaining -= size
        batch *= 2
    return done


def copy_obj(obj: Any) -> Any:
    """A deep copy (objects are JSON, so a msgspec round trip is the fastest)."""
    return _decode(_encode(obj))


async def write_status(store: Store, key: str, obj: Obj, status: Obj) -> bool:
    """Merge `status` over the current one when it differs (controllers never spam writes)."""
    current = obj.get("status") or {}
    if all(current.get(k) == v for k, v in status.items()):
        return False
    meta = obj["metadata"]
    await store.patch(key, meta.get("namespace") or None, meta["name"], {"status": status},
                      "application/merge-patch+json", subresource="status")
    return True


async def feed(store: Store, key: str, handle: Callable[[str, Obj], None], wake: asyncio.Event) -> None:
    """List then watch `key`, handing every object to `handle` (re-listing after an overflow)."""
    while True:
        objs, rv = store.list(key)
        for obj in objs:
            handle("ADDED", obj)
        wake.set()
        watcher = store.watch(key, resource_version=rv)
        try:
            while True:
                batch = await watcher.next_batch(None)
                if batch is None:
                    break
                for type_, obj, _ in batch:
                    handle(type_, obj)
        finally:
            watcher.close()
        if not watcher.overflowed:
            return
