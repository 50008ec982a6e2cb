"""Which bus event a pod change is, and its de-duplication id: pure, so it is tested as a table.

Why ids matter: a second watcher replica, a restart's relist, or a retried publish must not make
a consumer act twice. Pending kinds carry the resourceVersion (a pod that changes while pending is
worth a fresh look: placement re-evaluates refusals); bound carries the node (one binding, one
event, DESIGN: `<uid>:bound:<node>`); terminating and deleted happen once per pod incarnation.
"""

from __future__ import annotations

import msgspec

from spillway.model.kube import PLACEMENT_GATE, Node, Pod, local_pod_view
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
#   filtered) and reads the others from the bucket: of a pod on a local node only what
#   `local_pod_view` keeps (counts per workload, requests and host ports per node, readiness);
# - cloud-provisioner and node-status act only on pods bound to super nodes (create and delete the
#   instance, sync its status) and drop every other `bound`, `terminating` and `deleted` event.
# So a pod bound to a node known to be local needs no event at all, its bucket entry is its local
# view, written only when that view changes: a kubelet's status update (container statuses, IPs,
# probe times) is not an event anyone needs. A pod on a super node, unbound, or on a node not known
# yet is passed on whole.


def view_digest(view: Pod) -> int:
    """A digest of a pod's view without its resourceVersion (which every write changes)."""
    unversioned = msgspec.structs.replace(view, metadata=msgspec.structs.replace(view.metadata, resource_version=""))
    return hash(msgspec.json.encode(unversioned))


def counted_fields(pod: Pod) -> int:
    """The digest of what any consumer reads of `pod` were it on a local node."""
    return view_digest(local_pod_view(pod))


def node_fields(node: Node) -> int:
    """A digest of a node without its heartbeat: a kubelet renewing `lastHeartbeatTime` on its
    conditions every few minutes changes no capacity, readiness, label or taint anyone reads."""
    conditions = [msgspec.structs.replace(c, last_heartbeat_time=None) for c in node.status.conditions]
    view = msgspec.structs.replace(node, metadata=msgspec.structs.replace(node.metadata, resource_version=""),
                                   status=msgspec.structs.replace(node.status, conditions=conditions))
    return hash(msgspec.json.encode(view))
