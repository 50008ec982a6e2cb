"""The admission decision: should a new pod wait for placement (carry the spillway.io/placement gate)?

Why so narrow: the webhook runs with failurePolicy Ignore and sits in every pod creation, so it
gates only pods placement must see before any scheduler does (bursting allowed and LOCAL_REPLICAS
set); everything else keeps the normal path, and unschedulable pods still burst on the second
path. It also turns malformed annotations into `kubectl` warnings at apply time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from spillway.model.kube import ANNOTATION_LOCAL_REPLICAS, PLACEMENT_GATE, Pod
from spillway.model.sizing import SizeAnnotationError, size_overrides
from spillway.policy.options import PolicyOptions
from spillway.policy.patches import JsonPatch, add_gate_patch
from spillway.policy.switches import evaluate_switches, parse_local_replicas


@dataclass(frozen=True, slots=True)
class AdmissionResult:
    """gate: the pod needs the placement gate; patch: the JSON patch adding it (empty when not
    gating or already gated); warnings: for the AdmissionReview response; reason: why, one line."""

    gate: bool
    warnings: list[str] = field(default_factory=list)
    patch: JsonPatch = field(default_factory=list)
    reason: str = ""


INTERNAL_ERROR = "InternalError"
INTERNAL_ERROR_DETAIL_LIMIT = 200


def review(pod: Pod, global_switch: str | None, options: PolicyOptions, *, namespace: str = "") -> AdmissionResult:
    """Gate when all hold: the switch table allows bursting, LOCAL_REPLICAS is present (a
    malformed value too, so placement records the refusal), spec.nodeName is empty, the
    namespace is not excluded, and its controller is not a DaemonSet. `namespace` is the AdmissionReview
    request's namespace, used when the object has none yet (pods created through a controller
    often do not).

    Never raises: a malformed annotation is a warning (the pod is still gated when the rest
    says so); an unexpected error is an ungated pod plus a warning naming `InternalError`, so
    the webhook never answers 500 and the pod keeps the normal path (it still bursts when it is
    unschedulable)."""
    try:
        return _review(pod, global_switch, options, namespace)
    except Exception as exc:  # the admission policy's one catch-all, see above
        try:
            detail = str(exc)[:INTERNAL_ERROR_DETAIL_LIMIT]
        except Exception:  # an exception whose __str__ raises still gets its type named
            detail = ""
        what = f"{INTERNAL_ERROR}: spillway could not review this pod ({type(exc).__name__}: {detail})"
        return AdmissionResult(False, [f"{what}; it is not gated"], reason=what)


def _review(pod: Pod, global_switch: str | None, options: PolicyOptions, namespace: str) -> AdmissionResult:
    warnings: list[str] = []
    switch, switch_warnings = evaluate_switches(global_switch, pod.metadata.annotations, options.switch_precedence)
    warnings.extend(switch_warnings)
    quota = parse_local_replicas(pod.metadata.annotations.get(ANNOTATION_LOCAL_REPLICAS))
    if quota.warning:
        warnings.append(quota.warning)
    try:
        size_overrides(pod)
    except SizeAnnotationError as exc:
        warnings.append(f"{exc}; ignored, the size is computed from the containers")
    ns = pod.metadata.namespace or namespace
    if not switch.allowed:
        return AdmissionResult(False, warnings, reason=f"{switch.reason}: {switch.message}")
    # A malformed value is gated all the same: placement then keeps the pod local and records
    # why (a MalformedAnnotation Warning event and a decision record), which an admission
    # warning alone, seen only by the client that created the pod, does not.
    if quota.value is None and quota.warning is None:
        return AdmissionResult(False, warnings, reason=f"{ANNOTATION_LOCAL_REPLICAS} unset")
    if pod.spec.node_name:
        return AdmissionResult(False, warnings, reason="already bound to a node")
    if ns in options.excluded_namespaces:
        return AdmissionResult(False, warnings, reason=f"namespace {ns!r} is excluded")
    if pod.is_daemonset_pod():
        return AdmissionResult(False, warnings, reason="DaemonSet pod")
    return AdmissionResult(True, warnings, add_gate_patch(pod), reason=f"gated with {PLACEMENT_GATE}")


def review_object(
    obj: object, global_switch: str | None, options: PolicyOptions, *, namespace: str = ""
) -> AdmissionResult:
    """`review` on the raw `request.object` of an AdmissionReview (a decoded JSON dict).
    An object that is not a pod is never gated (and never fails the request)."""
    try:
        pod = msgspec.convert(obj, Pod)
    except msgspec.ValidationError as exc:
        return AdmissionResult(False, [], reason=f"not a pod: {exc}")
    return review(pod, global_switch, options, namespace=namespace)
