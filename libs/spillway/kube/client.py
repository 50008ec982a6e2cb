"""The one seam to Kubernetes: kubernetes_asyncio for configuration and authentication,
raw bytes on the wire, msgspec for decoding.

Why raw: kubernetes_asyncio's models cost ~390 µs per pod to deserialise and its request path
json-dumps every body (docs/design.md §9). We borrow its Configuration (kubeconfig, in-cluster
service-account token with refresh, TLS) and its aiohttp session, and do the rest ourselves.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import aiohttp
import msgspec
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from spillway.config import ConfigError
from spillway.kube.errors import Conflict, Gone, Invalid, KubeError, NotFound, error_from_status

T = TypeVar("T")

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
"""The Accept of a LIST that wants only each item's metadata (what metadata informers ask for)."""

_encoder = msgspec.json.Encoder()
PAGE_SIZE = 500
"""Items per list page: kubectl's and client-go's default chunk size."""
MAX_LIST_ITEMS = 1_000_000
"""Far above the 150,000 pods Kubernetes supports per cluster: a list longer than this is a broken server."""


class ContinueExpired(Gone):
    """410 for a list's continue token: its snapshot was compacted before the last page."""


class ListMeta(msgspec.Struct):
    resourceVersion: str = ""
    continue_: str = msgspec.field(default="", name="continue")
    remainingItemCount: int | None = None


class ListPage(msgspec.Struct):
    """One page of a list: its items left raw (each decoded on its own, so one bad item stays one
    item's problem) and its ListMeta."""

    metadata: ListMeta = msgspec.field(default_factory=ListMeta)
    items: list[msgspec.Raw] = []


_list_decoder = msgspec.json.Decoder(ListPage)
# one watch event carries one object (at most ~1.5 MiB in etcd) and its envelope: a line far
# longer than that is a broken stream, and buffering it without bound would eat the memory
MAX_WATCH_LINE = 16 * 2**20


class KubeClient:
    """Raw-JSON client over one aiohttp session; safe to share across tasks."""

    def __init__(self, api_client: k8s_client.ApiClient) -> None:
        self._api = api_client
        self._config = api_client.configuration
        self.host: str = (self._config.host or "").rstrip("/")
        # Our own session on kubernetes_asyncio's connector (same TLS and pool): theirs has
        # trust_env=True, which reads proxy variables and ~/.netrc in a thread on EVERY request
        # (a fifth of placement's CPU in a 1000-pod burst). kubernetes_asyncio has no public way
        # to the connector it builds from the Configuration, so this one read of its internals
        # stays here rather than copying how it builds the TLS context.
        self._session = aiohttp.ClientSession(
            connector=api_client.rest_client.pool_manager.connector, connector_owner=False,
            trust_env=False, read_bufsize=2**21,
        )

    @classmethod
    async def connect(cls, kubeconfig: str | None = None, *, context: str | None = None) -> KubeClient:
        """From a kubeconfig file, or the in-cluster service account when `kubeconfig` is empty.
        Unusable settings raise ConfigError naming `kubernetes.kubeconfig` (`spillway run` exits 2)."""
        configuration = k8s_client.Configuration()
        try:
            if kubeconfig:
                await k8s_config.load_kube_config(
                    config_file=kubeconfig, context=context, client_configuration=configuration
                )
            else:
                k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except (k8s_config.ConfigException, OSError, ValueError, TypeError) as exc:
            where = kubeconfig or "in-cluster service account"
            problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(where, "kubernetes.kubeconfig",
                              f"cannot use it ({problem}); set it to a kubeconfig file outside a cluster") from None
        return cls(k8s_client.ApiClient(configuration=configuration))

    @property
    def ca_file(self) -> str | None:
        """The CA bundle the API server's certificate is checked against (from the kubeconfig, or
        the service account's), as a file path; None when there is none."""
        return self._config.ssl_ca_cert or None

    async def close(self) -> None:
        await self._session.close()
        await self._api.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _headers(self, content_type: str | None, accept: str = JSON) -> dict[str, str]:
        headers: dict[str, str] = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        await self._api.update_params_for_auth(headers, [], ["BearerToken"])
        return headers

    def _url(self, path: str, params: Mapping[str, str | int | bool] | None) -> str:
        url = self.host + path
        if params:
            url += "?" + urlencode({k: _query_value(v) for k, v in params.items()})
        return url

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        body: Any = None,
        content_type: str = JSON,
        request_timeout: float | None = 30.0,
        accept: str = JSON,
    ) -> bytes:
        """One API call; returns the response body, raises a KubeError subclass on non-2xx."""
        data: bytes | None = None
        if body is not None:
            data = body if isinstance(body, bytes) else _encoder.encode(body)
        headers = await self._headers(content_type if data is not None else None, accept)
        session = self._session
        client_timeout = aiohttp.ClientTimeout(total=request_timeout)
        # aiohttp sends a body over 1 MiB given as bytes in one write (and warns); a stream goes in chunks
        payload: bytes | io.BytesIO | None = io.BytesIO(data) if data is not None and len(data) > 2**20 else data
        async with session.request(
            method, self._url(path, params), data=payload, headers=headers, timeout=client_timeout
        ) as resp:
            raw = await resp.read()
            if not 200 <= resp.status < 300:
                raise error_from_status(resp.status, raw, f"{method} {path}")
            return raw

    async def get_as(self, path: str, type_: type[T], **params: str | int | bool) -> T:
        return msgspec.json.decode(await self.request("GET", path, params=params or None), type=type_)

    async def stream_lines(
        self, path: str, params: Mapping[str, str | int | bool], *, request_timeout: float | None = None
    ) -> AsyncIterator[bytes]:
        """A watch stream, line by line (each line one event; see reference 'List and watch').
        A line over MAX_WATCH_LINE bytes raises KubeError (the caller reconnects)."""
        headers = await self._headers(None)
        session = self._session
        client_timeout = aiohttp.ClientTimeout(total=request_timeout, sock_read=None)
        async with session.get(self._url(path, params), headers=headers, timeout=client_timeout) as resp:
            if resp.status != 200:
                raise error_from_status(resp.status, await resp.read(), f"WATCH {path}")
            buffer = bytearray()
            async for chunk in resp.content.iter_any():
                start = len(buffer)
                buffer += chunk
                end = buffer.find(b"\n", start)
                while end >= 0:
                    line = bytes(buffer[:end])
                    del buffer[:end + 1]
                    if line.strip():
                        yield line
                    end = buffer.find(b"\n")
                if len(buffer) > MAX_WATCH_LINE:
                    raise KubeError(0, "WatchEventTooLarge",
                                    f"a watch event over {MAX_WATCH_LINE} bytes (no object can be that big)",
                                    context=f"WATCH {path}")
            if buffer.strip():
                yield bytes(buffer)

    async def list_pages(
        self, path: str, params: Mapping[str, str | int | bool] | None = None, *,
        page_size: int = PAGE_SIZE, max_items: int = MAX_LIST_ITEMS, request_timeout: float | None = 60.0,
        metadata_only: bool = False,
    ) -> AsyncIterator[ListPage]:
        """LIST a collection `page_size` items at a time (`limit`/`continue`), yielding each page as
        it arrives with its items still raw, so a caller applies a page and lets it go: memory stays
        one page whatever the cluster's size. `page_size` 0 asks for everything at once.

        Every page of one list is the same snapshot (the server reads continues at the first page's
        resourceVersion); when the server compacted it before the last page, `ContinueExpired` (a
        `Gone`) is raised: the pages already yielded are of a snapshot that can no longer be finished.
        More than `max_items` items, or a server handing back the token it was given, raises
        KubeError: a list that long is a broken server, not a cluster. With `metadata_only` each item
        is a PartialObjectMetadata (its `metadata` alone): a fraction of a whole pod's bytes."""
        accept = METADATA_LIST if metadata_only else JSON
        token = ""
        listed = 0
        while True:
            query: dict[str, str | int | bool] = dict(params or {})
            if page_size > 0:
                query["limit"] = page_size
            if token:
                query["continue"] = token
            try:
                raw = await self.request("GET", path, params=query, request_timeout=request_timeout, accept=accept)
            except Gone as exc:
                if not token:
                    raise
                raise ContinueExpired(exc.status, exc.reason, exc.message, context=exc.context) from exc
            page = _list_decoder.decode(raw)
            listed += len(page.items)
            if listed > max_items:
                raise KubeError(0, "ListTooLarge", f"more than {max_items} items listed", context=f"LIST {path}")
            yield page
            following = page.metadata.continue_
            if not following:
                return
            if following == token:
                raise KubeError(0, "ListNotProgressing", "the server answered with the continue token it was sent",
                                context=f"LIST {path}")
            token = following

    # ---- the calls the services make ---------------------------------------------------------

    async def patch(
        self, path: str, patch: Any, *, content_type: str = STRATEGIC_MERGE_PATCH,
        params: Mapping[str, str | int | bool] | None = None,
    ) -> bytes:
        return await self.request("PATCH", path, body=patch, content_type=content_type, params=params)

    async def patch_pod_status(
        self, namespace: str, name: str, body: Mapping[str, Any], *, uid: str | None = None,
    ) -> bytes:
        """Strategic-merge `body` (`{"status": {...}}`) into the pod's status. With `uid`, the patch
        carries `metadata.uid` as kubelet's status manager's does: the server refuses to change a
        uid, so a pod deleted and re-created under the same name never gets the old one's status.
        Raises NotFound when the pod is gone, that refusal included."""
        patch: dict[str, Any] = dict(body)
        if uid:
            patch["metadata"] = {**patch.get("metadata", {}), "uid": uid}
        try:
            return await self.patch(pod_path(namespace, name) + "/status", patch)
        except (Invalid, Conflict) as exc:
            if uid and _refused_uid(exc):
                raise NotFound(exc.status, exc.reason, f"pod {namespace}/{name} with uid {uid} is gone: "
                               f"{exc.message}", context=exc.context) from exc
            raise

    async def patch_node_status(self, name: str, body: Mapping[str, Any]) -> bytes:
        """Strategic-merge `body` (`{"status": {...}}`) into the node's status."""
        return await self.patch(node_path(name) + "/status", dict(body))

    async def bind_pod(self, namespace: str, name: str, node: str, *, uid: str | None = None) -> bool:
        """Bind through pods/binding. A 409 because the pod is already on this same node counts
        as success (a retried bind); already bound elsewhere raises. Returns True when this call bound it."""
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        if uid:
            body["metadata"]["uid"] = uid
        try:
            await self.request("POST", f"{pod_path(namespace, name)}/binding", body=body)
            return True
        except KubeError as exc:
            if exc.status == 409 and f'node "{node}"' in exc.message:
                return False
            raise

    async def evict_pod(self, namespace: str, name: str, *, uid: str | None = None,
                        grace_seconds: int | None = None) -> None:
        """POST a policy/v1 Eviction (pods/eviction): the API deletes the pod gracefully only if its
        PodDisruptionBudget allows it. `uid` makes it a precondition (a pod re-created under the
        same name is not evicted: 409). A 429 — the budget allows no disruption now, or the server
        throttles — raises `TooManyRequests` with how long to wait (`Retry-After`, at most
        `MAX_RETRY_AFTER`; None when the server names no wait): wait, never retry at once."""
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_seconds is not None:
            options["gracePeriodSeconds"] = grace_seconds
        if uid:
            options["preconditions"] = {"uid": uid}
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace},
                "deleteOptions": options}
        path = f"{pod_path(namespace, name)}/eviction"
        headers = await self._headers(JSON)
        async with self._session.request("POST", self._url(path, None), data=_encoder.encode(body), headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=30.0)) as resp:
            raw = await resp.read()
            if 200 <= resp.status < 300:
                return
            error = error_from_status(resp.status, raw, f"POST {path}")
            if resp.status != 429:
                raise error
            raise TooManyRequests(error.status, error.reason, error.message, context=error.context,
                                  retry_after=_retry_after(resp.headers.get("Retry-After"), raw),
                                  disruption_budget=_has_cause(raw, DISRUPTION_BUDGET_CAUSE))

    async def delete(
        self, path: str, *, grace_seconds: int | None = None, uid: str | None = None,
        propagation: str | None = None,
    ) -> bytes:
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_seconds is not None:
            options["gracePeriodSeconds"] = grace_seconds
        if uid:
            options["preconditions"] = {"uid": uid}
        if propagation:
            options["propagationPolicy"] = propagation
        return await self.request("DELETE", path, body=options)


MAX_RETRY_AFTER = 60.0
"""The longest wait a 429 may ask of us (a server's hint, bounded so a bad one cannot park us)."""
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
"""The Status cause of an eviction refused by a PodDisruptionBudget (policy/v1 DisruptionBudgetCause)."""


class TooManyRequests(KubeError):
    """429: not now. `retry_after`: seconds the server asked us to wait (bounded), None when it
    named none; `disruption_budget`: the refusal came from a PodDisruptionBudget."""

    def __init__(self, status: int, reason: str, message: str, *, context: str = "",
                 retry_after: float | None = None, disruption_budget: bool = False) -> None:
        super().__init__(status, reason, message, context=context)
        self.retry_after = retry_after
        self.disruption_budget = disruption_budget


class _Cause(msgspec.Struct):
    reason: str = ""


class _Details(msgspec.Struct, rename="camel"):
    retry_after_seconds: int = 0
    causes: list[_Cause] = []


class _StatusDetails(msgspec.Struct):
    details: _Details | None = None


def _details(raw: bytes) -> _Details | None:
    try:
        return msgspec.json.decode(raw, type=_StatusDetails).details
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _retry_after(header: str | None, raw: bytes) -> float | None:
    """Seconds from the Retry-After header (delta-seconds), else the Status' retryAfterSeconds;
    bounded to MAX_RETRY_AFTER; None when neither names a positive wait."""
    seconds: float | None = None
    if header is not None and header.strip().isdigit() and len(header.strip()) <= 6:
        seconds = float(header.strip())
    else:
        details = _details(raw)
        if details is not None and details.retry_after_seconds > 0:
            seconds = float(details.retry_after_seconds)
    if seconds is None or seconds <= 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


def _has_cause(raw: bytes, cause: str) -> bool:
    details = _details(raw)
    return details is not None and any(c.reason == cause for c in details.causes)


def _refused_uid(exc: KubeError) -> bool:
    """The server's refusal of a write whose uid is not the object's: 422 `metadata.uid: … field is
    immutable` for a patch, 409 `Precondition failed: UID in precondition` for an update."""
    return "metadata.uid" in exc.message or "UID in precondition" in exc.message


def _query_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _q(segment: str) -> str:
    return quote(segment, safe="")


def collection_path(group_version: str, plural: str, namespace: str | None = None) -> str:
    """`/api/v1/namespaces/ns/pods` or `/apis/apps/v1/replicasets` style paths."""
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    if namespace:
        return f"{prefix}/namespaces/{_q(namespace)}/{plural}"
    return f"{prefix}/{plural}"


def object_path(group_version: str, plural: str, name: str, namespace: str | None = None) -> str:
    return f"{collection_path(group_version, plural, namespace)}/{_q(name)}"


def pod_path(namespace: str, name: str) -> str:
    return object_path("v1", "pods", name, namespace)


def node_path(name: str) -> str:
    return object_path("v1", "nodes", name)
