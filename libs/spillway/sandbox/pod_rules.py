"""Pod-specific API rules: defaults and validation on create, spec immutability on update,
the grace period of a delete, and what a binding may do (pkg/registry/core/pod/strategy.go,
pkg/apis/core/validation, storage.go `BindingREST`).
"""

from __future__ import annotations

import copy
from typing import Any

from spillway.sandbox.errors import ApiError, conflict, invalid

DEFAULT_GRACE = 30
_DEFAULT_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
)
IMMUTABLE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def validate_pod(pod: dict[str, Any]) -> None:
    """Required fields on create; kubernetes_asyncio models reject objects missing them."""
    name = pod.get("metadata", {}).get("name", "")
    spec = pod.get("spec")
    causes: list[tuple[str, str, str]] = []
    if not isinstance(spec, dict):
        causes.append(("spec.containers", "FieldValueRequired", "Required value"))
    else:
        containers = spec.get("containers")
        if not containers:
            causes.append(("spec.containers", "FieldValueRequired", "Required value"))
        for field in ("containers", "initContainers"):
            seen: set[str] = set()
            for i, c in enumerate(spec.get(field) or []):
                if not isinstance(c, dict):
                    continue
                if not c.get("name"):
                    causes.append((f"spec.{field}[{i}].name", "FieldValueRequired", "Required value"))
                elif c["name"] in seen:
                    causes.append((f"spec.{field}[{i}].name", "FieldValueDuplicate", f'Duplicate value: "{c["name"]}"'))
                else:
                    seen.add(c["name"])
                if not c.get("image"):
                    causes.append((f"spec.{field}[{i}].image", "FieldValueRequired", "Required value"))
    if causes:
        raise invalid("Pod", "", name, causes)


def _pull_policy(image: str) -> str:
    tail = image.rsplit("/", 1)[-1]
    if "@" in tail:
        return "IfNotPresent"
    return "Always" if ":" not in tail or tail.endswith(":latest") else "IfNotPresent"


def _qos(spec: dict[str, Any]) -> str:
    requests_any = False
    guaranteed = True
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            requests_any = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and req[r] != lim[r]):
                guaranteed = False
    if not requests_any:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def default_pod(pod: dict[str, Any]) -> None:
    """The defaults the real API server fills in on create (defaults.go + DefaultTolerationSeconds)."""
    spec = pod["spec"]
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", DEFAULT_GRACE)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    sa = spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", sa)
    for field in ("containers", "initContainers"):
        for c in spec.get(field) or []:
            c.setdefault("resources", {})
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("imagePullPolicy", _pull_policy(c.get("image", "")))
            for p in c.get("ports") or []:
                p.setdefault("protocol", "TCP")
    tolerations = spec.setdefault("tolerations", [])
    for default in _DEFAULT_TOLERATIONS:
        if not any(t.get("key") == default["key"] and t.get("effect") == "NoExecute" for t in tolerations):
            tolerations.append(dict(default))
    status = pod.setdefault("status", {})
    status.clear()
    status["phase"] = "Pending"
    status["qosClass"] = _qos(spec)


def _forbidden(name: str) -> ApiError:
    return invalid("Pod", "", name, [("spec", "FieldValueForbidden", "Forbidden: " + IMMUTABLE_MESSAGE)])


def check_spec_update(name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Raise 422 unless new differs from old only where the real API allows."""
    if old == new:
        return
    a, b = copy.deepcopy(old), copy.deepcopy(new)
    for field in ("containers", "initContainers"):
        if len(a.get(field) or []) == len(b.get(field) or []):
            for ca, cb in zip(a.get(field) or [], b.get(field) or [], strict=True):
                ca.pop("image", None)
                cb.pop("image", None)
    for field in ("activeDeadlineSeconds", "terminationGracePeriodSeconds"):
        a.pop(field, None)
        b.pop(field, None)
    old_tol, new_tol = a.pop("tolerations", None) or [], b.pop("tolerations", None) or []
    if any(t not in new_tol for t in old_tol):
        raise _forbidden(name)
    if a.get("schedulingGates"):
        _check_gated_update(name, a, b)
    if a != b:
        raise _forbidden(name)


def _check_gated_update(name: str, a: dict[str, Any], b: dict[str, Any]) -> None:
    """While gated: gates may only be removed, nodeSelector and required affinity only narrowed."""
    old_gates, new_gates = a.pop("schedulingGates", None) or [], b.pop("schedulingGates", None) or []
    if any(g not in old_gates for g in new_gates):
        raise invalid("Pod", "", name, [("spec.schedulingGates", "FieldValueForbidden",
                                         "Forbidden: only deletion is allowed, but found new scheduling gate")])
    old_sel, new_sel = a.pop("nodeSelector", None) or {}, b.pop("nodeSelector", None) or {}
    if any(new_sel.get(k) != v for k, v in old_sel.items()):
        raise invalid("Pod", "", name, [("spec.nodeSelector", "FieldValueInvalid",
                                         "Invalid value: only additions to spec.nodeSelector are allowed "
                                         "(no mutations or deletions)")])
    old_req = _pop_required(a)
    new_req = _pop_required(b)
    if old_req is not None:
        old_terms, new_terms = old_req.get("nodeSelectorTerms") or [], (new_req or {}).get("nodeSelectorTerms") or []
        ok = len(old_terms) == len(new_terms) and all(
            all(e in (nt.get(k) or []) for k in ("matchExpressions", "matchFields") for e in (ot.get(k) or []))
            for ot, nt in zip(old_terms, new_terms, strict=True)
        )
        if not ok:
            raise invalid("Pod", "", name, [(
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution", "FieldValueInvalid",
                "Invalid value: only additions of new terms to existing node selector terms are allowed")])


def _pop_required(spec: dict[str, Any]) -> dict[str, Any] | None:
    affinity = spec.get("affinity") or {}
    node = affinity.get("nodeAffinity") or {}
    req = node.pop("requiredDuringSchedulingIgnoredDuringExecution", None)
    if not node:
        affinity.pop("nodeAffinity", None)
    if not affinity:
        spec.pop("affinity", None)
    return req if isinstance(req, dict) else None


def delete_grace(pod: dict[str, Any], requested: int | None) -> int:
    """CheckGracefulDelete: options first, then the spec, 0 when the pod never ran or is done."""
    spec = pod.get("spec") or {}
    grace = requested if requested is not None else spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
    if grace is None:
        grace = DEFAULT_GRACE
    if not spec.get("nodeName") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    return max(int(grace), 0)


def bind(pod: dict[str, Any], binding: dict[str, Any], now: str) -> dict[str, Any]:
    """Return the bound pod, or raise the 409 the real BindingREST answers."""
    name = pod["metadata"]["name"]
    target = binding.get("target") or {}
    node = target.get("name", "")
    if not node:
        raise invalid("Binding", "", name, [("target.name", "FieldValueRequired", "Required value")])
    if target.get("kind") not in (None, "", "Node"):
        raise invalid("Binding", "", name, [("to.kind", "FieldValueInvalid", "Invalid value: must be empty or 'Node'")])
    meta, spec = pod["metadata"], pod.get("spec") or {}
    uid = (binding.get("metadata") or {}).get("uid")

    def fail(why: str) -> ApiError:
        return conflict("pods/binding", "", name, why)

    if uid and uid != meta.get("uid"):
        raise fail(f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta.get('uid')}")
    if meta.get("deletionTimestamp"):
        raise fail(f"pod {name} is being deleted, cannot be assigned to a host")
    if spec.get("nodeName"):
        raise fail(f'pod {name} is already assigned to node "{spec["nodeName"]}"')
    if spec.get("schedulingGates"):
        raise fail(f"pod {name} has non-empty .spec.schedulingGates")
    bound = copy.deepcopy(pod)
    bound["spec"]["nodeName"] = node
    annotations = (binding.get("metadata") or {}).get("annotations") or {}
    if annotations:
        bound["metadata"].setdefault("annotations", {}).update(annotations)
    status = bound.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now})
    status["conditions"] = conditions
    return bound
