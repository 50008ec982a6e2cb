"""meta.k8s.io/v1 Table responses, so `kubectl get` prints the columns it prints against a real
cluster (pkg/printers/internalversion/printers.go). Pod STATUS follows kubectl's own logic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from spillway.sandbox import events_view

Obj = dict[str, Any]
Column = tuple[str, str, str, int]  # name, type, format, priority


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def wants_metadata(accept: str) -> bool:
    """`as=PartialObjectMetadata` (one object) or `as=PartialObjectMetadataList` (a list): only
    each object's metadata, as the metadata informers of controllers ask for it."""
    return "as=PartialObjectMetadata" in accept


def metadata_only(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def _age(ts: str | None, now: float) -> str:
    if not ts:
        return "<unknown>"
    try:
        parsed = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ" if "." in ts else "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return "<unknown>"
    then = parsed.replace(tzinfo=UTC).timestamp()
    secs = max(int(now - then), 0)
    if secs < 120:
        return f"{secs}s"
    mins = secs // 60
    if mins < 10:
        return f"{mins}m{secs % 60}s" if secs % 60 else f"{mins}m"
    if mins < 180:
        return f"{mins}m"
    hours = mins // 60
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    return f"{days}d{hours % 24}h" if days < 8 and hours % 24 else f"{days}d"


def pod_status(pod: Obj) -> str:
    """The STATUS column: kubectl's printPod reason logic, condensed."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    if spec.get("schedulingGates"):
        reason = "SchedulingGated"
    init_statuses = status.get("initContainerStatuses") or []
    initializing = False
    for i, cs in enumerate(init_statuses):
        state = cs.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if term and term.get("exitCode", 0) == 0:
            continue
        initializing = True
        if term:
            reason = "Init:" + (term.get("reason") or f"ExitCode:{term.get('exitCode')}")
        elif wait and wait.get("reason") and wait["reason"] != "PodInitializing":
            reason = "Init:" + wait["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        break
    if not initializing:
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            wait, term = state.get("waiting"), state.get("terminated")
            if wait and wait.get("reason"):
                reason = wait["reason"]
            elif term and term.get("reason"):
                reason = term["reason"]
            elif term:
                reason = f"ExitCode:{term.get('exitCode')}"
            elif state.get("running") and cs.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running"
    if meta.get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return str(reason)


def _pod_row(pod: Obj, now: float) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    gates = spec.get("readinessGates") or []
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    passed = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
    gates_cell = f"{passed}/{len(gates)}" if gates else "<none>"
    return [pod["metadata"]["name"], f"{ready}/{len(spec.get('containers') or [])}", pod_status(pod), restarts,
            _age(pod["metadata"].get("creationTimestamp"), now), status.get("podIP") or "<none>",
            spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>", gates_cell]


def _node_row(node: Obj, now: float) -> list[Any]:
    spec, status, meta = node.get("spec") or {}, node.get("status") or {}, node["metadata"]
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = "Ready" if ready == "True" else ("NotReady" if ready == "False" else "Unknown")
    if spec.get("unschedulable"):
        state += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in (meta.get("labels") or {}) if k.startswith("node-role.kubernetes.io/"))
    info = status.get("nodeInfo") or {}
    addr = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    return [meta["name"], state, ",".join(roles) or "<none>", _age(meta.get("creationTimestamp"), now),
            info.get("kubeletVersion", ""), addr.get("InternalIP", "<none>"), addr.get("ExternalIP", "<none>"),
            info.get("osImage", "<unknown>"), info.get("kernelVersion", "<unknown>"),
            info.get("containerRuntimeVersion", "<unknown>")]


def _deployment_row(d: Obj, now: float) -> list[Any]:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    return [d["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0),
            _age(d["metadata"].get("creationTimestamp"), now)]


def _namespace_row(ns: Obj, now: float) -> list[Any]:
    return [ns["metadata"]["name"], (ns.get("status") or {}).get("phase", ""),
            _age(ns["metadata"].get("creationTimestamp"), now)]


def _event_row(event: Obj, now: float) -> list[Any]:
    """printEvent with Wide set, as the server always prints (pkg/printers/internalversion).
    Both Event APIs print the same row: events.k8s.io fields are read back as core ones."""
    if event.get("apiVersion") == "events.k8s.io/v1":
        event = events_view.core_fields(event)
    first = _age(event.get("firstTimestamp"), now) if event.get("firstTimestamp") else _age(
        event.get("eventTime"), now)
    last = _age(event.get("lastTimestamp"), now) if event.get("lastTimestamp") else first
    count = event.get("count") or 0
    series = event.get("series")
    if isinstance(series, dict):
        last = _age(series.get("lastObservedTime"), now)
        count = series.get("count") or 0
    elif not count:
        count = 1  # singleton events of the new API carry no count
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    return [last, event.get("type") or "", event.get("reason") or "", target, involved.get("fieldPath") or "",
            f"{component}, {instance}" if instance else component, str(event.get("message") or "").strip(),
            first, int(count), event["metadata"]["name"]]


def _name_age_row(obj: Obj, now: float) -> list[Any]:
    return [obj["metadata"]["name"], _age(obj["metadata"].get("creationTimestamp"), now)]


_NAME: Column = ("Name", "string", "name", 0)
_AGE: Column = ("Age", "string", "", 0)
LAYOUTS: dict[str, tuple[list[Column], Callable[[Obj, float], list[Any]]]] = {
    "pods": ([_NAME, ("Ready", "string", "", 0), ("Status", "string", "", 0), ("Restarts", "string", "", 0), _AGE,
              ("IP", "string", "", 1), ("Node", "string", "", 1), ("Nominated Node", "string", "", 1),
              ("Readiness Gates", "string", "", 1)], _pod_row),
    "nodes": ([_NAME, ("Status", "string", "", 0), ("Roles", "string", "", 0), _AGE, ("Version", "string", "", 0),
               ("Internal-IP", "string", "", 1), ("External-IP", "string", "", 1), ("OS-Image", "string", "", 1),
               ("Kernel-Version", "string", "", 1), ("Container-Runtime", "string", "", 1)], _node_row),
    "deployments": ([_NAME, ("Ready", "string", "", 0), ("Up-to-date", "integer", "", 0),
                     ("Available", "integer", "", 0), _AGE], _deployment_row),
    "namespaces": ([_NAME, ("Status", "string", "", 0), _AGE], _namespace_row),
    "events": ([("Last Seen", "string", "", 0), ("Type", "string", "", 0), ("Reason", "string", "", 0),
                ("Object", "string", "", 0), ("Subobject", "string", "", 1), ("Source", "string", "", 1),
                ("Message", "string", "", 0), ("First Seen", "string", "", 1), ("Count", "string", "", 1),
                ("Name", "string", "name", 1)], _event_row),
}


def _partial(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return metadata_only(obj)


def table(plural: str, objs: list[Obj], resource_version: str, include: str = "Metadata",
          now: float | None = None) -> Obj:
    columns, row = LAYOUTS.get(plural, ([_NAME, _AGE], _name_age_row))
    at = time.time() if now is None else now
    rows = []
    for obj in objs:
        r: Obj = {"cells": row(obj, at)}
        partial = _partial(obj, include)
        if partial is not None:
            r["object"] = partial
        rows.append(r)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [{"name": n, "type": t, "format": f, "description": n, "priority": p}
                              for n, t, f, p in columns],
        "rows": rows,
    }
