"""Which pods a ReplicaSet deletes first when it scales down: the real controller's order
(pkg/controller/controller_utils.go `ActivePodsWithRanks.Less`), as a pure sort key.

1. unassigned before assigned; 2. Pending < Unknown < Running; 3. not ready before ready;
4. lower `controller.kubernetes.io/pod-deletion-cost` first (int32, malformed = 0);
5. more related pods on the same node first (the rank); 6. both ready: ready more recently
first, zero time first; 7. more container restarts first; 8. newer first, zero time first.

Step 6 and 8 follow the linear comparison (feature gate LogarithmicScaleDown off): the real
default since 1.22 buckets ages by powers of two and breaks ties by uid, which only differs
for pods whose ages fall in the same power-of-two bucket.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from spillway.model.kube import ANNOTATION_DELETION_COST
from spillway.sandbox.controllers.podstate import is_active, is_ready, max_restarts, parse_time, ready_since

Obj = dict[str, Any]
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}
_INT32 = (-(2**31), 2**31 - 1)


def deletion_cost(pod: Obj) -> int:
    """GetDeletionCostFromPodAnnotations; an invalid value counts as 0 (Less ignores the error)."""
    raw = (pod["metadata"].get("annotations") or {}).get(ANNOTATION_DELETION_COST)
    if raw is None:
        return 0
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        return 0
    return value if _INT32[0] <= value <= _INT32[1] else 0


def _zero_first_newer_first(ts: float | None) -> tuple[int, float]:
    """afterOrZero as a key: a zero time sorts first, then later times before earlier ones."""
    return (0, 0.0) if ts is None else (1, -ts)


def deletion_key(pod: Obj, rank: int) -> tuple[Any, ...]:
    """Sort ascending: the first pods are deleted first."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    ready = is_ready(pod)
    return (
        1 if spec.get("nodeName") else 0,
        _PHASE_ORDINAL.get(status.get("phase") or "", 0),
        1 if ready else 0,
        deletion_cost(pod),
        -rank,
        _zero_first_newer_first(ready_since(pod)) if ready else (0, 0.0),
        -max_restarts(pod),
        _zero_first_newer_first(parse_time(pod["metadata"].get("creationTimestamp"))),
    )


def ranks_by_node(pods: Sequence[Obj], related: Sequence[Obj]) -> list[int]:
    """getPodsRankedByRelatedPodsOnSameNode: for each pod, how many active related pods share
    its node (unassigned pods share the node "")."""
    on_node = Counter((p.get("spec") or {}).get("nodeName") or "" for p in related if is_active(p))
    return [on_node[(p.get("spec") or {}).get("nodeName") or ""] for p in pods]


def pods_to_delete(pods: Sequence[Obj], related: Sequence[Obj], count: int) -> list[Obj]:
    """The `count` pods the ReplicaSet controller deletes first."""
    ranks = ranks_by_node(pods, related)
    order = sorted(range(len(pods)), key=lambda i: deletion_key(pods[i], ranks[i]))
    return [pods[i] for i in order[:count]]
