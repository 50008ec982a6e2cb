"""JSON patches (RFC 6902) that carry out a decision on the pod in ONE API write each.

Why JSON patch rather than strategic merge: the admission webhook must answer with a JSON patch
anyway; a JSON patch can remove exactly our gate (strategic merge needs `$patch: delete`
directives the sandbox would have to emulate) and append one toleration without resending the
list. Arrays are addressed safely: the gate is removed by index right after a `test` op that
checks that index still holds our gate, and `test /metadata/uid` pins the pod incarnation, so a
stale view makes the API reject the whole patch (422) instead of damaging the pod; the caller
then re-reads the pod and decides again. Objects absent from the view (`annotations`,
`tolerations`, `affinity`...) are added whole; present ones are extended member by member.

What the API allows (kubernetes-api.md, "Pod spec updates"): removing scheduling gates, adding
tolerations, any annotation, and, only while the pod is still gated, narrowing the required node
affinity (adding requirements to existing terms, or setting terms when there were none). The
gated-path patch narrows and removes the gate in the same write, so no scheduler can place the
pod on a local node in between. Send it with Content-Type `application/json-patch+json`
(kubernetes_asyncio does so for a list body).

The cloud patch also writes `spillway.io/cloud-bind: <node>/<pod uid>`: the record, written in the
same write, that Spillway owes this pod a bind to that node. A new leader finishes a bind only for
a pod carrying it with its own uid, so a copy of a cloud pod's YAML (whose uid is different) is
never mistaken for one.

One patch here is not a JSON patch: `failed_status_patch`, the strategic-merge body for a pod's
`/status` that fails a pod no super node will run.
"""

from __future__ import annotations

from typing import Any

import msgspec

from spillway.model.kube import ANNOTATION_DELETION_COST, PLACEMENT_GATE, Pod, Taint
from spillway.policy.decision import Decision, Outcome
from spillway.policy.matching import tolerates

JsonPatch = list[dict[str, Any]]
ANNOTATION_CLOUD_BIND = "spillway.io/cloud-bind"
"""`<super node>/<pod uid>`: written by the cloud patch; names the bind Spillway owes the pod."""
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
POD_FAILED = "PodFailed"
"""The reason kubelet gives Ready and ContainersReady on a pod in phase Failed."""


def escape_pointer(token: str) -> str:
    """RFC 6901: `~` → `~0`, `/` → `~1` (annotation keys contain slashes)."""
    return token.replace("~", "~0").replace("/", "~1")


def _json(value: msgspec.Struct) -> Any:
    return msgspec.to_builtins(value)


def _uid_guard(pod: Pod) -> JsonPatch:
    uid = pod.metadata.uid
    return [{"op": "test", "path": "/metadata/uid", "value": uid}] if uid else []


def _gate_removal(pod: Pod) -> JsonPatch:
    for index, gate in enumerate(pod.spec.scheduling_gates):
        if gate.name == PLACEMENT_GATE:
            path = f"/spec/schedulingGates/{index}"
            return [{"op": "test", "path": path, "value": {"name": PLACEMENT_GATE}}, {"op": "remove", "path": path}]
    return []


def local_patch(pod: Pod) -> JsonPatch:
    """Lift only the placement gate (empty when the pod does not carry it: nothing to do)."""
    removal = _gate_removal(pod)
    return [*_uid_guard(pod), *removal] if removal else []


def add_gate_patch(pod: Pod) -> JsonPatch:
    """The admission patch adding the placement gate (empty when the pod already has it)."""
    if pod.is_gated_by(PLACEMENT_GATE):
        return []
    gate = {"name": PLACEMENT_GATE}
    if pod.spec.scheduling_gates:
        return [{"op": "add", "path": "/spec/schedulingGates/-", "value": gate}]
    return [{"op": "add", "path": "/spec/schedulingGates", "value": [gate]}]


def _toleration_ops(pod: Pod, decision: Decision) -> JsonPatch:
    toleration = decision.toleration
    if toleration is None:
        return []
    taint = Taint(key=toleration.key or "", effect=toleration.effect or "NoSchedule")
    if any(tolerates(existing, taint) for existing in pod.spec.tolerations):
        return []
    value = _json(toleration)
    if pod.spec.tolerations:
        return [{"op": "add", "path": "/spec/tolerations/-", "value": value}]
    return [{"op": "add", "path": "/spec/tolerations", "value": [value]}]


def cloud_bind_value(pod: Pod, node: str) -> str:
    return f"{node}/{pod.metadata.uid}"


def owed_bind_node(pod: Pod) -> str | None:
    """The super node the cloud patch recorded for THIS pod (its uid in the annotation), else None."""
    value = pod.metadata.annotations.get(ANNOTATION_CLOUD_BIND, "")
    node, sep, uid = value.rpartition("/")
    if not sep or not node or not uid or uid != pod.metadata.uid:
        return None
    return node


def _annotation_ops(pod: Pod, decision: Decision) -> JsonPatch:
    added: dict[str, str] = {}
    if decision.deletion_cost is not None:
        added[ANNOTATION_DELETION_COST] = str(decision.deletion_cost)
    if decision.node is not None and pod.metadata.uid:
        added[ANNOTATION_CLOUD_BIND] = cloud_bind_value(pod, decision.node)
    if not added:
        return []
    if pod.metadata.annotations:
        return [{"op": "add", "path": f"/metadata/annotations/{escape_pointer(key)}", "value": value}
                for key, value in added.items()]
    return [{"op": "add", "path": "/metadata/annotations", "value": added}]


def _affinity_ops(pod: Pod, decision: Decision) -> JsonPatch:
    narrowed = decision.narrowed_affinity
    if narrowed is None:
        return []
    required_value = _json(narrowed)
    affinity = pod.spec.affinity
    if affinity is None:
        return [{"op": "add", "path": "/spec/affinity", "value": {"nodeAffinity": {_REQUIRED: required_value}}}]
    node_affinity = affinity.node_affinity
    if node_affinity is None:
        return [{"op": "add", "path": "/spec/affinity/nodeAffinity", "value": {_REQUIRED: required_value}}]
    base = f"/spec/affinity/nodeAffinity/{_REQUIRED}"
    required = node_affinity.required_during_scheduling_ignored_during_execution
    if required is None:
        return [{"op": "add", "path": base, "value": required_value}]
    if not required.node_selector_terms:
        return [{"op": "add", "path": f"{base}/nodeSelectorTerms", "value": required_value["nodeSelectorTerms"]}]
    ops: JsonPatch = []
    for index, (old, new) in enumerate(zip(required.node_selector_terms, narrowed.node_selector_terms, strict=True)):
        added = [_json(req) for req in new.match_fields[len(old.match_fields) :]]
        term = f"{base}/nodeSelectorTerms/{index}"
        if old.match_fields:
            ops.extend({"op": "add", "path": f"{term}/matchFields/-", "value": req} for req in added)
        else:
            ops.append({"op": "add", "path": f"{term}/matchFields", "value": added})
    return ops


def cloud_patch(pod: Pod, decision: Decision) -> JsonPatch:
    """One patch carrying a CLOUD decision out before the bind: lift the gate (gated path), add
    the super-node toleration (unless one already tolerates the taint), set the deletion cost and
    the owed-bind record (`ANNOTATION_CLOUD_BIND`), and narrow the required node affinity to the
    chosen node (gated path). ValueError for any other outcome."""
    if decision.outcome is not Outcome.CLOUD or decision.node is None:
        raise ValueError(f"cloud_patch needs a CLOUD decision, got {decision.outcome}")
    return [
        *_uid_guard(pod),
        *_gate_removal(pod),
        *_affinity_ops(pod, decision),
        *_toleration_ops(pod, decision),
        *_annotation_ops(pod, decision),
    ]


def failed_status_patch(reason: str, message: str) -> dict[str, Any]:
    """Phase Failed with a one-word reason and a message, as kubelet fails a pod it rejects (its
    controller then replaces it, and `kubectl get` shows the reason); Ready and ContainersReady
    False with reason `PodFailed`, as kubelet sets them on every Failed pod, so a pod that was
    Ready never reads Failed and Ready. Conditions merge by type: the others stay as they are."""
    conditions = [{"type": type_, "status": "False", "reason": POD_FAILED} for type_ in ("Ready", "ContainersReady")]
    return {"status": {"phase": "Failed", "reason": reason, "message": message, "conditions": conditions}}
