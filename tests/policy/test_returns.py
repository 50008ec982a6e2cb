"""The return rules, as tables: the RETURN_TO_LOCAL switch (9 rows), each rule's refusal, their
order, the room's stability, and the facts they read from a pod (origin, time in the cloud)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from spillway.model.kube import Pod
from spillway.policy.local_fit import Room
from spillway.policy.options import PolicyOptions
from spillway.policy.returns import (
    AFTER_ROOM,
    BEFORE_ROOM,
    REASONS,
    RETURN_TO_LOCAL,
    Origin,
    ReturnFacts,
    ReturnReason,
    ReturnSettings,
    cloud_since,
    judge,
    origin_of,
    parse_time,
    precheck,
    return_switch,
    return_switch_on,
    room_since,
    workload_busy,
)
from spillway.policy.workload import WorkloadKey
from tests.fixtures.affinity import affinity, field
from tests.policy.builders import pod

NOW = 1_800_000_000.0
BOUND_AT = "2027-01-15T07:50:00Z"  # 600 s before NOW
NODE = "eklet-subnet-a"
WEB = WorkloadKey("Deployment", "default", "web")
ROOM = Room("idc-1", "room on local node idc-1")
NO_ROOM = Room(None, "0/1 local nodes have room: 1 Insufficient cpu")
SETTINGS = ReturnSettings(stable_seconds=60, min_cloud_seconds=300, max_per_minute=10, cooldown_seconds=600)


def cloud_pod(name: str = "web-1", *, annotations: dict[str, str] | None = None, owner: tuple[str, str] | None =
              ("ReplicaSet", "web-7d9c"), bound_at: str = BOUND_AT, ready: bool = True,
              spec: dict[str, Any] | None = None, **extra: Any) -> Pod:
    """Running and ready on super node NODE since `bound_at`, placed there by Spillway."""
    uid = f"uid-{name}"
    return pod(name, uid=uid, owner=owner,
               annotations={"spillway.io/cloud-bind": f"{NODE}/{uid}", **(annotations or {})},
               spec={"nodeName": NODE, **(spec or {})}, status={
                   "phase": "Running",
                   "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": bound_at},
                                  {"type": "Ready", "status": "True" if ready else "False"}]},
               **extra)


def facts(p: Pod | None = None, **fields: Any) -> ReturnFacts:
    base: dict[str, Any] = {"pod": p or cloud_pod(), "workload": WEB, "global_config": {RETURN_TO_LOCAL: "true"},
                            "settings": SETTINGS, "now": NOW, "record_reason": "UnschedulableLocally"}
    return ReturnFacts(**(base | fields))


# ---- the switch --------------------------------------------------------------------------------

@pytest.mark.parametrize(("global_value", "workload_value", "on"), [
    (True, False, False), (True, None, True), (True, True, True),
    (False, False, False), (False, None, False), (False, True, True),
    (None, False, False), (None, None, False), (None, True, True),
])
def test_the_switch_table_has_nine_rows_and_is_off_by_default(global_value: bool | None, workload_value: bool | None,
                                                             on: bool) -> None:
    assert return_switch_on(global_value, workload_value) is on


def show(value: bool | None) -> dict[str, str]:
    return {} if value is None else {RETURN_TO_LOCAL: str(value).lower()}


@pytest.mark.parametrize("global_value", [True, False, None])
@pytest.mark.parametrize("workload_value", [True, False, None])
def test_every_row_decides_the_switch_rule(global_value: bool | None, workload_value: bool | None) -> None:
    verdict = precheck(facts(cloud_pod(annotations=show(workload_value)), global_config=show(global_value)))
    refused = verdict is not None and verdict.reason == ReturnReason.SWITCH_OFF
    assert refused is not return_switch_on(global_value, workload_value)


def test_switch_values_parse_like_auto_scale_eks_and_malformed_ones_warn() -> None:
    assert return_switch(" TRUE ", {}).on
    switch = return_switch("yes", {RETURN_TO_LOCAL: "maybe"})
    assert not switch.on and switch.global_value is None and switch.workload_value is None
    assert len(switch.warnings) == 2 and all("RETURN_TO_LOCAL=" in w and "treated as unset" in w
                                             for w in switch.warnings)


# ---- each rule ----------------------------------------------------------------------------------

def quota(n: int | str) -> dict[str, str]:
    return {"LOCAL_REPLICAS": str(n)}


PINNED = affinity({"matchFields": [field("In", NODE)]})

REFUSALS: list[Any] = [
    pytest.param(facts(cloud_pod(owner=None), workload=WorkloadKey("Pod", "default", "web-1")),
                 ReturnReason.NOT_CONTROLLED, id="bare-pod"),
    pytest.param(facts(cloud_pod(owner=("Job", "batch")), workload=WorkloadKey("Job", "default", "batch")),
                 ReturnReason.NOT_CONTROLLED, id="job"),
    pytest.param(facts(cloud_pod(owner=("DaemonSet", "agent")), workload=WorkloadKey("DaemonSet", "default", "agent")),
                 ReturnReason.NOT_CONTROLLED, id="daemonset"),
    pytest.param(facts(cloud_pod(owner=("StatefulSet", "db"), spec={"volumes": [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}]}),
        workload=WorkloadKey("StatefulSet", "default", "db")), ReturnReason.NOT_CONTROLLED, id="statefulset-claims"),
    pytest.param(facts(cloud_pod(annotations={"spillway.io/cloud-bind": f"{NODE}/someone-else"})),
                 ReturnReason.NOT_PLACED, id="copied-cloud-bind"),
    pytest.param(facts(global_config={}), ReturnReason.SWITCH_OFF, id="switch-unset"),
    pytest.param(facts(global_config={RETURN_TO_LOCAL: "true", "AUTO_SCALE_EKS": "false"}),
                 ReturnReason.BURST_REFUSED, id="no-way-back"),
    pytest.param(facts(cooldown_until=NOW + 1), ReturnReason.COOL_DOWN, id="cool-down"),
    pytest.param(facts(cloud_pod(annotations=quota(2)), local_count=2), ReturnReason.BEYOND_LOCAL_REPLICAS,
                 id="quota-reached"),
    pytest.param(facts(cloud_pod(spec=PINNED), record_reason=None), ReturnReason.BEYOND_LOCAL_REPLICAS,
                 id="pinned-without-quota"),
    pytest.param(facts(record_reason="LocalQuotaReached"), ReturnReason.BEYOND_LOCAL_REPLICAS,
                 id="record-says-quota"),
]


@pytest.mark.parametrize(("case", "reason"), REFUSALS)
def test_rules_before_the_room(case: ReturnFacts, reason: ReturnReason) -> None:
    verdict = precheck(case)
    assert verdict is not None and not verdict.allowed
    assert verdict.reason == reason, verdict.message
    assert judge(case, ROOM, NOW - 3600).reason == reason, "judge applies the same rules first"


ROOM_REFUSALS: list[Any] = [
    pytest.param(facts(), NO_ROOM, None, ReturnReason.NO_LOCAL_ROOM, id="no-room"),
    pytest.param(facts(), ROOM, None, ReturnReason.ROOM_NOT_STABLE, id="room-just-appeared"),
    pytest.param(facts(), ROOM, NOW - 59, ReturnReason.ROOM_NOT_STABLE, id="room-59s"),
    pytest.param(facts(cloud_pod(bound_at="2027-01-15T07:56:00Z")), ROOM, NOW - 60, ReturnReason.TOO_SOON,
                 id="240s-in-cloud"),
    pytest.param(facts(busy="1 of 4 replicas not ready"), ROOM, NOW - 60, ReturnReason.WORKLOAD_BUSY, id="busy"),
    pytest.param(facts(budget_until=NOW + 5), ROOM, NOW - 60, ReturnReason.DISRUPTION_BUDGET, id="budget-429"),
    pytest.param(facts(returns_last_minute=10), ROOM, NOW - 60, ReturnReason.RATE_LIMITED, id="rate"),
]


@pytest.mark.parametrize(("case", "room", "since", "reason"), ROOM_REFUSALS)
def test_rules_after_the_room(case: ReturnFacts, room: Room, since: float | None, reason: ReturnReason) -> None:
    assert precheck(case) is None
    verdict = judge(case, room, since)
    assert (verdict.allowed, verdict.reason) == (False, reason), verdict.message


@pytest.mark.parametrize(("case", "origin"), [
    pytest.param(facts(), Origin.UNSCHEDULABLE, id="unschedulable-path"),
    pytest.param(facts(cloud_pod(annotations=quota(3)), local_count=2, record_reason="LocalQuotaReached"),
                 Origin.LOCAL_QUOTA, id="below-local-replicas-again"),
    pytest.param(facts(cloud_pod(owner=("StatefulSet", "db")), workload=WorkloadKey("StatefulSet", "default", "db")),
                 Origin.UNSCHEDULABLE, id="statefulset-without-claims"),
    pytest.param(facts(cloud_pod(annotations={RETURN_TO_LOCAL: "true"}), global_config={RETURN_TO_LOCAL: "false"}),
                 Origin.UNSCHEDULABLE, id="workload-opts-in"),
    pytest.param(facts(cooldown_until=NOW), Origin.UNSCHEDULABLE, id="cool-down-over"),
    pytest.param(facts(returns_last_minute=9, budget_until=NOW), Origin.UNSCHEDULABLE, id="limits-not-reached"),
])
def test_allowed_returns_name_the_node_and_the_origin(case: ReturnFacts, origin: Origin) -> None:
    verdict = judge(case, ROOM, NOW - 60)
    assert verdict.allowed and verdict.reason == ReturnReason.RETURNED, verdict.message
    assert (verdict.node, verdict.origin) == ("idc-1", origin)
    assert "evicted from super node eklet-subnet-a after 600 s in the cloud" in verdict.message


def test_rules_come_in_the_documented_order_with_one_reason_each() -> None:
    """Every refusal case, with every other rule passing, is refused by its own rule: so the first
    failing rule decides, whatever else fails (checked with a case failing everything)."""
    everything = facts(cloud_pod(owner=None, annotations=quota(0)), workload=WorkloadKey("Pod", "default", "x"),
                       global_config={}, cooldown_until=NOW + 1, busy="busy", budget_until=NOW + 1,
                       returns_last_minute=99)
    assert judge(everything, NO_ROOM, None).reason == ReturnReason.NOT_CONTROLLED
    assert [name for name, _ in (*BEFORE_ROOM, *AFTER_ROOM)] == [
        "controlled", "placed-by-spillway", "switch", "way-back", "cool-down", "local-replicas", "local-room",
        "room-stable", "time-in-cloud", "workload-ready", "disruption-budget", "rate"]
    assert len(REASONS) == len(BEFORE_ROOM) + len(AFTER_ROOM)


def test_a_rule_that_breaks_refuses_that_pod_only() -> None:
    odd = dataclasses.replace(facts(), global_config=None)  # type: ignore[arg-type]  # a hostile input
    verdict = judge(odd, ROOM, NOW - 60)
    assert (verdict.allowed, verdict.reason) == (False, "InternalError")


# ---- the facts --------------------------------------------------------------------------------

def test_room_stability_restarts_after_any_break() -> None:
    assert room_since(None, ROOM, 10.0) == 10.0
    assert room_since(10.0, ROOM, 20.0) == 10.0
    assert room_since(10.0, NO_ROOM, 30.0) is None
    assert room_since(None, ROOM, 40.0) == 40.0


def test_origin_from_the_record_else_from_the_pin() -> None:
    assert origin_of(cloud_pod(spec=PINNED), "UnschedulableLocally") is Origin.UNSCHEDULABLE
    assert origin_of(cloud_pod(), "LocalQuotaReached") is Origin.LOCAL_QUOTA
    assert origin_of(cloud_pod(spec=PINNED), None) is Origin.LOCAL_QUOTA
    assert origin_of(cloud_pod(), "OwedBindRefused") is Origin.UNSCHEDULABLE


def test_time_in_the_cloud_is_read_from_the_binding() -> None:
    assert cloud_since(cloud_pod()) == NOW - 600
    created = pod(metadata={"creationTimestamp": "2027-01-15T07:59:00Z"})
    assert cloud_since(created) == NOW - 60
    assert parse_time("2027-01-15T07:50:00.5Z") == NOW - 599.5
    assert parse_time("yesterday") is None and parse_time("9" * 100) is None and parse_time(None) is None
    assert parse_time("2027-01-15T07:50:00") is None, "no zone: not a time the API writes"


def test_a_workload_is_busy_while_a_replica_is_not_ready_or_leaving() -> None:
    ready = [cloud_pod("a"), cloud_pod("b")]
    assert workload_busy(ready) is None
    assert workload_busy([*ready, cloud_pod("c", ready=False)]) is not None
    assert workload_busy([*ready, cloud_pod("d", metadata={"deletionTimestamp": "2027-01-15T07:59:00Z"})]) is not None
    assert workload_busy([*ready, pod("pending")]) is not None
    assert workload_busy(ready, returning="default/web-0") is not None


def test_options_change_only_what_they_say() -> None:
    """switchPrecedence workload: a workload AUTO_SCALE_EKS false closes the way back even when the
    global switch is true."""
    case = facts(cloud_pod(annotations={"AUTO_SCALE_EKS": "false"}),
                 global_config={RETURN_TO_LOCAL: "true", "AUTO_SCALE_EKS": "true"})
    assert precheck(case) is None
    closed = precheck(dataclasses.replace(case, options=PolicyOptions(switch_precedence="workload")))
    assert closed is not None and closed.reason == ReturnReason.BURST_REFUSED


# ---- docs/reference.md says the same --------------------------------------------------------------

def reference_section(title: str) -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "reference.md").read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def test_the_documented_switch_table_is_the_code_s() -> None:
    rows = re.findall(r"^\| (`true`|`false`|unset) \| (`true`|`false`|unset) \| (on|off) \|",
                      reference_section("Return to the IDC"), re.M)
    parsed = {"`true`": True, "`false`": False, "unset": None}
    assert len(rows) == 9
    for global_text, workload_text, state in rows:
        assert return_switch_on(parsed[global_text], parsed[workload_text]) is (state == "on"), (global_text,
                                                                                              workload_text)


def test_the_documented_rules_are_the_code_s_in_order() -> None:
    rows = re.findall(r"^\| `([a-z-]+)` \| [^|]* \| `(Return[A-Za-z]+)` \|$", reference_section("Return to the IDC"),
                      re.M)
    assert [name for name, _ in rows] == [name for name, _ in (*BEFORE_ROOM, *AFTER_ROOM)]
    assert [code for _, code in rows] == [str(r) for r in REASONS]
