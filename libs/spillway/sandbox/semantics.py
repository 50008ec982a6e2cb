"""Object semantics that need no store state: what create sets, what an update may change
(the status/spec split, immutable metadata, generation), and required-field validation.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from spillway.sandbox import events_view, pdb_rules, pod_rules, validation
from spillway.sandbox.resources import ResourceType, resource
from spillway.sandbox.scheduling import GATED_MESSAGE, GATED_REASON

Obj = dict[str, Any]
# Status fields the Go types always serialise (no omitempty), so clients' models require them.
_INITIAL_STATUS: dict[str, dict[str, Any]] = {
    "replicasets": {"replicas": 0},
    "persistentvolumeclaims": {"phase": "Pending"},
    "persistentvolumes": {"phase": "Pending"},
    "statefulsets": {"replicas": 0, "availableReplicas": 0},
    "daemonsets": {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                   "numberReady": 0},
    "poddisruptionbudgets": pdb_rules.INITIAL_STATUS,
}


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def prepare_create(rt: ResourceType, obj: Obj, now: float) -> None:
    """Server-set metadata, defaults and the status a new object starts with."""
    stored = resource(rt.bucket) if rt.bucket != rt.key else rt
    obj["kind"], obj["apiVersion"] = stored.kind, stored.api_version
    meta = obj["metadata"]
    for transient in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
                      "managedFields"):
        meta.pop(transient, None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = rfc3339(now)
    if rt.has_generation:
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    if rt.plural == "pods" and rt.group == "":
        if isinstance(obj.get("spec"), dict):
            pod_rules.default_pod(obj)
    elif rt.plural == "namespaces":
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["status"] = {"phase": "Active"}
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
    elif rt.has_status() and rt.plural != "nodes":  # nodes may set status on create
        obj["status"] = dict(_INITIAL_STATUS.get(rt.plural, {}))
    if rt.plural in ("deployments", "replicasets", "statefulsets") and isinstance(obj.get("spec"), dict):
        obj["spec"].setdefault("replicas", 1)
    if rt.plural == "secrets" and "type" not in obj:
        obj["type"] = "Opaque"



def prepare_admitted(rt: ResourceType, obj: Obj, now: float) -> None:
    """What kube-apiserver's create strategy derives from an object as mutating admission left it
    (admission runs first there): a pod created with scheduling gates, by its author or by a
    webhook, starts with PodScheduled=False/SchedulingGated, in the same write."""
    if rt.plural != "pods" or rt.group != "" or not isinstance(obj.get("spec"), dict) \
            or not obj["spec"].get("schedulingGates"):
        return
    status = obj.setdefault("status", {})
    if not isinstance(status, dict):
        return
    conditions = status.setdefault("conditions", [])
    if not isinstance(conditions, list) or any(isinstance(c, dict) and c.get("type") == "PodScheduled"
                                               for c in conditions):
        return
    conditions.append(not_scheduled(GATED_REASON, GATED_MESSAGE, now))


def not_scheduled(reason: str, message: str, now: float) -> Obj:
    """The PodScheduled=False condition of a pod the scheduler does not place, and why."""
    return {"type": "PodScheduled", "status": "False", "reason": reason, "message": message,
            "lastProbeTime": None, "lastTransitionTime": rfc3339(now)}


def validate(rt: ResourceType, obj: Obj, *, creating: bool = False) -> None:
    """After admission: decode the (possibly mutated) object again, then ObjectMeta rules and
    required fields (what clients' models reject when missing)."""
    validation.decode(rt, obj)
    validation.validate_meta(rt, obj, creating=creating)
    if rt.plural == "pods":
        pod_rules.validate_pod(obj)
    elif rt.bucket == "events":
        events_view.validate_core_event(obj)
    elif rt.plural == "poddisruptionbudgets":
        pdb_rules.validate(obj)



def merge_update(rt: ResourceType, old: Obj, obj: Obj, subresource: str) -> Obj:
    """Apply the status split and keep the fields clients cannot change."""
    new = obj
    new["kind"], new["apiVersion"] = old["kind"], old["apiVersion"]
    meta, old_meta = new["metadata"], old["metadata"]
    for kept in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
                 "namespace", "name"):
        if kept in old_meta:
            meta[kept] = old_meta[kept]
        else:
            meta.pop(kept, None)
    if subresource == "status":
        for k in list(new):
            if k not in ("kind", "apiVersion", "metadata", "status"):
                del new[k]
        for k, v in old.items():
            if k not in ("metadata", "status"):
                new[k] = v
        meta["ownerReferences"] = old_meta.get("ownerReferences")
        if meta["ownerReferences"] is None:
            del meta["ownerReferences"]
    elif rt.has_status():
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    if rt.plural == "pods" and not subresource:
        pod_rules.check_spec_update(meta["name"], old.get("spec") or {}, new.get("spec") or {})
    if rt.bump_generation and new.get("spec") != old.get("spec"):
        meta["generation"] = int(old_meta.get("generation") or 1) + 1
    return new



def same_but_rv(a: Obj, b: Obj) -> bool:
    if a.keys() != b.keys():
        return False
    for k, v in a.items():
        if k == "metadata":
            ma, mb = dict(v), dict(b[k])
            ma.pop("resourceVersion", None)
            mb.pop("resourceVersion", None)
            if ma != mb:
                return False
        elif v != b[k]:
            return False
    return True
