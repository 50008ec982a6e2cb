"""The object store: one cluster-wide resourceVersion, writes with the real API's semantics,
per-bucket watch history, watch fan-out, admission hooks, graceful deletion and owner GC.

Objects are plain dicts (API JSON). The store owns what it holds: it never mutates a stored
object after commit (writes build a new dict), so readers and watchers can share them
without copies — callers must treat returned objects as read-only. Reads are synchronous;
writes are async because they await the admission hooks before committing. Everything the
HTTP layer does goes through these methods, so in-process controllers see the same events.

Internal API (keys are resource keys: "pods", "nodes", "deployments", "leases", …):
  get/try_get/get_copy/list/count (sync) · watch → Watcher (sync to start; `async for type_, obj`)
  await create/update/patch/delete/bind · admission_hooks: list of async callables
Edit objects only through get_copy() or patch(): never mutate what get()/list()/watch return.
"""

from __future__ import annotations

import bisect
import builtins
import copy
import heapq
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from spillway.sandbox import errors, events_view, paging, pod_rules, semantics, validation
from spillway.sandbox.errors import ApiError
from spillway.sandbox.paging import ListPage
from spillway.sandbox.patch import APPLY_PATCH, apply_patch
from spillway.sandbox.resources import ResourceType, resource
from spillway.sandbox.selectors import FieldSelector, LabelSelector, object_matcher
from spillway.sandbox.semantics import rfc3339
from spillway.sandbox.watch import Watcher, WatchEvent

Obj = dict[str, Any]
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# etcd's default --max-request-bytes: a write whose object is larger fails in etcd, and
# kube-apiserver answers 500 "etcdserver: request is too large". Measured here on the JSON
# the sandbox keeps (real servers store protobuf, a little smaller), key included.
MAX_STORED_BYTES = 1536 * 1024
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class AdmissionRequest:
    """What an admission hook sees; it may mutate `object` in place, append to `warnings`,
    or raise `ApiError` to deny."""

    operation: str  # CREATE | UPDATE
    resource: ResourceType
    subresource: str
    namespace: str
    name: str
    object: Obj
    old_object: Obj | None
    dry_run: bool
    user: str
    warnings: list[str] = field(default_factory=list)


AdmissionHook = Callable[[AdmissionRequest], Awaitable[None]]


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


def _storage_key(namespace: str, name: str) -> str:
    """An object's key below its resource's etcd prefix: `namespace/name`, or `name` cluster-wide."""
    return f"{namespace}/{name}" if namespace else name


def _refuse_new_uid(rt: ResourceType, name: str, meta: dict[str, Any], old: Obj) -> None:
    """A patch that sets another uid is refused as the update validation does (uid is immutable),
    never applied with the old uid kept: a writer that names the incarnation it saw (kubelet's
    status patches do) must not write to a pod re-created under the same name."""
    uid, current = meta.get("uid"), old["metadata"].get("uid")
    if uid and uid != current:
        raise errors.invalid(rt.kind, rt.group, name, [("metadata.uid", "FieldValueInvalid",
                                                        validation.invalid_value(uid, "field is immutable"))])


class Store:
    """In-memory API storage. Keys are `resources.resource()` keys ("pods", "deployments", …)."""

    def __init__(
        self,
        *,
        watch_history: int = 10_000,
        watch_queue_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.watch_history = watch_history
        self.watch_queue_size = watch_queue_size
        self.clock = clock
        self.rv = 0
        self.admission_hooks: list[AdmissionHook] = []
        self._objects: dict[str, dict[str, dict[str, Obj]]] = {}  # bucket → namespace → name → obj
        self._history: dict[str, deque[WatchEvent]] = {}
        self._floor: dict[str, int] = {}  # bucket → highest RV no longer in history
        self._watchers: dict[str, set[Watcher]] = {}
        self._by_uid: dict[str, tuple[str, str, str]] = {}
        self._dependents: dict[str, set[tuple[str, str, str]]] = {}
        self.dirty = False
        self._default_floor = 0
        self._gc_queue: builtins.list[tuple[str, str, str, str]] = []
        self._sorted: dict[str, builtins.list[str]] = {}  # bucket → its storage keys in etcd order, while valid

    # ---- bootstrapping and persistence -------------------------------------------------------

    def bootstrap(self) -> None:
        for ns in SYSTEM_NAMESPACES:
            if not self._objects.get("namespaces", {}).get("", {}).get(ns):
                self._commit_new(resource("namespaces"), self._new_namespace(ns))

    def _new_namespace(self, name: str) -> Obj:
        return {"kind": "Namespace", "apiVersion": "v1",
                "metadata": {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": rfc3339(self.clock()),
                             "labels": {"kubernetes.io/metadata.name": name}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}

    def objects(self) -> Iterator[tuple[str, Obj]]:
        """Every stored object with its bucket (what a snapshot holds)."""
        for bucket, by_ns in self._objects.items():
            for names in by_ns.values():
                for obj in names.values():
                    yield bucket, obj

    def restore(self, resource_version: int, objects: Iterable[tuple[str, Obj]]) -> None:
        """Load a snapshot's objects as stored at `resource_version`; no history reaches back before it."""
        self.rv = int(resource_version)
        for bucket, obj in objects:
            self._put(bucket, obj)
        for bucket in self._objects:
            self._floor[bucket] = self.rv
        self._default_floor = self.rv

    # ---- reads -------------------------------------------------------------------------------

    def get(self, key: str, namespace: str | None, name: str) -> Obj:
        rt = resource(key)
        obj = self._objects.get(rt.bucket, {}).get(namespace or "", {}).get(name)
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return self._view(rt, obj)

    def get_copy(self, key: str, namespace: str | None, name: str) -> Obj:
        """A private deep copy to edit and hand to update(); objects from get()/list() are shared."""
        copied: Obj = _decode(_encode(self.get(key, namespace, name)))
        return copied

    def try_get(self, key: str, namespace: str | None, name: str) -> Obj | None:
        try:
            return self.get(key, namespace, name)
        except ApiError:
            return None

    def list(
        self,
        key: str,
        namespace: str | None = None,
        label_selector: str | LabelSelector | None = None,
        field_selector: str | FieldSelector | None = None,
    ) -> tuple[builtins.list[Obj], str]:
        """Matching objects (in etcd's key order, `namespace/name`) and the list resourceVersion."""
        rt = resource(key)
        match = self._matcher(rt, label_selector, field_selector)
        by_ns = self._objects.get(rt.bucket, {})
        if namespace is not None and rt.namespaced:
            names = by_ns.get(namespace or "", {})
            return [self._view(rt, names[n]) for n in sorted(names) if match(names[n])], str(self.rv)
        out = []
        for storage_key in self._sorted_keys(rt.bucket):
            obj = self._at_key(by_ns, storage_key)
            if obj is not None and match(obj):
                out.append(self._view(rt, obj))
        return out, str(self.rv)

    def list_page(
        self,
        key: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        *,
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
    ) -> ListPage:
        """A list as kube-apiserver answers it (`paging.py`): at most `limit` matching items in key
        order from where `continue_token` left off, read at the token's resourceVersion (so all pages
        are one snapshot), with the next token and, without selectors, the remaining item count.
        `resource_version` "0" is served as the watch cache does (everything, `limit` ignored)."""
        rt = resource(key)
        match = self._matcher(rt, label_selector, field_selector)
        prefix = f"{namespace}/" if namespace and rt.namespaced else ""
        at = self.rv
        start = prefix
        if continue_token:
            relative, token_rv = paging.decode_continue(continue_token)
            if resource_version not in ("", "0"):
                raise errors.bad_request("specifying resource version is not allowed when using continue")
            start = prefix + relative
            if token_rv != paging.LATEST:
                at = token_rv
        elif resource_version == "0":
            limit = 0
        elif resource_version and limit > 0:  # the legacy exact read of a paged list
            try:
                at = min(int(resource_version), self.rv)
            except ValueError:
                raise errors.bad_request(f'invalid resource version "{resource_version}"') from None
        if at < self.rv and at < self._floor.get(rt.bucket, self._default_floor):
            if continue_token:
                raise paging.expired_continue(start[len(prefix):])
            raise errors.expired(paging.EXPIRED_LIST)
        return self._page(rt, match, prefix, start, at, limit, bool(label_selector or field_selector))

    def _page(self, rt: ResourceType, match: Callable[[Obj], bool], prefix: str, start: str, at: int, limit: int,
              selective: bool) -> ListPage:
        by_ns = self._objects.get(rt.bucket, {})
        then = self._state_at(rt.bucket, at)  # storage key → object at `at` (None: absent then)
        keys = self._sorted_keys(rt.bucket)
        end = prefix[:-1] + chr(ord("/") + 1) if prefix else "\U0010ffff"
        first, stop = bisect.bisect_left(keys, start), bisect.bisect_left(keys, end)
        gone_since = sorted(k for k, obj in then.items()
                            if obj is not None and start <= k < end and self._at_key(by_ns, k) is None)
        out: builtins.list[Obj] = []
        last = ""
        more = False
        for storage_key in heapq.merge(keys[first:stop], gone_since):
            obj = then[storage_key] if storage_key in then else self._at_key(by_ns, storage_key)
            if obj is None:
                continue
            if limit and len(out) >= limit:
                more = True
                break
            last = storage_key
            if match(obj):
                out.append(self._view(rt, obj))
        if not more:
            return ListPage(out, str(at))
        remaining = None
        if not selective:
            existed = (stop - first) + len(gone_since) - sum(
                1 for k, obj in then.items() if obj is None and start <= k < end and self._at_key(by_ns, k) is not None)
            remaining = existed - limit
        return ListPage(out, str(at), paging.encode_continue(last[len(prefix):] + "\x00", at), remaining)

    def _state_at(self, bucket: str, rv: int) -> dict[str, Obj | None]:
        """The objects of `bucket` that changed after `rv`, as they were at `rv` (None: absent then),
        rebuilt from the watch history the way etcd reads an old revision (the caller checked the
        history still reaches back to `rv`)."""
        then: dict[str, Obj | None] = {}
        for event in reversed(self._history.get(bucket, ())):
            if event.rv <= rv:
                break
            meta = event.obj["metadata"]
            then[_storage_key(meta.get("namespace", ""), meta["name"])] = (
                None if event.type == "ADDED" else event.old)
        return then

    def _sorted_keys(self, bucket: str) -> builtins.list[str]:
        """The bucket's storage keys in etcd order, rebuilt only after an object was added or removed."""
        keys = self._sorted.get(bucket)
        if keys is None:
            keys = self._sorted[bucket] = sorted(
                _storage_key(ns, name) for ns, names in self._objects.get(bucket, {}).items() for name in names)
        return keys

    @staticmethod
    def _at_key(by_ns: dict[str, dict[str, Obj]], storage_key: str) -> Obj | None:
        ns, _, name = storage_key.rpartition("/")
        return by_ns.get(ns, {}).get(name)

    def count(self, key: str) -> int:
        return sum(len(v) for v in self._objects.get(resource(key).bucket, {}).values())

    def dependents(self, owner_uid: str, key: str) -> builtins.list[Obj]:
        """Objects of kind `key` whose ownerReferences name `owner_uid` (the GC index: always current,
        unlike a watch-fed cache, so controllers never double-create)."""
        bucket = resource(key).bucket
        objects = self._objects.get(bucket, {})
        out = []
        for b, ns, name in self._dependents.get(owner_uid, ()):
            obj = objects.get(ns, {}).get(name) if b == bucket else None
            if obj is not None:
                out.append(obj)
        out.sort(key=lambda o: o["metadata"]["name"])
        return out

    def namespace_exists(self, namespace: str) -> bool:
        return namespace in self._objects.get("namespaces", {}).get("", {})

    def _matcher(self, rt: ResourceType, labels: str | LabelSelector | None,
                 fields: str | FieldSelector | None) -> Callable[[Obj], bool]:
        ls = labels if isinstance(labels, LabelSelector) else LabelSelector.parse(labels)
        fs = fields if isinstance(fields, FieldSelector) else FieldSelector.parse(fields, rt.field_selectors)
        return object_matcher(ls, fs)

    @staticmethod
    def _view(rt: ResourceType, obj: Obj) -> Obj:
        return events_view.to_events_v1(obj) if rt.group == "events.k8s.io" else obj

    # ---- watch -------------------------------------------------------------------------------

    def watch(
        self,
        key: str,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | LabelSelector | None = None,
        field_selector: str | FieldSelector | None = None,
    ) -> Watcher:
        """Start a watch. RV unset/"0": synthetic ADDED for all, then live; RV=N: events after N;
        N older than the retained history → ApiError 410 Expired."""
        rt = resource(key)
        match = self._matcher(rt, label_selector, field_selector)
        bucket = rt.bucket
        ns = namespace if rt.namespaced else None
        transform = events_view.to_events_v1 if rt.group == "events.k8s.io" else None
        watcher = Watcher(bucket, ns, match, self.watch_queue_size, self._drop_watcher, transform)
        if resource_version is None or resource_version in ("", "0"):
            objs, _ = self.list(key, ns, label_selector, field_selector)
            for obj in objs:
                watcher.push(("ADDED", obj, None))
        else:
            try:
                since = int(resource_version)
            except ValueError:
                raise errors.bad_request(f'invalid resource version "{resource_version}"') from None
            floor = self._floor.get(bucket, self._default_floor)
            if since < floor:
                raise errors.expired(f"too old resource version: {since} ({floor + 1})")
            history = self._history.get(bucket, deque())
            start = len(history)
            while start > 0 and history[start - 1].rv > since:
                start -= 1
            for i in range(start, len(history)):
                watcher.offer(history[i])
        self._watchers.setdefault(bucket, set()).add(watcher)
        return watcher

    def _drop_watcher(self, watcher: Watcher) -> None:
        self._watchers.get(watcher.bucket, set()).discard(watcher)

    def close_watchers(self) -> None:
        for watchers in list(self._watchers.values()):
            for w in list(watchers):
                w.close()

    # ---- commit primitives -------------------------------------------------------------------

    def _next_rv(self) -> int:
        self.rv += 1
        self.dirty = True
        return self.rv

    def _emit(self, bucket: str, type_: str, obj: Obj, old: Obj | None = None) -> None:
        """Record and fan out a committed change; `old` is the object before it (a MODIFIED's
        previous state, a DELETED's last stored state), from which an old revision is rebuilt."""
        event = WatchEvent(type_, obj, self.rv, old)
        history = self._history.get(bucket)
        if history is None:
            history = self._history[bucket] = deque()
        if self.watch_history > 0:
            if len(history) >= self.watch_history:
                self._floor[bucket] = history.popleft().rv
            history.append(event)
        else:
            self._floor[bucket] = self.rv
        for watcher in list(self._watchers.get(bucket, ())):
            watcher.offer(event)

    def _put(self, bucket: str, obj: Obj) -> None:
        meta = obj["metadata"]
        ns, name, uid = meta.get("namespace", ""), meta["name"], meta.get("uid", "")
        old = self._objects.setdefault(bucket, {}).setdefault(ns, {}).get(name)
        if old is not None:
            self._unindex(bucket, old)
        else:
            self._sorted.pop(bucket, None)
        self._objects[bucket][ns][name] = obj
        if uid:
            self._by_uid[uid] = (bucket, ns, name)
        for ref in meta.get("ownerReferences") or []:
            self._dependents.setdefault(ref.get("uid", ""), set()).add((bucket, ns, name))

    def _unindex(self, bucket: str, obj: Obj) -> None:
        meta = obj["metadata"]
        key = (bucket, meta.get("namespace", ""), meta["name"])
        for ref in meta.get("ownerReferences") or []:
            deps = self._dependents.get(ref.get("uid", ""))
            if deps:
                deps.discard(key)

    @staticmethod
    def _check_size(rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        key_size = len(rt.bucket) + len(meta.get("namespace", "")) + len(meta["name"]) + 12  # /registry/…
        if len(_encode(obj)) + key_size > MAX_STORED_BYTES:
            raise errors.storage_request_too_large()

    def _commit_new(self, rt: ResourceType, obj: Obj) -> Obj:
        self._check_size(rt, obj)
        _meta(obj)["resourceVersion"] = str(self._next_rv())
        self._put(rt.bucket, obj)
        self._emit(rt.bucket, "ADDED", obj)
        return obj

    def _commit_update(self, rt: ResourceType, obj: Obj, old: Obj) -> Obj:
        self._check_size(rt, obj)
        obj["metadata"]["resourceVersion"] = str(self._next_rv())
        self._put(rt.bucket, obj)
        self._emit(rt.bucket, "MODIFIED", obj, old)
        return obj

    def _commit_remove(self, rt: ResourceType, obj: Obj) -> Obj:
        meta = obj["metadata"]
        removed = copy.copy(obj)
        removed["metadata"] = dict(meta, resourceVersion=str(self._next_rv()))
        self._unindex(rt.bucket, obj)
        names = self._objects.get(rt.bucket, {}).get(meta.get("namespace", ""), {})
        names.pop(meta["name"], None)
        self._sorted.pop(rt.bucket, None)
        self._by_uid.pop(meta.get("uid", ""), None)
        self._emit(rt.bucket, "DELETED", removed, obj)
        return removed

    def _current(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self._objects.get(rt.bucket, {}).get(namespace if rt.namespaced else "", {}).get(name)
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return obj

    async def _admit(self, rt: ResourceType, operation: str, subresource: str, obj: Obj, old: Obj | None,
                     dry_run: bool, user: str, warnings: builtins.list[str] | None) -> None:
        if not self.admission_hooks:
            return
        meta = obj["metadata"]
        request = AdmissionRequest(operation, rt, subresource, meta.get("namespace", ""), meta.get("name", ""),
                                   obj, old, dry_run, user)
        for hook in list(self.admission_hooks):
            await hook(request)
        if warnings is not None:
            warnings.extend(request.warnings)

    # ---- writes ------------------------------------------------------------------------------

    async def create(
        self,
        key: str,
        obj: Obj,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        user: str = "system:admin",
        warnings: builtins.list[str] | None = None,
    ) -> Obj:
        """Create; the caller hands over `obj` (it is modified and stored)."""
        rt = resource(key)
        if rt.group == "events.k8s.io":
            obj = events_view.to_core(obj)
        meta = _meta(obj)
        validation.decode(rt, obj)
        if rt.namespaced:
            ns = namespace or meta.get("namespace") or "default"
            if meta.get("namespace") and meta["namespace"] != ns:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent "
                                         "on the request")
            meta["namespace"] = ns
            if not self.namespace_exists(ns):
                raise errors.not_found("namespaces", "", ns)
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise errors.invalid(rt.kind, rt.group, "", [("metadata.name", "FieldValueRequired",
                                                              "Required value: name or generateName is required")])
            meta["name"] = meta["generateName"] + "".join(random.choices(_NAME_CHARS, k=5))
        semantics.prepare_create(rt, obj, self.clock())
        await self._admit(rt, "CREATE", "", obj, None, dry_run, user, warnings)
        semantics.prepare_admitted(rt, obj, self.clock())
        semantics.validate(rt, obj, creating=True)
        name = meta["name"]
        if name in self._objects.get(rt.bucket, {}).get(meta.get("namespace", ""), {}):
            raise errors.already_exists(rt.plural, rt.group, name)
        if dry_run:
            meta["resourceVersion"] = ""
            return self._view(rt, obj)
        return self._view(rt, self._commit_new(rt, obj))

    async def update(
        self,
        key: str,
        obj: Obj,
        *,
        namespace: str | None = None,
        subresource: str = "",
        dry_run: bool = False,
        user: str = "system:admin",
        warnings: builtins.list[str] | None = None,
    ) -> Obj:
        """PUT semantics: RV precondition when set (required for leases), status split, may create
        where the kind allows it. The caller hands over `obj`."""
        rt = resource(key)
        if rt.group == "events.k8s.io":
            obj = events_view.to_core(obj)
        meta = _meta(obj)
        ns = (namespace or meta.get("namespace") or "default") if rt.namespaced else ""
        name = meta.get("name", "")
        old = self._objects.get(rt.bucket, {}).get(ns, {}).get(name)
        if old is None:
            if rt.create_on_update and not subresource:
                return await self.create(key, obj, namespace=ns or None, dry_run=dry_run, user=user, warnings=warnings)
            raise errors.not_found(rt.plural, rt.group, name)
        if meta.get("uid") and meta["uid"] != old["metadata"].get("uid"):
            # kube-apiserver takes a uid in the body of a PUT as a precondition
            raise errors.conflict(rt.plural, rt.group, name, f"Precondition failed: UID in precondition: "
                                  f"{meta['uid']}, UID in object meta: {old['metadata'].get('uid')}")
        validation.decode(rt, obj)
        want_rv = meta.get("resourceVersion")
        if not want_rv and rt.require_rv_on_update:
            raise errors.invalid(rt.kind, rt.group, name, [("metadata.resourceVersion", "FieldValueInvalid",
                                                            "Invalid value: 0: must be specified for an update")])
        new = semantics.merge_update(rt, old, obj, subresource)
        await self._admit(rt, "UPDATE", subresource, new, old, dry_run, user, warnings)
        return self._finish_update(rt, new, want_rv, dry_run)

    def _finish_update(self, rt: ResourceType, new: Obj, want_rv: str | None, dry_run: bool) -> Obj:
        meta = new["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        current = self._objects.get(rt.bucket, {}).get(ns, {}).get(name)
        if current is None:
            raise errors.not_found(rt.plural, rt.group, name)
        if want_rv and want_rv != current["metadata"]["resourceVersion"]:
            raise errors.modified_conflict(rt.plural, rt.group, name)
        semantics.validate(rt, new)
        if dry_run:
            return self._view(rt, new)
        if new == current or (semantics.same_but_rv(new, current)):
            return self._view(rt, current)
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and self._deletion_done(rt, new):
            return self._view(rt, self._remove_and_collect(rt, current))
        return self._view(rt, self._commit_update(rt, new, current))

    @staticmethod
    def _deletion_done(rt: ResourceType, obj: Obj) -> bool:
        return rt.plural != "pods" or obj["metadata"].get("deletionGracePeriodSeconds") in (0, None)

    async def patch(
        self,
        key: str,
        namespace: str | None,
        name: str,
        body: Any,
        content_type: str,
        *,
        subresource: str = "",
        dry_run: bool = False,
        user: str = "system:admin",
        warnings: builtins.list[str] | None = None,
    ) -> Obj:
        """PATCH by media type; apply-patch creates when missing. Retries on internal conflicts
        like the real server; a resourceVersion inside the patch is a precondition."""
        rt = resource(key)
        ns = (namespace or "default") if rt.namespaced else ""
        for _ in range(10):
            old = self._objects.get(rt.bucket, {}).get(ns, {}).get(name)
            if old is None:
                if content_type.startswith(APPLY_PATCH) and isinstance(body, dict) and not subresource:
                    obj = copy.deepcopy(body)
                    _meta(obj).setdefault("name", name)
                    return await self.create(key, obj, namespace=ns or None, dry_run=dry_run, user=user,
                                             warnings=warnings)
                raise errors.not_found(rt.plural, rt.group, name)
            base = self._view(rt, old)
            patched = apply_patch(base, body, content_type)
            if rt.group == "events.k8s.io":
                patched = events_view.to_core(patched)
            # a patch that does not name metadata shares the stored version's: the new version's
            # is its own, or committing it would rewrite the old version's resourceVersion
            meta = patched["metadata"] = dict(_meta(patched))
            want_rv = meta.get("resourceVersion")
            if want_rv == old["metadata"]["resourceVersion"]:
                want_rv = None
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            validation.decode(rt, patched)
            _refuse_new_uid(rt, name, meta, old)
            new = semantics.merge_update(rt, old, patched, subresource)
            await self._admit(rt, "UPDATE", subresource, new, old, dry_run, user, warnings)
            current = self._objects.get(rt.bucket, {}).get(ns, {}).get(name)
            if want_rv is None and current is not old:
                continue  # someone wrote meanwhile: re-apply on the fresh object
            return self._finish_update(rt, new, want_rv or old["metadata"]["resourceVersion"], dry_run)
        raise errors.modified_conflict(rt.plural, rt.group, name)

    async def bind(self, namespace: str, name: str, binding: Obj, *, dry_run: bool = False) -> None:
        """pods/binding: set spec.nodeName and PodScheduled=True, or raise the real 409s."""
        rt = resource("pods")
        current = self._current(rt, namespace, name)
        bound = pod_rules.bind(current, binding, rfc3339(self.clock()))
        if not dry_run:
            self._commit_update(rt, bound, current)

    # ---- deletion ----------------------------------------------------------------------------

    async def delete(
        self,
        key: str,
        namespace: str | None,
        name: str,
        *,
        grace_period_seconds: int | None = None,
        preconditions: dict[str, Any] | None = None,
        propagation_policy: str | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Delete; returns (object, removed). Not removed: graceful pod deletion or finalizers
        pending, the object now carries deletionTimestamp."""
        rt = resource(key)
        ns = (namespace or "default") if rt.namespaced else ""
        current = self._current(rt, ns, name)
        meta = current["metadata"]
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise errors.conflict(rt.plural, rt.group, name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                                  f"UID in object meta: {meta.get('uid')}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
            why = (f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                   f"ResourceVersion in object meta: {meta.get('resourceVersion')}")
            raise errors.conflict(rt.plural, rt.group, name, why)
        grace = 0
        if rt.plural == "pods" and rt.group == "":
            grace = pod_rules.delete_grace(current, grace_period_seconds)
            pending = meta.get("deletionGracePeriodSeconds")
            if pending is not None and grace >= pending:
                return self._view(rt, current), False
        if dry_run:
            return self._view(rt, current), grace == 0 and not meta.get("finalizers")
        if grace > 0 or meta.get("finalizers"):
            if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds") == grace:
                return self._view(rt, current), False
            new = dict(current)
            new["metadata"] = dict(meta, deletionTimestamp=rfc3339(self.clock() + grace),
                                   deletionGracePeriodSeconds=grace)
            if rt.plural != "pods" and not meta.get("deletionGracePeriodSeconds"):
                new["metadata"]["deletionGracePeriodSeconds"] = 0
            return self._view(rt, self._commit_update(rt, new, current)), False
        removed = self._remove_and_collect(rt, current, propagation_policy)
        await self._collect_pending()
        return self._view(rt, removed), True

    def _remove_and_collect(self, rt: ResourceType, current: Obj, propagation: str | None = None) -> Obj:
        removed = self._commit_remove(rt, current)
        uid = current["metadata"].get("uid", "")
        queue = self._gc_queue
        if rt.plural == "namespaces":
            self._empty_namespace(current["metadata"]["name"])
        for bucket, ns, name in sorted(self._dependents.pop(uid, set())):
            queue.append((bucket, ns, name, "orphan" if propagation == "Orphan" else uid))
        return removed

    def _empty_namespace(self, namespace: str) -> None:
        for bucket, by_ns in self._objects.items():
            for obj in list(by_ns.get(namespace, {}).values()):
                self._commit_remove(resource(bucket), obj)

    async def _collect_pending(self) -> None:
        """Background-propagation garbage collection: delete dependents whose owners are all gone."""
        queue = self._gc_queue
        while queue:
            bucket, ns, name, owner = queue.pop(0)
            dep = self._objects.get(bucket, {}).get(ns, {}).get(name)
            if dep is None:
                continue
            refs = dep["metadata"].get("ownerReferences") or []
            if owner == "orphan" or any(r.get("uid") in self._by_uid for r in refs):
                live = [r for r in refs if r.get("uid") in self._by_uid]
                if live != refs:
                    new = dict(dep)
                    new["metadata"] = dict(dep["metadata"], ownerReferences=live)
                    if not live:
                        del new["metadata"]["ownerReferences"]
                    self._commit_update(resource(bucket), new, dep)
                continue
            try:
                await self.delete(bucket, ns or None, name, propagation_policy="Background")
            except ApiError:
                continue
