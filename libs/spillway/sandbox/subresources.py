"""Subresources beyond status: scale (autoscaling/v1 Scale over a workload's spec.replicas) and
pods/log (proxied to the node's kubelet endpoint over HTTPS with the sandbox's kubelet-client
certificate). pods/eviction, which PodDisruptionBudgets may refuse, is `eviction.py`.
"""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
from aiohttp import web

from spillway.sandbox import errors
from spillway.sandbox.certs import SandboxPki
from spillway.sandbox.errors import ApiError
from spillway.sandbox.patch import apply_patch
from spillway.sandbox.resources import ResourceType
from spillway.sandbox.store import Store

Obj = dict[str, Any]
LOG_PARAMS = ("tailLines", "follow", "container", "previous", "sinceSeconds", "timestamps", "limitBytes", "sinceTime")


def _selector_string(selector: Obj | None) -> str:
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or []:
        op = e.get("operator")
        if op == "Exists":
            parts.append(e["key"])
        elif op == "DoesNotExist":
            parts.append("!" + e["key"])
        else:
            parts.append(f"{e['key']} {op.lower()} ({','.join(e.get('values') or [])})")
    return ",".join(parts)


def scale_of(obj: Obj) -> Obj:
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": status.get("replicas", 0), "selector": _selector_string(spec.get("selector"))},
    }


async def write_scale(store: Store, rt: ResourceType, namespace: str, name: str, scale: Obj, *,
                      dry_run: bool, user: str) -> Obj:
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        why = f"Invalid value: {replicas}: must be greater than or equal to 0"
        raise errors.invalid("Scale", "autoscaling", name, [("spec.replicas", "FieldValueInvalid", why)])
    patch: Obj = {"spec": {"replicas": replicas}}
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    if rv:
        patch["metadata"] = {"resourceVersion": rv}
    updated = await store.patch(rt.key, namespace, name, patch, "application/merge-patch+json",
                                dry_run=dry_run, user=user)
    return scale_of(updated)


async def patch_scale(store: Store, rt: ResourceType, namespace: str, name: str, body: Any, content_type: str, *,
                      dry_run: bool, user: str) -> Obj:
    current = scale_of(store.get(rt.key, namespace, name))
    patched = apply_patch(current, body, content_type)
    if (patched.get("metadata") or {}).get("resourceVersion") == current["metadata"].get("resourceVersion"):
        patched["metadata"].pop("resourceVersion", None)
    return await write_scale(store, rt, namespace, name, patched, dry_run=dry_run, user=user)


def _kubelet_address(node: Obj) -> tuple[str, int] | None:
    status = node.get("status") or {}
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP") or addresses.get("Hostname")
    if not port or not host:
        return None
    return host, int(port)


def client_ssl(pki: SandboxPki) -> ssl.SSLContext:
    """Like kube-apiserver without --kubelet-certificate-authority: present our client
    certificate, do not verify the kubelet's serving certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(str(pki.client_cert_path), str(pki.client_key_path))
    return ctx


async def proxy_log(
    request: web.Request, store: Store, pki: SandboxPki, namespace: str, name: str
) -> web.StreamResponse:
    pod = store.get("pods", namespace, name)
    spec = pod.get("spec") or {}
    containers = [c.get("name") for c in spec.get("containers") or []]
    container = request.query.get("container") or ""
    if not container:
        if len(containers) != 1:
            raise errors.bad_request(f"a container name must be specified for pod {name}, choose one of: "
                                     f"[{' '.join(str(c) for c in containers)}]")
        container = str(containers[0])
    node_name = spec.get("nodeName")
    node = store.try_get("nodes", None, node_name) if node_name else None
    address = _kubelet_address(node) if node else None
    if address is None:
        raise ApiError(404, "NotFound", f'pod "{name}" has no kubelet endpoint to read logs of container '
                       f'"{container}" from' + (f' (node "{node_name}")' if node_name else " (not scheduled)"),
                       name=name, kind="pods")
    host, port = address
    params = {k: request.query[k] for k in LOG_PARAMS if k in request.query and k != "container"}
    url = f"https://{host}:{port}/containerLogs/{namespace}/{name}/{container}"
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.get(url, params=params, ssl=client_ssl(pki)) as upstream:
            if upstream.status != 200:
                text = (await upstream.text())[:500]
                raise ApiError(upstream.status if upstream.status >= 400 else 500, "InternalError",
                               f"the kubelet answered {upstream.status}: {text.strip()}")
            response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
    except aiohttp.ClientError as exc:
        raise ApiError(500, "InternalError", f"Get \"{url}\": {exc}") from None
