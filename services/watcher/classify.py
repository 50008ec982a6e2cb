"""Which bus event a pod change is, and its de-duplication id: pure, so it is tested as a table.

Why ids matter: a second watcher replica, a restart's relist, or a retried publish must not make
a consumer act twice. Pending kinds carry the resourceVersion (a pod that changes while pending is
worth a fresh look: placement re-evaluates refusals); bound carries the node (one binding, one
event, DESIGN: `<uid>:bound:<node>`); terminating and deleted happen once per pod incarnation.
"""

from __future__ import annotations

from spillway.model.kube import PLACEMENT_GATE, Pod
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
