"""Workload identity, the workload key's string form, and the local-count definition."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spillway.model.kube import OwnerReference
from spillway.policy.local_count import InFlight, count_local
from spillway.policy.workload import WorkloadKey, workload_of
from tests.policy.builders import pod

REPLICASETS = {
    ("shop", "web-7d9f8c6b5"): OwnerReference(kind="Deployment", name="web", api_version="apps/v1"),
    ("shop", "plain-rs"): None,
}


def rs_owner(namespace: str, name: str) -> OwnerReference | None:
    return REPLICASETS.get((namespace, name))


@pytest.mark.parametrize(
    ("owner", "labels", "expected"),
    [
        pytest.param(("ReplicaSet", "web-7d9f8c6b5"), None, WorkloadKey("Deployment", "shop", "web"),
                     id="deployment through its replicaset"),
        pytest.param(("ReplicaSet", "plain-rs"), None, WorkloadKey("ReplicaSet", "shop", "plain-rs"),
                     id="replicaset without deployment"),
        pytest.param(("ReplicaSet", "api-5c4b3a2"), {"pod-template-hash": "5c4b3a2"},
                     WorkloadKey("Deployment", "shop", "api"), id="unknown replicaset, hash label names deployment"),
        pytest.param(("ReplicaSet", "api-5c4b3a2"), {"pod-template-hash": "other"},
                     WorkloadKey("ReplicaSet", "shop", "api-5c4b3a2"), id="unknown replicaset, hash mismatch"),
        pytest.param(("StatefulSet", "db"), None, WorkloadKey("StatefulSet", "shop", "db"), id="statefulset"),
        pytest.param(("Job", "backup-1"), None, WorkloadKey("Job", "shop", "backup-1"), id="job"),
        pytest.param(("DaemonSet", "agent"), None, WorkloadKey("DaemonSet", "shop", "agent"), id="daemonset"),
        pytest.param(None, None, WorkloadKey("Pod", "shop", "solo"), id="bare pod"),
    ],
)
def test_workload_of(owner: tuple[str, str] | None, labels: dict[str, str] | None, expected: WorkloadKey) -> None:
    assert workload_of(pod("solo", "shop", owner=owner, labels=labels), rs_owner) == expected


def test_non_controller_owner_is_not_the_workload() -> None:
    p = pod("solo", "shop", metadata={"ownerReferences": [{"kind": "StatefulSet", "name": "x", "controller": False}]})
    assert workload_of(p, rs_owner) == WorkloadKey("Pod", "shop", "solo")


KV_KEY = re.compile(r"^[-/_=.a-zA-Z0-9]+$")


@pytest.mark.parametrize(
    ("key", "text"),
    [
        pytest.param(WorkloadKey("Deployment", "ns", "name"), "Deployment/ns/name", id="plain"),
        pytest.param(WorkloadKey("Pod", "ns", "a.b-c"), "Pod/ns/a.b-c", id="dots and dashes kept"),
        pytest.param(WorkloadKey("Odd Kind", "ns", "x"), "Odd=20Kind/ns/x", id="space escaped"),
        pytest.param(WorkloadKey("Pod", "ns", ""), "Pod/ns/=", id="empty name"),
        pytest.param(WorkloadKey("Pod", "ns", ".x."), "Pod/ns/=2Ex=2E", id="edge dots escaped"),
    ],
)
def test_workload_key_string(key: WorkloadKey, text: str) -> None:
    assert str(key) == text
    assert WorkloadKey.parse(text) == key


@given(st.text(max_size=12), st.text(max_size=12), st.text(max_size=12))
def test_workload_key_round_trips_and_is_a_kv_key(kind: str, namespace: str, name: str) -> None:
    key = WorkloadKey(kind, namespace, name)
    text = str(key)
    assert KV_KEY.match(text) and not text.startswith(".") and not text.endswith(".") and ".." not in text
    assert WorkloadKey.parse(text) == key


@pytest.mark.parametrize("text", ["a/b", "a/b/c/d", "a b/c/d", "a/b/=Z"])
def test_workload_key_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        WorkloadKey.parse(text)


# ---- local count ----------------------------------------------------------------------------

SUPER = {"eklet-a", "eklet-b"}


def p(name: str, *, node: str = "", gated: bool = False, terminating: bool = False, phase: str = "") -> Any:
    extra: dict[str, Any] = {}
    if node:
        extra["spec"] = {"nodeName": node}
    if terminating:
        extra["metadata"] = {"deletionTimestamp": "2026-01-01T00:00:00Z"}
    if phase:
        extra["status"] = {"phase": phase}
    return pod(name, gated=gated, **extra)


@pytest.mark.parametrize(
    ("pods", "in_flight", "expected"),
    [
        pytest.param([], {}, 0, id="no pods"),
        pytest.param([p("a", node="10.0.0.1")], {}, 1, id="bound local"),
        pytest.param([p("a", node="eklet-a")], {}, 0, id="bound to super node"),
        pytest.param([p("a", node="10.0.0.1", terminating=True)], {}, 0, id="terminating local does not count"),
        pytest.param([p("a", node="10.0.0.1", phase="Succeeded")], {}, 0, id="finished does not count"),
        pytest.param([p("a")], {}, 1, id="ungated unbound heads to local scheduler"),
        pytest.param([p("a")], {"uid-a": "cloud"}, 0, id="ungated unbound in-flight cloud"),
        pytest.param([p("a", gated=True)], {}, 0, id="gated undecided"),
        pytest.param([p("a", gated=True)], {"uid-a": "local"}, 1, id="gated in-flight local"),
        pytest.param([p("a", gated=True)], {"uid-a": "cloud"}, 0, id="gated in-flight cloud"),
        pytest.param([p("a", node="eklet-a")], {"uid-a": "local"}, 0, id="observed super-node binding wins"),
        pytest.param([p("a", node="10.0.0.1"), p("a", node="10.0.0.1")], {}, 1, id="duplicate uid once"),
        pytest.param(
            [p("l1", node="10.0.0.1"), p("c1", node="eklet-b"), p("g1", gated=True), p("g2", gated=True),
             p("g3", gated=True), p("u1")],
            {"uid-g1": "local", "uid-g2": "cloud"},
            3,
            id="burst mix: bound local + in-flight local + ungated",
        ),
    ],
)
def test_count_local(pods: list[Any], in_flight: dict[str, InFlight], expected: int) -> None:
    assert count_local(pods, SUPER, in_flight) == expected
