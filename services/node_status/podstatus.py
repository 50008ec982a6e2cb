"""Instance status → pod status, as a kubelet would report it. Pure, deterministic.

Deterministic on purpose: every timestamp comes from the instance (CreationTime, container start
and finish times), so the same instance always gives the same status, and "did anything change?"
is a comparison of two dicts — no patch is sent when nothing did.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from spillway.cloud import ContainerStatus, Instance
from spillway.model.kube import FINISHED_PHASES, Container, Pod

PHASES = {"Pending": "Pending", "Running": "Running", "Succeeded": "Succeeded", "Failed": "Failed"}


def _ts(dt: datetime | None) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def container_id(instance: Instance, container: str) -> str:
    return f"tke-serverless://{instance.id}/{container}"


def container_status(spec: Container, cs: ContainerStatus | None, instance: Instance) -> dict[str, Any]:
    out: dict[str, Any] = {"name": spec.name, "image": spec.image, "imageID": "", "ready": False,
                           "restartCount": cs.restart_count if cs else 0, "started": False}
    if cs is None or cs.state in ("", "created"):
        out["state"] = {"waiting": {"reason": "ContainerCreating"}}
        return out
    out["containerID"] = container_id(instance, spec.name)
    out["imageID"] = f"docker-pullable://{cs.image or spec.image}"
    if cs.state == "running":
        out.update(ready=True, started=True, state={"running": {"startedAt": _ts(cs.started_at)}})
    elif cs.state == "exited":
        code = cs.exit_code if cs.exit_code is not None else 0
        terminated = {"exitCode": code, "reason": cs.reason or ("Completed" if code == 0 else "Error"),
                      "startedAt": _ts(cs.started_at), "finishedAt": _ts(cs.finished_at)}
        if cs.message:
            terminated["message"] = cs.message
        out["state"] = {"terminated": {k: v for k, v in terminated.items() if v is not None}}
    else:
        out["state"] = {"waiting": {"reason": "ContainerStatusUnknown", "message": f"instance reports {cs.state!r}"}}
    return out


def _condition(type_: str, ok: bool, at: str | None, reason: str | None = None) -> dict[str, Any]:
    cond: dict[str, Any] = {"type": type_, "status": "True" if ok else "False", "lastProbeTime": None,
                            "lastTransitionTime": at}
    if reason and not ok:
        cond["reason"] = reason
    return cond


def pod_status(pod: Pod, instance: Instance, host_ip: str) -> dict[str, Any]:
    """The `status` to write for `pod` running as `instance` behind a node at `host_ip`."""
    phase = PHASES.get(instance.status, "Pending")
    by_name = {c.name: c for c in instance.containers}
    init_by_name = {c.name: c for c in instance.init_containers}
    statuses = [container_status(c, by_name.get(c.name), instance) for c in pod.spec.containers]
    created = _ts(instance.created_at)
    started = [c.started_at for c in instance.containers if c.started_at]
    finished = [c.finished_at for c in instance.containers if c.finished_at]
    all_ready = phase == "Running" and bool(statuses) and all(s["ready"] for s in statuses)
    if all_ready:
        ready_at = _ts(max(started)) if started else created
    elif phase in FINISHED_PHASES and finished:
        ready_at = _ts(max(finished))
    else:
        ready_at = created
    not_ready = "PodCompleted" if phase in FINISHED_PHASES else "ContainersNotReady"
    scheduled = pod.status.condition("PodScheduled")
    initialized = phase != "Pending" or not pod.spec.init_containers
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [
            _condition("PodScheduled", True, scheduled.last_transition_time if scheduled else created),
            _condition("Initialized", initialized, created, "ContainersNotInitialized"),
            _condition("ContainersReady", all_ready, ready_at, not_ready),
            _condition("Ready", all_ready, ready_at, not_ready),
        ],
        "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "startTime": created,
        "containerStatuses": statuses,
    }
    if instance.private_ip:
        status["podIP"] = instance.private_ip
        status["podIPs"] = [{"ip": instance.private_ip}]
    if pod.spec.init_containers:
        status["initContainerStatuses"] = [container_status(c, init_by_name.get(c.name), instance)
                                           for c in pod.spec.init_containers]
    if phase == "Failed":
        failed = next((c for c in instance.containers if c.state == "exited" and c.exit_code), None)
        status["reason"] = "Error"
        status["message"] = (f"container {failed.name} exited with code {failed.exit_code}"
                             + (f" ({failed.reason})" if failed.reason else "")) if failed else "the instance failed"
    return status
