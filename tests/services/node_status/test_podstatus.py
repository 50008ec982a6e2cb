"""Instance status → pod status as tables: each container state, restart counts, the pod's phase,
its four conditions (status, reason, transition time), IPs and the failure summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.node_status.podstatus import container_status, pod_status
from spillway.cloud import ContainerStatus, Instance
from spillway.model.kube import Container, Pod, decode_pod

HOST = "10.1.0.1"
IP = "10.2.0.7"
T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
CREATED = "2030-01-01T12:00:00Z"


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(seconds: int) -> str:
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def cs(name: str = "app", state: str = "running", **fields: Any) -> ContainerStatus:
    return ContainerStatus(name=name, image=fields.pop("image", "nginx:1.27"), state=state, **fields)


def instance(status: str = "Running", *containers: ContainerStatus, init: tuple[ContainerStatus, ...] = (),
             ip: str | None = IP) -> Instance:
    return Instance(id="eksci-1", name="ci", status=status, private_ip=ip, subnet_id="subnet-a", vpc_id="vpc-1",
                    zone="ap-guangzhou-3", cpu=1.0, memory_gib=2.0, created_at=T0, containers=containers,
                    init_containers=init)


def pod(containers: tuple[str, ...] = ("app",), init: tuple[str, ...] = (), scheduled_at: str | None = None) -> Pod:
    spec: dict[str, Any] = {"nodeName": "eklet-subnet-a",
                            "containers": [{"name": n, "image": "nginx:1.27"} for n in containers]}
    if init:
        spec["initContainers"] = [{"name": n, "image": "busybox"} for n in init]
    status: dict[str, Any] = {"phase": "Pending"}
    if scheduled_at:
        status["conditions"] = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": scheduled_at}]
    return decode_pod(json.dumps({"metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
                                  "spec": spec, "status": status}))


SPEC = Container(name="app", image="nginx:1.27")
ID = "tke-serverless://eksci-1/app"
PULLABLE = "docker-pullable://nginx:1.27"

CONTAINERS = [
    ("no status yet", None,
     {"restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}),
    ("empty state", cs(state="", restart_count=2),
     {"restartCount": 2, "state": {"waiting": {"reason": "ContainerCreating"}}}),
    ("created", cs(state="created"),
     {"restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}),
    ("running", cs(started_at=at(5), restart_count=1),
     {"restartCount": 1, "ready": True, "started": True, "containerID": ID, "imageID": PULLABLE,
      "state": {"running": {"startedAt": ts(5)}}}),
    ("running, no start time", cs(),
     {"restartCount": 0, "ready": True, "started": True, "containerID": ID, "imageID": PULLABLE,
      "state": {"running": {"startedAt": None}}}),
    ("the instance's image wins", cs(image="nginx@sha256:abc", started_at=at(5)),
     {"restartCount": 0, "ready": True, "started": True, "containerID": ID,
      "imageID": "docker-pullable://nginx@sha256:abc", "state": {"running": {"startedAt": ts(5)}}}),
    ("no image reported: the spec's", cs(image="", started_at=at(5)),
     {"restartCount": 0, "ready": True, "started": True, "containerID": ID, "imageID": PULLABLE,
      "state": {"running": {"startedAt": ts(5)}}}),
    ("exited 0", cs(state="exited", exit_code=0, started_at=at(5), finished_at=at(9)),
     {"restartCount": 0, "containerID": ID, "imageID": PULLABLE, "state": {"terminated": {
         "exitCode": 0, "reason": "Completed", "startedAt": ts(5), "finishedAt": ts(9)}}}),
    ("exited, no code reads as 0", cs(state="exited"),
     {"restartCount": 0, "containerID": ID, "imageID": PULLABLE,
      "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}),
    ("exited 1", cs(state="exited", exit_code=1, restart_count=3, finished_at=at(9)),
     {"restartCount": 3, "containerID": ID, "imageID": PULLABLE,
      "state": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ts(9)}}}),
    ("the cloud's reason and message", cs(state="exited", exit_code=137, reason="OOMKilled", message="out of memory"),
     {"restartCount": 0, "containerID": ID, "imageID": PULLABLE, "state": {"terminated": {
         "exitCode": 137, "reason": "OOMKilled", "message": "out of memory"}}}),
    ("unknown state", cs(state="unknown", restart_count=4),
     {"restartCount": 4, "containerID": ID, "imageID": PULLABLE, "state": {"waiting": {
         "reason": "ContainerStatusUnknown", "message": "instance reports 'unknown'"}}}),
]


@pytest.mark.parametrize(("status", "expected"), [c[1:] for c in CONTAINERS], ids=[c[0] for c in CONTAINERS])
def test_container_status(status: ContainerStatus | None, expected: dict[str, Any]) -> None:
    base = {"name": "app", "image": "nginx:1.27", "imageID": "", "ready": False, "started": False}
    assert container_status(SPEC, status, instance()) == base | expected


def conditions(status: dict[str, Any]) -> list[tuple[str, str, str | None, str | None]]:
    return [(c["type"], c["status"], c.get("reason"), c["lastTransitionTime"]) for c in status["conditions"]]


def not_ready(reason: str, at_: str | None, *, initialized: bool = True, scheduled: str = CREATED) -> list[Any]:
    return [("PodScheduled", "True", None, scheduled),
            ("Initialized", "True", None, CREATED) if initialized
            else ("Initialized", "False", "ContainersNotInitialized", CREATED),
            ("ContainersReady", "False", reason, at_), ("Ready", "False", reason, at_)]


def ready(at_: str, scheduled: str = CREATED) -> list[Any]:
    return [("PodScheduled", "True", None, scheduled), ("Initialized", "True", None, CREATED),
            ("ContainersReady", "True", None, at_), ("Ready", "True", None, at_)]


PODS = [
    # (id, pod, instance, phase, conditions)
    ("pending", pod(), instance("Pending"), "Pending", not_ready("ContainersNotReady", CREATED)),
    ("pending with init containers", pod(init=("setup",)), instance("Pending"), "Pending",
     not_ready("ContainersNotReady", CREATED, initialized=False)),
    ("running with init containers done", pod(init=("setup",)),
     instance("Running", cs(started_at=at(7)), init=(cs("setup", "exited", exit_code=0),)), "Running", ready(ts(7))),
    ("an unknown instance status is Pending", pod(), instance("Starting"), "Pending",
     not_ready("ContainersNotReady", CREATED)),
    ("running: ready since the last start", pod(("a", "b")),
     instance("Running", cs("a", started_at=at(3)), cs("b", started_at=at(8))), "Running", ready(ts(8))),
    ("running without start times: ready since creation", pod(), instance("Running", cs()), "Running",
     ready(CREATED)),
    ("running, one container still created", pod(("a", "b")),
     instance("Running", cs("a", started_at=at(3)), cs("b", "created")), "Running",
     not_ready("ContainersNotReady", CREATED)),
    ("running, a container the instance does not report", pod(("a", "b")),
     instance("Running", cs("a", started_at=at(3))), "Running", not_ready("ContainersNotReady", CREATED)),
    ("running, but an instance's extra container is ignored", pod(("a",)),
     instance("Running", cs("a", started_at=at(3)), cs("sidecar", "exited", exit_code=1)), "Running",
     ready(ts(3))),
    ("a Running instance whose container exited is not ready", pod(),
     instance("Running", cs(state="exited", exit_code=0, finished_at=at(9))), "Running",
     not_ready("ContainersNotReady", CREATED)),
    ("succeeded: completed at the last finish", pod(("a", "b")),
     instance("Succeeded", cs("a", "exited", exit_code=0, finished_at=at(9)),
              cs("b", "exited", exit_code=0, finished_at=at(4))), "Succeeded", not_ready("PodCompleted", ts(9))),
    ("succeeded without finish times", pod(), instance("Succeeded", cs(state="exited", exit_code=0)), "Succeeded",
     not_ready("PodCompleted", CREATED)),
    ("failed", pod(), instance("Failed", cs(state="exited", exit_code=2, finished_at=at(6))), "Failed",
     not_ready("PodCompleted", ts(6))),
    ("PodScheduled keeps the scheduler's time", pod(scheduled_at="2029-12-31T23:59:00Z"),
     instance("Running", cs(started_at=at(2))), "Running", ready(ts(2), scheduled="2029-12-31T23:59:00Z")),
]


@pytest.mark.parametrize(("the_pod", "inst", "phase", "expected"), [c[1:] for c in PODS], ids=[c[0] for c in PODS])
def test_phase_and_conditions(the_pod: Pod, inst: Instance, phase: str, expected: list[Any]) -> None:
    status = pod_status(the_pod, inst, HOST)
    assert status["phase"] == phase
    assert conditions(status) == expected
    assert all(c["lastProbeTime"] is None for c in status["conditions"])
    assert status["startTime"] == CREATED
    assert [s["name"] for s in status["containerStatuses"]] == [c.name for c in the_pod.spec.containers]


@pytest.mark.parametrize(("inst", "reason", "message"), [
    pytest.param(instance("Failed", cs("a", "exited", exit_code=0), cs("b", "exited", exit_code=137,
                                                                      reason="OOMKilled")),
                 "Error", "container b exited with code 137 (OOMKilled)", id="names-the-first-failed-container"),
    pytest.param(instance("Failed", cs("a", "exited", exit_code=3)), "Error", "container a exited with code 3",
                 id="no-cloud-reason"),
    pytest.param(instance("Failed", cs("a", "running")), "Error", "the instance failed", id="no-container-failed"),
    pytest.param(instance("Failed"), "Error", "the instance failed", id="no-containers-reported"),
    pytest.param(instance("Succeeded", cs("a", "exited", exit_code=0)), None, None, id="succeeded-has-none"),
    pytest.param(instance("Running", cs("a", "exited", exit_code=1)), None, None, id="only-a-failed-pod-has-one"),
])
def test_failure_summary(inst: Instance, reason: str | None, message: str | None) -> None:
    status = pod_status(pod(("a", "b")), inst, HOST)
    assert (status.get("reason"), status.get("message")) == (reason, message)


@pytest.mark.parametrize(("ip", "expected"), [
    pytest.param(IP, {"podIP": IP, "podIPs": [{"ip": IP}]}, id="instance-ip"),
    pytest.param(None, {}, id="no-ip-yet"),
    pytest.param("", {}, id="empty-ip"),
])
def test_addresses(ip: str | None, expected: dict[str, Any]) -> None:
    status = pod_status(pod(), instance("Running", cs(), ip=ip), HOST)
    assert (status["hostIP"], status["hostIPs"]) == (HOST, [{"ip": HOST}])
    assert {k: status[k] for k in ("podIP", "podIPs") if k in status} == expected


@pytest.mark.parametrize(("init", "inst", "expected"), [
    pytest.param((), instance("Running", cs()), None, id="no-init-containers-no-key"),
    pytest.param(("setup",), instance("Pending"), [("setup", 0, "waiting")], id="init-not-reported-yet"),
    pytest.param(("setup", "migrate"),
                 instance("Running", cs(), init=(cs("migrate", "exited", exit_code=0, restart_count=2),
                                                 cs("setup", "exited", exit_code=0))),
                 [("setup", 0, "terminated"), ("migrate", 2, "terminated")], id="in-spec-order-with-restarts"),
])
def test_init_container_statuses(init: tuple[str, ...], inst: Instance, expected: list[Any] | None) -> None:
    status = pod_status(pod(init=init), inst, HOST)
    got = status.get("initContainerStatuses")
    summary = None if got is None else [(s["name"], s["restartCount"], next(iter(s["state"]))) for s in got]
    assert summary == expected

