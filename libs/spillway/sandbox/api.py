"""HTTP handlers for resource paths (/api/v1/…, /apis/{group}/{version}/…): parse the path,
authenticate and authorise, then call the store. Errors become Status bodies; lists and
single objects become Tables when the client asks for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import yaml
from aiohttp import web

from spillway.sandbox import errors, eviction, paging, protobuf, subresources, tables
from spillway.sandbox.certs import SandboxPki
from spillway.sandbox.errors import ApiError
from spillway.sandbox.patch import PATCH_TYPES, normalise_content_type
from spillway.sandbox.rbac import Attributes, Rbac, UserInfo, unauthorized
from spillway.sandbox.resources import BY_PATH, ResourceType
from spillway.sandbox.store import Store

Obj = dict[str, Any]
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
DEFAULT_WATCH_TIMEOUT = 1800.0
# kube-apiserver's MaxRequestBodyBytes: twice etcd's 1.5 MiB, as JSON is larger than the
# protobuf stored (apiserver pkg/server/config.go); a larger body is 413 RequestEntityTooLarge.
MAX_REQUEST_BODY = 3 * 1024 * 1024


def selected_name(verb: str, field_selector: str | None) -> str:
    """A list or watch with `fieldSelector=metadata.name=X` asks for object X, so the real
    authorizer lets a Role limited by resourceNames allow it (kubectl get --watch x does this)."""
    if verb not in ("list", "watch") or not field_selector:
        return ""
    for term in field_selector.split(","):
        key, sep, value = term.partition("==") if "==" in term else term.partition("=")
        if sep and not key.endswith("!") and key.strip() == "metadata.name":
            return value.strip()
    return ""


def truthy(value: str | None) -> bool:
    return value in ("true", "True", "1")


def json_response(body: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = {"Content-Type": "application/json"}
    response = web.Response(body=_encode(body), status=status, headers=headers)
    for w in warnings or []:
        response.headers.add("Warning", f'299 - "{w}"')
    return response


def error_response(err: ApiError) -> web.Response:
    response = json_response(err.status(), err.code)
    if err.retry_after > 0:  # as apiserver's ErrorNegotiated does for a status asking to wait
        response.headers["Retry-After"] = str(err.retry_after)
    return response


@dataclass(frozen=True)
class Target:
    rt: ResourceType
    namespace: str | None  # None: every namespace (or a cluster-scoped kind)
    name: str = ""
    subresource: str = ""


def parse_target(group: str, version: str, segments: list[str]) -> Target:
    def lookup(plural: str) -> ResourceType:
        rt = BY_PATH.get((group, version, plural))
        if rt is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return rt

    segs = [s for s in segments if s]
    if len(segs) >= 3 and segs[0] == "namespaces" and segs[2] not in ("status", "finalize"):
        rt = lookup(segs[2])
        if not rt.namespaced or len(segs) > 5:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return Target(rt, segs[1], segs[3] if len(segs) > 3 else "", segs[4] if len(segs) > 4 else "")
    if not segs or len(segs) > 3:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    rt = lookup(segs[0])
    return Target(rt, None, segs[1] if len(segs) > 1 else "", segs[2] if len(segs) > 2 else "")


def verb_for(method: str, target: Target, watch: bool) -> str:
    if method == "GET":
        if target.name:
            return "get"
        return "watch" if watch else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    raise errors.method_not_supported(target.rt.plural, method)


async def read_body(request: web.Request, patch: bool = False) -> Any:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.request_entity_too_large(MAX_REQUEST_BODY) from None
    ctype = normalise_content_type(request.headers.get("Content-Type", "application/json") or "application/json")
    if patch:
        if ctype not in PATCH_TYPES:
            raise errors.unsupported_media_type(ctype)
    elif ctype == protobuf.MEDIA_TYPE:
        return protobuf.decode(raw)
    elif ctype not in ("application/json", "application/yaml", "text/plain", ""):
        raise errors.unsupported_media_type(ctype)
    if not raw:
        return None
    try:
        return _decode(raw)
    except msgspec.DecodeError:
        if ctype in ("application/yaml", "application/apply-patch+yaml"):
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise errors.bad_request(f"error decoding YAML: {exc}") from None
        raise errors.bad_request("the body of the request could not be decoded as JSON") from None


class ResourceApi:
    """Holds the store, RBAC and PKI; `handle` is the aiohttp handler for every resource path."""

    def __init__(self, store: Store, rbac: Rbac, pki: SandboxPki, *, bookmark_interval: float = 5.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.rbac = rbac
        self.pki = pki
        self.bookmark_interval = bookmark_interval
        self.clock = clock

    def user_of(self, request: web.Request) -> UserInfo:
        user = self.rbac.authenticate(request.headers.get("Authorization"))
        if user is None:
            raise unauthorized()
        return user

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            info = request.match_info
            group, version = info.get("group", ""), info.get("version", "v1")
            target = parse_target(group, version, info.get("tail", "").split("/"))
            q = request.query
            watch = truthy(q.get("watch"))
            verb = verb_for(request.method, target, watch)
            user = self.user_of(request)
            ns = target.namespace or ""
            if target.rt.plural == "namespaces" and target.name:
                ns = target.name
            self.rbac.check(user, Attributes(verb, target.rt.group, target.rt.plural, target.subresource,
                                             ns if target.rt.namespaced or target.rt.plural == "namespaces" else "",
                                             target.name or selected_name(verb, q.get("fieldSelector"))))
            return await self._dispatch(request, target, verb, user)
        except ApiError as err:
            return error_response(err)

    async def _dispatch(self, request: web.Request, t: Target, verb: str, user: UserInfo) -> web.StreamResponse:
        q = request.query
        rt, ns, name, sub = t.rt, t.namespace, t.name, t.subresource
        dry_run = q.get("dryRun") == "All"
        warnings: list[str] = []
        accept = request.headers.get("Accept", "")
        if sub and rt.subresource(sub) is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if sub and request.method not in _SUB_METHODS.get(sub, ()):
            raise errors.method_not_supported(f"{rt.plural}/{sub}", request.method)
        if verb == "watch":
            return await self._watch(request, t)
        if verb == "list":
            page = self.store.list_page(rt.key, ns, q.get("labelSelector"), q.get("fieldSelector"),
                                        limit=paging.parse_limit(q.get("limit")), continue_token=q.get("continue", ""),
                                        resource_version=q.get("resourceVersion", ""))
            if tables.wants_table(accept):
                table = tables.table(rt.plural, page.items, page.resource_version, q.get("includeObject", "Metadata"))
                table["metadata"] = page.metadata()
                return json_response(table)
            if tables.wants_metadata(accept):
                return json_response({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                                      "metadata": page.metadata(),
                                      "items": [tables.metadata_only(item) for item in page.items]})
            return json_response({"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                                  "metadata": page.metadata(), "items": page.items})
        if verb == "get":
            if sub == "log":
                return await subresources.proxy_log(request, self.store, self.pki, ns or "default", name)
            obj = self.store.get(rt.key, ns, name)
            if sub == "scale":
                return json_response(subresources.scale_of(obj))
            if tables.wants_table(accept):
                return json_response(tables.table(rt.plural, [obj], obj["metadata"].get("resourceVersion", ""),
                                                  q.get("includeObject", "Metadata")))
            if tables.wants_metadata(accept):
                return json_response(tables.metadata_only(obj))
            return json_response(obj)
        if verb == "create":
            body = await read_body(request)
            if not isinstance(body, dict):
                raise errors.bad_request("the request body must be a JSON object")
            if name and sub == "binding":
                await self.store.bind(ns or "default", name, body, dry_run=dry_run)
                return json_response(errors.success_status(201), 201)
            if name and sub == "eviction":
                return json_response(await eviction.evict(self.store, ns or "default", name, body, dry_run=dry_run),
                                     201)
            if name:
                raise errors.method_not_supported(rt.plural, "create")
            created = await self.store.create(rt.key, body, namespace=ns, dry_run=dry_run, user=user.name,
                                              warnings=warnings)
            return json_response(created, 201, warnings)
        if verb == "update":
            body = await read_body(request)
            if not isinstance(body, dict):
                raise errors.bad_request("the request body must be a JSON object")
            if sub == "scale":
                return json_response(await subresources.write_scale(self.store, rt, ns or "", name, body,
                                                                    dry_run=dry_run, user=user.name))
            body_name = (body.get("metadata") or {}).get("name")
            if body_name and body_name != name:
                raise errors.bad_request(f"the name of the object ({body_name}) does not match the name on the URL "
                                         f"({name})")
            body.setdefault("metadata", {})["name"] = name
            existed = self.store.try_get(rt.key, ns, name) is not None
            updated = await self.store.update(rt.key, body, namespace=ns, subresource=sub, dry_run=dry_run,
                                              user=user.name, warnings=warnings)
            return json_response(updated, 200 if existed else 201, warnings)
        if verb == "patch":
            body = await read_body(request, patch=True)
            ctype = normalise_content_type(request.headers.get("Content-Type", ""))
            if sub == "scale":
                return json_response(await subresources.patch_scale(self.store, rt, ns or "", name, body, ctype,
                                                                    dry_run=dry_run, user=user.name))
            existed = self.store.try_get(rt.key, ns, name) is not None
            patched = await self.store.patch(rt.key, ns, name, body, ctype, subresource=sub, dry_run=dry_run,
                                             user=user.name, warnings=warnings)
            return json_response(patched, 200 if existed else 201, warnings)
        if verb == "delete":
            return await self._delete(request, t, dry_run)
        if verb == "deletecollection":
            items, _ = self.store.list(rt.key, ns, q.get("labelSelector"), q.get("fieldSelector"))
            opts = await self._delete_options(request)
            out = []
            for item in items:
                meta = item["metadata"]
                with contextlib.suppress(ApiError):
                    obj, _ = await self.store.delete(rt.key, meta.get("namespace"), meta["name"],
                                                     grace_period_seconds=opts.get("gracePeriodSeconds"),
                                                     dry_run=dry_run)
                    out.append(obj)
            return json_response({"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                                  "metadata": {"resourceVersion": str(self.store.rv)}, "items": out})
        raise errors.method_not_supported(rt.plural, request.method)

    async def _delete_options(self, request: web.Request) -> Obj:
        opts: Obj = {}
        if request.can_read_body:
            body = await read_body(request)
            if isinstance(body, dict):
                opts = body
        q = request.query
        if "gracePeriodSeconds" in q:
            try:
                opts["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
            except ValueError:
                raise errors.bad_request(f"invalid gracePeriodSeconds {q['gracePeriodSeconds']!r}") from None
        if "propagationPolicy" in q:
            opts["propagationPolicy"] = q["propagationPolicy"]
        return opts

    async def _delete(self, request: web.Request, t: Target, dry_run: bool) -> web.Response:
        opts = await self._delete_options(request)
        if opts.get("dryRun") == ["All"]:
            dry_run = True
        propagation = opts.get("propagationPolicy")
        if opts.get("orphanDependents") is True:
            propagation = "Orphan"
        obj, removed = await self.store.delete(
            t.rt.key, t.namespace, t.name, grace_period_seconds=opts.get("gracePeriodSeconds"),
            preconditions=opts.get("preconditions"), propagation_policy=propagation, dry_run=dry_run)
        if t.rt.plural == "pods" or not removed:
            return json_response(obj)
        details = {"name": t.name, "group": t.rt.group, "kind": t.rt.plural, "uid": obj["metadata"].get("uid", "")}
        return json_response(errors.success_status(200, details))

    async def _watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        rt = t.rt
        table = tables.wants_table(request.headers.get("Accept", ""))
        include = q.get("includeObject", "Metadata")
        bookmarks = truthy(q.get("allowWatchBookmarks"))
        try:
            timeout = float(q["timeoutSeconds"]) if "timeoutSeconds" in q else DEFAULT_WATCH_TIMEOUT
        except ValueError:
            raise errors.bad_request(f"invalid timeoutSeconds {q['timeoutSeconds']!r}") from None
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        try:
            watcher = self.store.watch(rt.key, t.namespace, q.get("resourceVersion"), q.get("labelSelector"),
                                       q.get("fieldSelector"))
        except ApiError as err:
            if err.code != 410:
                raise
            await response.prepare(request)
            await response.write(_encode({"type": "ERROR", "object": err.status()}) + b"\n")
            await response.write_eof()
            return response
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_bookmark = loop.time()

        def bookmark() -> bytes:
            obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": {"resourceVersion": str(self.store.rv)}}
            return _encode({"type": "BOOKMARK", "object": obj}) + b"\n"

        def encode(type_: str, obj: Obj, shared: Any) -> bytes:
            if table:
                rows = tables.table(rt.plural, [obj], obj["metadata"].get("resourceVersion", ""), include)
                return _encode({"type": type_, "object": rows}) + b"\n"
            if shared is not None:
                line: bytes = shared.line()
                return line
            return _encode({"type": type_, "object": obj}) + b"\n"

        try:
            await response.prepare(request)
            while True:
                now = loop.time()
                if now >= deadline:
                    if bookmarks and watcher.pending() == 0:
                        await response.write(bookmark())
                    break
                wait = min(deadline - now, self.bookmark_interval if bookmarks else 5.0)
                batch = await watcher.next_batch(wait)
                if batch is None:
                    break
                if batch:
                    await response.write(b"".join(encode(*d) for d in batch))
                elif bookmarks and watcher.pending() == 0 and loop.time() - last_bookmark >= self.bookmark_interval:
                    last_bookmark = loop.time()
                    await response.write(bookmark())
                transport = request.transport
                if transport is None or transport.is_closing():
                    break
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass
        finally:
            watcher.close()
        return response


_SUB_METHODS: dict[str, tuple[str, ...]] = {
    "status": ("GET", "PUT", "PATCH"),
    "scale": ("GET", "PUT", "PATCH"),
    "binding": ("POST",),
    "eviction": ("POST",),
    "log": ("GET",),
}
