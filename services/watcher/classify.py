"""Which bus event a pod change is, and its de-duplication id: pure, so it is tested as a table.

Why ids matter: a second watcher replica, a restart's relist, or a retried publish must not make
a consumer act twice. Pending kinds carry the resourceVersion (a pod that changes while pending is
worth a fresh look: placement re-evaluates refusals); bound carries the node (one binding, one
event, DESIGN: `<uid>:bound:<node>`); terminating and deleted happen once per pod incarnation.
"""

from __future__ import annotations

import msgspec

from spillway.model.kube import PLACEMENT_GATE, Node, Pod, PodStatus
from spillway.model.messages import PodChange


def classify(event_type: str, pod: Pod) -> PodChange | None:
    """The change a watch event means, or None when no service acts on it (e.g. Running updates).

    Order matters: a deleted or terminating pod is that first, whatever else holds; a pod with
    spec.nodeName is bound; an unbound pod carrying our gate is gated; an unbound pod with no
    scheduling gate at all that the scheduler marked PodScheduled=False/Unschedulable is
    unschedulable (a gated pod is never Unschedulable: the scheduler does not try it).
    """
    if event_type == "DELETED":
        return "deleted"
    if pod.is_terminating():
        return "terminating"
    if pod.spec.node_name:
        return "bound"
    if pod.is_gated_by(PLACEMENT_GATE):
        return "gated"
    if pod.awaiting_decision():
        return "unschedulable"
    return None


def message_id(change: PodChange, pod: Pod) -> str:
    """The Nats-Msg-Id of the PodEvent for `change`."""
    meta = pod.metadata
    uid = meta.uid or meta.namespace + "/" + meta.name
    if change == "bound":
        return f"{uid}:bound:{pod.spec.node_name}"
    if change in ("terminating", "deleted"):
        return f"{uid}:{change}"
    return f"{uid}:{meta.resource_version}:{change}"


def signature(change: PodChange | None, pod: Pod) -> tuple[str, str, str, str]:
    """What must differ for an event to be published again for the same pod: pending kinds on
    every resourceVersion, the others once per (uid, change, node)."""
    rv = pod.metadata.resource_version if change in ("gated", "unschedulable") else ""
    return (pod.metadata.uid, change or "", pod.spec.node_name, rv)


# ---- what changes a decision or a cloud pod -----------------------------------------------------
#
# The consumers of pod events and of the pods bucket, and what they read of a pod:
# - placement decides pending pods (every field it reads is in an unbound pod's events, never
#   filtered) and counts the others per workload from the bucket: uid, node, owner references
#   (workload), labels and annotations, scheduling gates, deletion, and the phase (finished or not);
#   returns to the IDC also read whether each replica is Ready and when it was scheduled (the
#   `Ready` and `PodScheduled` conditions: a readiness probe turns Ready long after the phase);
# - cloud-provisioner and node-status act only on pods bound to super nodes (create and delete the
#   instance, sync its status) and drop every other `bound`, `terminating` and `deleted` event.
# So a pod bound to a node known to be local needs no event at all, and its bucket entry changes
# only when one of the fields placement counts with changes: a kubelet's status update (readiness,
# container statuses, IPs, conditions) is not an event anyone needs. A pod on a super node, unbound,
# or on a node not known yet is passed on whole, as before.

_NO_STATUS = PodStatus()
COUNTED_CONDITIONS = frozenset({"Ready", "PodScheduled"})


def counted_fields(pod: Pod) -> int:
    """A digest of what any consumer reads of a pod on a local node: everything but its status
    (the phase, reason and COUNTED_CONDITIONS excepted) and its resourceVersion."""
    status = pod.status
    kept = msgspec.structs.replace(_NO_STATUS, phase=status.phase, reason=status.reason,
                                   conditions=[c for c in status.conditions if c.type in COUNTED_CONDITIONS])
    view = msgspec.structs.replace(pod, metadata=msgspec.structs.replace(pod.metadata, resource_version=""),
                                   status=kept)
    return hash(msgspec.json.encode(view))


def node_fields(node: Node) -> int:
    """A digest of a node without its heartbeat: a kubelet renewing `lastHeartbeatTime` on its
    conditions every few minutes changes no capacity, readiness, label or taint anyone reads."""
    conditions = [msgspec.structs.replace(c, last_heartbeat_time=None) for c in node.status.conditions]
    view = msgspec.structs.replace(node, metadata=msgspec.structs.replace(node.metadata, resource_version=""),
                                   status=msgspec.structs.replace(node.status, conditions=conditions))
    return hash(msgspec.json.encode(view))
