"""The ReplicaSet scale-down victim order, one named case per rule of ActivePodsWithRanks.Less."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.sandbox.controllers.ranking import deletion_cost, pods_to_delete, ranks_by_node


def p(name: str, *, node: str = "n1", phase: str = "Running", ready: bool = True, cost: str | None = None,
      ready_at: str = "2026-01-01T00:00:10Z", restarts: int = 0,
      created: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    annotations = {"controller.kubernetes.io/pod-deletion-cost": cost} if cost is not None else {}
    conditions = [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ready_at}]
    return {"metadata": {"name": name, "annotations": annotations, "creationTimestamp": created},
            "spec": {"nodeName": node} if node else {},
            "status": {"phase": phase, "conditions": conditions,
                       "containerStatuses": [{"name": "c", "restartCount": restarts}]}}


CASES = [
    ("unassigned first", [p("a"), p("b", node="", phase="Pending", ready=False)], "b"),
    ("pending before running", [p("a"), p("b", phase="Pending")], "b"),
    ("unknown before running", [p("a"), p("b", phase="Unknown")], "b"),
    ("pending before unknown", [p("a", phase="Unknown"), p("b", phase="Pending")], "b"),
    ("not ready first", [p("a"), p("b", ready=False)], "b"),
    ("lower cost first", [p("a", cost="10"), p("b", cost="5")], "b"),
    ("negative cost before none", [p("a"), p("b", cost="-1")], "b"),
    ("malformed cost counts as 0", [p("a", cost="1"), p("b", cost="x")], "b"),
    ("cost beats readiness? no: readiness first", [p("a", ready=False, cost="100"), p("b", cost="-100")], "a"),
    ("doubled-up node first", [p("a", node="n1"), p("b", node="n2"), p("c", node="n2")], "b"),
    ("ready more recently first", [p("a", ready_at="2026-01-01T00:00:10Z"),
                                   p("b", ready_at="2026-01-01T00:05:00Z")], "b"),
    ("more restarts first", [p("a", restarts=1), p("b", restarts=3)], "b"),
    ("newer first", [p("a", created="2026-01-01T00:00:00Z"), p("b", created="2026-01-02T00:00:00Z")], "b"),
    ("cost beats age", [p("a", created="2026-01-02T00:00:00Z", cost="1"), p("b")], "b"),
    ("phase beats cost", [p("a", phase="Pending", cost="1000"), p("b", cost="-1000")], "a"),
]


@pytest.mark.parametrize(("pods", "first"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_first_victim(pods: list[dict[str, Any]], first: str) -> None:
    victim = pods_to_delete(pods, pods, 1)
    assert [v["metadata"]["name"] for v in victim] == [first]


def test_order_of_a_mixed_set() -> None:
    pods = [p("running-old"), p("running-cost", cost="-5"), p("pending", phase="Pending", ready=False),
            p("unassigned", node="", phase="Pending", ready=False), p("notready", ready=False)]
    assert [v["metadata"]["name"] for v in pods_to_delete(pods, pods, 5)] == \
        ["unassigned", "pending", "notready", "running-cost", "running-old"]


def test_ranks_count_only_active_related_pods() -> None:
    terminating = p("t", node="n2")
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    pods = [p("a", node="n1"), p("b", node="n2")]
    assert ranks_by_node(pods, [*pods, terminating, p("c", node="n1")]) == [2, 1]


@pytest.mark.parametrize(("raw", "cost"), [("5", 5), (" 7 ", 7), ("-3", -3), ("2147483648", 0), ("1.5", 0)])
def test_deletion_cost_parsing(raw: str, cost: int) -> None:
    assert deletion_cost(p("a", cost=raw)) == cost
