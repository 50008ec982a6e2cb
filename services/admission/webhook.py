"""POST /mutate: the AdmissionReview v1 handler (docs/design.md §2). It never blocks a pod.

Why so lean: it sits in every pod creation (target p99 ≤ 5 ms at 500 req/s), so it decodes only
the request's uid, namespace, operation and object (msgspec, straight into the Pod view), asks the
pure `spillway.policy.review`, and answers with the same uid, `allowed: true`, the gate patch when
needed and warnings for malformed annotations.

Why it never answers an error for a pod: the webhook is registered with failurePolicy Ignore, so
a 413 or a 500 admits the pod WITHOUT the gate and `LOCAL_REPLICAS` is silently lost. So the body
limit fits the biggest review kube-apiserver can send (object and oldObject of ~1.5 MiB each, plus
the envelope); a pod that does not decode into our model is reviewed on the parts the decision
reads (metadata, nodeName, scheduling gates), and a policy failure still gates the pod (placement
decides later). Either way the answer is 200 with a `warnings` entry saying what happened.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

from services.admission.metrics import ADMISSION_DEGRADED
from spillway.model.kube import PLACEMENT_GATE, Pod
from spillway.policy import PolicyOptions, add_gate_patch, review
from spillway.policy.patches import JsonPatch

log = logging.getLogger("spillway.admission")
REVIEW_API_VERSION = "admission.k8s.io/v1"
# kube-apiserver stores objects up to ~1.5 MiB; a review may carry object and oldObject
MAX_REVIEW_BYTES = 4 * 2**20
MAX_WARNING_CHARS = 250  # kube-apiserver may truncate longer warnings



class _Kind(msgspec.Struct):
    kind: str = ""


class _Request(msgspec.Struct):
    uid: str = ""
    namespace: str = ""
    operation: str = ""
    kind: _Kind = msgspec.field(default_factory=_Kind)
    object: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))


class _Review(msgspec.Struct):
    request: _Request | None = None


_review_decoder = msgspec.json.Decoder(_Review)
_pod_decoder = msgspec.json.Decoder(Pod)
_any_decoder = msgspec.json.Decoder(Any)
_encoder = msgspec.json.Encoder()


def respond(request_body: bytes, global_switch: str | None, options: PolicyOptions) -> tuple[int, bytes]:
    """(HTTP status, AdmissionReview response body) for one request body. 400 only for a body
    that is not an AdmissionReview at all; every review is answered 200 and allowed."""
    try:
        request = _review_decoder.decode(request_body).request
    except msgspec.DecodeError:
        return 400, b'{"message":"not an AdmissionReview"}'
    if request is None:
        return 400, b'{"message":"AdmissionReview without request"}'
    response: dict[str, object] = {"uid": request.uid, "allowed": True}
    if request.operation == "CREATE" and request.kind.kind == "Pod" and bytes(request.object) != b"null":
        try:
            patch, warnings = _review_pod(bytes(request.object), global_switch, options, request.namespace)
        except Exception as exc:  # last resort: still 200 and allowed, and said out loud
            ADMISSION_DEGRADED.labels("internal_error").inc()
            log.exception("admission review failed; pod admitted unchanged")
            patch, warnings = [], [f"spillway: the admission check failed ({type(exc).__name__}); "
                                   "the pod was admitted without Spillway's placement gate"]
        if patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(_encoder.encode(patch)).decode()
        if warnings:
            response["warnings"] = [w[:MAX_WARNING_CHARS] for w in warnings]
    body = {"apiVersion": REVIEW_API_VERSION, "kind": "AdmissionReview", "response": response}
    return 200, _encoder.encode(body)


def _review_pod(raw: bytes, global_switch: str | None, options: PolicyOptions,
                namespace: str) -> tuple[JsonPatch, list[str]]:
    """The gate patch and the warnings for one pod, whatever the pod looks like."""
    warnings: list[str] = []
    try:
        pod = _pod_decoder.decode(raw)
        shape: dict[str, Any] | None = None
    except msgspec.DecodeError as exc:
        shape = _as_object(raw)
        if shape is None:
            ADMISSION_DEGRADED.labels("not_an_object").inc()
            log.warning("pod object is not a JSON object; admitted unchanged", extra={"error": str(exc)[:300]})
            return [], ["spillway: the pod could not be read; it was admitted without Spillway's placement gate"]
        pod = _skeleton(shape)
        ADMISSION_DEGRADED.labels("undecodable").inc()
        log.warning("pod does not decode into the model; reviewed on its metadata",
                    extra={"error": str(exc)[:300], "pod": pod.metadata.name or pod.metadata.generate_name})
        warnings.append(f"spillway: part of this pod could not be read ({_first_line(exc)}); "
                        "the placement decision uses its metadata only")
    try:
        result = review(pod, global_switch, options, namespace=namespace)
    except Exception as exc:  # the policy must never cost the pod its gate (a 500 would)
        ADMISSION_DEGRADED.labels("policy_error").inc()
        log.exception("admission policy failed; the pod is gated and placement decides",
                      extra={"pod": pod.metadata.name or pod.metadata.generate_name})
        warnings.append(f"spillway: the admission check failed ({type(exc).__name__}); "
                        "the pod waits for Spillway's placement decision")
        return _gate_patch(pod, shape), warnings
    warnings.extend(result.warnings)
    if not result.gate:
        return [], warnings
    return (_gate_patch(pod, shape) if shape is not None else result.patch), warnings


def _gate_patch(pod: Pod, shape: dict[str, Any] | None) -> JsonPatch:
    """The patch adding the gate. For a pod reviewed on a skeleton, the raw gates decide between
    creating the list and appending to it: a skeleton may have dropped a gate it could not read,
    and creating the list would then erase it."""
    if shape is None:
        return add_gate_patch(pod)
    spec = shape.get("spec")
    gates = spec.get("schedulingGates") if isinstance(spec, dict) else None
    if not isinstance(gates, list) or not gates:
        return [{"op": "add", "path": "/spec/schedulingGates", "value": [{"name": PLACEMENT_GATE}]}]
    if any(isinstance(g, dict) and g.get("name") == PLACEMENT_GATE for g in gates):
        return []
    return [{"op": "add", "path": "/spec/schedulingGates/-", "value": {"name": PLACEMENT_GATE}}]


def _as_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = _any_decoder.decode(raw)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _skeleton(shape: dict[str, Any]) -> Pod:
    """The parts of a pod the admission decision reads, each kept only when well-formed."""
    meta = shape.get("metadata") if isinstance(shape.get("metadata"), dict) else {}
    spec = shape.get("spec") if isinstance(shape.get("spec"), dict) else {}
    assert isinstance(meta, dict) and isinstance(spec, dict)
    metadata: dict[str, Any] = {k: meta[k] for k in ("name", "generateName", "namespace", "uid")
                                if isinstance(meta.get(k), str)}
    metadata["annotations"] = _strings(meta.get("annotations"))
    metadata["labels"] = _strings(meta.get("labels"))
    owners = [r for r in meta.get("ownerReferences") or [] if isinstance(r, dict)] \
        if isinstance(meta.get("ownerReferences"), list) else []
    gates = [{"name": g["name"]} for g in spec.get("schedulingGates") or []
             if isinstance(g, dict) and isinstance(g.get("name"), str)] \
        if isinstance(spec.get("schedulingGates"), list) else []
    pod_spec: dict[str, Any] = {"schedulingGates": gates}
    if isinstance(spec.get("nodeName"), str):
        pod_spec["nodeName"] = spec["nodeName"]
    for kept_owners in (owners, []):
        try:
            return msgspec.convert({"metadata": {**metadata, "ownerReferences": kept_owners}, "spec": pod_spec}, Pod)
        except msgspec.ValidationError:
            continue
    return msgspec.convert({"metadata": metadata, "spec": pod_spec}, Pod)


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


def webhook_app(global_switch: Callable[[], str | None], options: PolicyOptions) -> web.Application:
    async def mutate(request: web.Request) -> web.Response:
        status, body = respond(await request.read(), global_switch(), options)
        return web.Response(status=status, body=body, content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application(client_max_size=MAX_REVIEW_BYTES)
    app.router.add_post("/mutate", mutate)
    app.router.add_get("/healthz", healthz)
    return app
