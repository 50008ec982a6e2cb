"""Pod facts the controllers and the kubelet share (podutil.IsPodReady, IsPodActive, …)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

Obj = dict[str, Any]


def is_terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_active(pod: Obj) -> bool:
    """controller.IsPodActive: not finished and not being deleted (terminating pods do not count)."""
    return not is_terminating(pod) and not is_finished(pod)


def condition(pod: Obj, type_: str) -> Obj | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def is_ready(pod: Obj) -> bool:
    cond = condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def parse_time(text: str | None) -> float | None:
    """RFC 3339 (seconds or microseconds) → epoch seconds; None when missing or malformed."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def ready_since(pod: Obj) -> float | None:
    cond = condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime"))


def max_restarts(pod: Obj) -> int:
    status = pod.get("status") or {}
    counts = [int(c.get("restartCount") or 0) for c in (status.get("containerStatuses") or [])]
    counts += [int(c.get("restartCount") or 0) for c in (status.get("initContainerStatuses") or [])]
    return max(counts, default=0)
