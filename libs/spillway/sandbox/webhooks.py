"""Mutating admission webhooks: an admission hook that calls every matching webhook of every
MutatingWebhookConfiguration (configurations by name, webhooks in order) with an
AdmissionReview v1, applies the returned JSONPatch, passes warnings back (kubectl prints them)
and honours `allowed: false`, failurePolicy (Fail by default), timeoutSeconds (10 by default),
rules (operations, apiGroups, apiVersions, resources with `*` and subresources, scope),
namespaceSelector (namespace labels, incl. `kubernetes.io/metadata.name`) and objectSelector.

Where a webhook is reached: `clientConfig.url`, or `clientConfig.service` resolved through the
Service object in the store — the annotation `sandbox.spillway.io/webhook-address: host:port`
(e.g. `127.0.0.1:8443`), or else a `type: ExternalName` Service's `externalName` with the
reference's port (default 443). Either way TLS is verified against `caBundle` for the name
`<service>.<namespace>.svc`, as kube-apiserver does. A Service without either is a call
failure (then failurePolicy decides). One shared aiohttp session; SSL contexts are cached per
caBundle, so the burst's thousands of pod creations cost one HTTPS round trip each.

Not simulated: reinvocationPolicy IfNeeded, matchPolicy Equivalent conversions, matchConditions,
ValidatingWebhookConfigurations.
"""

from __future__ import annotations

import base64
import logging
import ssl
import uuid
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec

from spillway.sandbox.errors import ApiError
from spillway.sandbox.patch import json_patch
from spillway.sandbox.selectors import LabelSelector
from spillway.sandbox.store import AdmissionRequest, Store

Obj = dict[str, Any]
log = logging.getLogger(__name__)
ADDRESS_ANNOTATION = "sandbox.spillway.io/webhook-address"
EXEMPT = frozenset({"mutatingwebhookconfigurations", "validatingwebhookconfigurations"})
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class CallError(Exception):
    """The webhook could not be called or answered nonsense (failurePolicy decides)."""


def rule_matches(rule: Obj, request: AdmissionRequest) -> bool:
    rt = request.resource

    def listed(values: Any, value: str) -> bool:
        return bool(values) and ("*" in values or value in values)

    if not listed(rule.get("operations"), request.operation):
        return False
    if not listed(rule.get("apiGroups"), rt.group) or not listed(rule.get("apiVersions"), rt.version):
        return False
    scope = rule.get("scope") or "*"
    if (scope == "Namespaced" and not rt.namespaced) or (scope == "Cluster" and rt.namespaced):
        return False
    for entry in rule.get("resources") or []:
        res, _, sub = str(entry).partition("/")
        if res in ("*", rt.plural) and sub in ("*", request.subresource):
            return True
    return False


WEBHOOK_CONNECTIONS = 25
"""Connections to webhook servers at once; more calls wait for one. kube-apiserver multiplexes its
calls to a webhook over HTTP/2: a burst of pod creates must not open a TLS connection per pod,
which cost the sandbox and the webhook server a handshake each (at the start of a 500-pod burst,
half a second in which the sandbox served nothing else)."""


class WebhookDispatcher:
    """The admission hook; `await close()` when the sandbox stops."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __call__(self, request: AdmissionRequest) -> None:
        if request.resource.plural in EXEMPT:
            return
        configs, _ = self.store.list("mutatingwebhookconfigurations")
        for config in configs:
            for hook in config.get("webhooks") or []:
                if self._matches(hook, request):
                    await self._call(hook, request)

    # ---- matching ----------------------------------------------------------------------------

    def _matches(self, hook: Obj, request: AdmissionRequest) -> bool:
        if not any(rule_matches(rule, request) for rule in hook.get("rules") or []):
            return False
        ns_selector = hook.get("namespaceSelector")
        if ns_selector and (request.resource.namespaced or request.resource.plural == "namespaces"):
            if request.resource.plural == "namespaces":
                labels = (request.object.get("metadata") or {}).get("labels") or {}
            else:
                namespace = self.store.try_get("namespaces", None, request.namespace)
                labels = (namespace or {}).get("metadata", {}).get("labels") or {}
            if not LabelSelector.from_label_selector(ns_selector).matches(labels):
                return False
        obj_selector = hook.get("objectSelector")
        if obj_selector:
            selector = LabelSelector.from_label_selector(obj_selector)
            candidates = [request.object, request.old_object]
            if not any(o is not None and selector.matches((o.get("metadata") or {}).get("labels") or {})
                       for o in candidates):
                return False
        return True

    # ---- calling -----------------------------------------------------------------------------

    async def _call(self, hook: Obj, request: AdmissionRequest) -> None:
        name = str(hook.get("name", ""))
        try:
            response = await self._post(hook, request)
        except CallError as exc:
            if hook.get("failurePolicy", "Fail") == "Ignore":
                log.info("webhook %s failed, ignored: %s", name, exc)
                return
            raise ApiError(500, "InternalError",
                           f'Internal error occurred: failed calling webhook "{name}": {exc}') from None
        request.warnings.extend(str(w) for w in response.get("warnings") or [])
        if not response.get("allowed"):
            status = response.get("status") or {}
            code = int(status.get("code") or 400)
            why = status.get("message") or status.get("reason")
            message = f'admission webhook "{name}" denied the request' + (f": {why}" if why else
                                                                         " without explanation")
            raise ApiError(max(code, 400), str(status.get("reason") or ""), message)
        patch = response.get("patch")
        if patch:
            if response.get("patchType") != "JSONPatch":
                raise ApiError(500, "InternalError", f'Internal error occurred: webhook "{name}" returned an '
                               f'unsupported patchType {response.get("patchType")!r}')
            try:
                ops = _decode(base64.b64decode(patch))
                patched = json_patch(request.object, ops)
            except (ValueError, msgspec.DecodeError, ApiError) as exc:
                raise ApiError(500, "InternalError", f'Internal error occurred: failed calling webhook "{name}": '
                               f"the returned patch could not be applied: {exc}") from None
            request.object.clear()
            request.object.update(patched)

    async def _post(self, hook: Obj, request: AdmissionRequest) -> Obj:
        client_config = hook.get("clientConfig") or {}
        url, server_name = self._address(client_config)
        timeout = aiohttp.ClientTimeout(total=float(hook.get("timeoutSeconds") or 10))
        uid = str(uuid.uuid4())
        body = _encode({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                        "request": self._review(request, uid)})
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=WEBHOOK_CONNECTIONS))
        try:
            async with self._session.post(url, data=body, headers={"Content-Type": "application/json"},
                                          ssl=self._ssl(client_config.get("caBundle") or ""), timeout=timeout,
                                          server_hostname=server_name) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise CallError(f"failed to call webhook: the server responded with status {resp.status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            text = "context deadline exceeded" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            raise CallError(f'failed to call webhook: Post "{url}": {text}') from None
        try:
            review = _decode(raw)
            response = review["response"]
        except (msgspec.DecodeError, KeyError, TypeError):
            raise CallError("received invalid webhook response: expected an AdmissionReview") from None
        if not isinstance(response, dict) or response.get("uid") != uid:
            raise CallError(f"expected response.uid={uid!r}, got {response.get('uid')!r}"
                            if isinstance(response, dict) else "received invalid webhook response")
        return response

    def _address(self, client_config: Obj) -> tuple[str, str | None]:
        if client_config.get("url"):
            url = str(client_config["url"])
            return url, None
        ref = client_config.get("service") or {}
        namespace, name = ref.get("namespace", ""), ref.get("name", "")
        port, path = int(ref.get("port") or 443), ref.get("path") or ""
        service = self.store.try_get("services", namespace, name)
        if service is None:
            raise CallError(f'failed to call webhook: service "{name}" not found')
        address = (service["metadata"].get("annotations") or {}).get(ADDRESS_ANNOTATION)
        if not address and (service.get("spec") or {}).get("externalName"):
            address = f"{service['spec']['externalName']}:{port}"
        if not address:
            raise CallError(f"failed to call webhook: service {namespace}/{name} has no address the sandbox can "
                            f"reach (set the {ADDRESS_ANNOTATION} annotation or an externalName)")
        url = f"https://{address}{path}"
        if not urlsplit(url).hostname:
            raise CallError(f"failed to call webhook: bad address {address!r}")
        return url, f"{name}.{namespace}.svc"

    def _ssl(self, ca_bundle: str) -> ssl.SSLContext:
        context = self._contexts.get(ca_bundle)
        if context is None:
            if ca_bundle:
                try:
                    pem = base64.b64decode(ca_bundle).decode()
                    context = ssl.create_default_context(cadata=pem)
                except (ValueError, ssl.SSLError) as exc:
                    raise CallError(f"failed to call webhook: invalid caBundle: {exc}") from None
            else:
                context = ssl.create_default_context()
            self._contexts[ca_bundle] = context
        return context

    @staticmethod
    def _review(request: AdmissionRequest, uid: str) -> Obj:
        rt = request.resource
        kind = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        resource = {"group": rt.group, "version": rt.version, "resource": rt.plural}
        groups = ["system:authenticated"]
        if request.user == "system:admin":
            groups.insert(0, "system:masters")
        options_kind = "CreateOptions" if request.operation == "CREATE" else "UpdateOptions"
        review: Obj = {
            "uid": uid, "kind": kind, "resource": resource, "requestKind": kind, "requestResource": resource,
            "name": request.name, "namespace": request.namespace, "operation": request.operation,
            "userInfo": {"username": request.user, "groups": groups}, "object": request.object,
            "oldObject": request.old_object, "dryRun": request.dry_run,
            "options": {"kind": options_kind, "apiVersion": "meta.k8s.io/v1"},
        }
        if request.subresource:
            review["subResource"] = request.subresource
        return review
