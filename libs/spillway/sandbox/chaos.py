"""Chaos switches for the sandbox: what a real API server does to clients on a bad day.

A real kube-apiserver drops watch connections (restarts, load balancers, timeouts) and compacts
etcd, so a client resuming from its last resourceVersion gets 410 Gone and must relist. The
chaos suite needs to force both on demand, mid-burst:

    POST /debug/spillway/chaos {"drop_watches": true, "compact_history": true}

- `drop_watches` closes every open watch stream (clients see the stream end and re-watch);
- `compact_history` forgets the retained watch history of every resource, so any resume from
  a resourceVersion older than now answers 410 Expired, as after an etcd compaction.

Compaction runs first, so the re-watches that follow a drop meet the compacted history. The
answer counts what was done: `{"dropped_watches": N, "compacted_resources": M, "resourceVersion": "RV"}`.
Like `/debug/spillway/audit`, with RBAC on only `system:masters` may call it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from spillway.sandbox.api import error_response, json_response
from spillway.sandbox.errors import ApiError
from spillway.sandbox.store import Store

if TYPE_CHECKING:
    from spillway.sandbox.server import Sandbox

CHAOS_PATH = "/debug/spillway/chaos"


def compact_history(store: Store) -> int:
    """Drop every retained watch event: resumes from any older resourceVersion now get 410.

    Reaches into the store's history on purpose (this module is the store's own package); the
    store keeps answering watches from the current resourceVersion on, as after etcd compaction."""
    buckets = set(store._history) | set(store._floor)
    for bucket in buckets:
        store._history.pop(bucket, None)
        store._floor[bucket] = store.rv
    store._default_floor = store.rv
    return len(buckets)


def drop_watches(store: Store) -> int:
    """Close every open watch, as after a disconnect: an HTTP client sees its stream end; the
    sandbox's own cluster loops see an overflowed watch, so they relist and watch again (a plain
    close means "the sandbox is stopping" to them)."""
    watchers = [w for group in store._watchers.values() for w in group]
    for watcher in watchers:
        watcher.overflowed = True
        watcher.close()
    return len(watchers)


def apply(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """Carry out one chaos request (see the module docstring) and say what was done."""
    unknown = set(request) - {"drop_watches", "compact_history"}
    if unknown:
        raise ApiError(400, "BadRequest", f"unknown chaos fields: {', '.join(sorted(unknown))}")
    done: dict[str, Any] = {"dropped_watches": 0, "compacted_resources": 0}
    if request.get("compact_history"):
        done["compacted_resources"] = compact_history(store)
    if request.get("drop_watches"):
        done["dropped_watches"] = drop_watches(store)
    done["resourceVersion"] = str(store.rv)
    return done


def register(router: web.UrlDispatcher, sandbox: Sandbox) -> None:
    """Add `POST /debug/spillway/chaos` to the sandbox's application."""

    async def handle(request: web.Request) -> web.Response:
        try:
            user = sandbox.api.user_of(request)
            if sandbox.rbac.enabled and "system:masters" not in user.groups:
                raise ApiError(403, "Forbidden", f'User "{user.name}" cannot post path "{CHAOS_PATH}"')
            body = await request.json() if request.can_read_body else {}
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "the body must be a JSON object")
            return json_response(apply(sandbox.store, body))
        except ApiError as err:
            return error_response(err)
        except ValueError as err:
            return error_response(ApiError(400, "BadRequest", f"invalid JSON: {err}"))

    router.add_post(CHAOS_PATH, handle)
