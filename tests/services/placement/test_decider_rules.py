"""The decider's rules as tables: when a pod is skipped, which pending pods a resync decides, when a
bind a dead decider owed is finished; Events remembered only once recorded; which API refusals are
tried again, and how long apart. Pure: the view, the ledger and fakes for the recorder, the bus, the
API client and the clock, no NATS, no sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from services.placement.decider import Decider, owed_bind, skip_reason
from services.placement.ledger import Ledger
from services.placement.view import ClusterView
from spillway.bus import TemporaryError
from spillway.kube import KubeError, NotFound
from spillway.kube.events import ObjectRef
from spillway.model.kube import PLACEMENT_GATE, Node, Pod
from spillway.policy import PolicyOptions, Trigger, WorkloadKey
from tests.fixtures.clock import FakeClock
from tests.policy.builders import deep_merge, local_node, pod, super_node

GATED = Trigger.GATED
UNSCHEDULABLE = Trigger.UNSCHEDULABLE
UID = "uid-web-1"
TERMINATING = {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}
BOUND = {"spec": {"nodeName": "idc-1"}}
GATE = {"spec": {"schedulingGates": [{"name": PLACEMENT_GATE}]}}
OTHER_GATE = {"spec": {"schedulingGates": [{"name": "example.com/quota"}]}}
BOTH_GATES = {"spec": {"schedulingGates": [{"name": PLACEMENT_GATE}, {"name": "example.com/quota"}]}}
UNSCHEDULABLE_NOW = {"status": {"conditions": [{"type": "PodScheduled", "status": "False",
                                                "reason": "Unschedulable"}]}}
SCHEDULING = {"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulerError"}]}}
TOLERATION = {"key": "eks.tke.cloud.tencent.com/eklet", "operator": "Exists", "effect": "NoSchedule"}
CLOUD_BIND = "spillway.io/cloud-bind"
MANAGED = frozenset({"eklet-subnet-a", "eklet-subnet-b", "eklet-subnet-c"})
NODES: dict[str, Node] = {
    "eklet-subnet-a": super_node("eklet-subnet-a"),
    "eklet-legacy": super_node("eklet-legacy"),  # a super node, not one of ours
    "eklet-subnet-c": local_node("eklet-subnet-c"),  # our name, but not labelled as a super node
    "idc-1": local_node("idc-1"),
}


def make(*parts: dict[str, Any], name: str = "web-1", namespace: str = "default") -> Pod:
    merged: dict[str, Any] = {}
    for part in parts:
        merged = deep_merge(merged, part)
    return pod(name, namespace, **merged)


def in_flight(target: Any = None, *, owes: str | None = None, gone: frozenset[str] = frozenset()) -> Ledger:
    ledger = Ledger(gone=gone)
    if target is not None:
        ledger.began(UID, target, "eklet-subnet-a" if target == "cloud" else None)
    if owes is not None:
        ledger.owe_bind(UID, owes)
    return ledger


# ---- skip rules ----------------------------------------------------------------------------------

SKIP_ROWS = [
    # (pod, trigger, ledger, owed by a dead decider, why skipped)
    pytest.param((GATE,), GATED, in_flight(), None, None, id="gated, gated trigger: decide"),
    pytest.param((GATE, UNSCHEDULABLE_NOW), GATED, in_flight(), None, None, id="gated and unschedulable: decide"),
    pytest.param((), GATED, in_flight(), None, "no longer gated", id="gate lifted meanwhile"),
    pytest.param((OTHER_GATE,), GATED, in_flight(), None, "no longer gated", id="only another gate"),
    pytest.param((UNSCHEDULABLE_NOW,), UNSCHEDULABLE, in_flight(), None, None, id="unschedulable, ungated: decide"),
    pytest.param((), UNSCHEDULABLE, in_flight(), None, "no longer unschedulable", id="no longer unschedulable"),
    pytest.param((SCHEDULING,), UNSCHEDULABLE, in_flight(), None, "no longer unschedulable",
                 id="PodScheduled False for another reason"),
    pytest.param((GATE, UNSCHEDULABLE_NOW), UNSCHEDULABLE, in_flight(), None, "no longer unschedulable",
                 id="unschedulable trigger while gated"),
    pytest.param((OTHER_GATE, UNSCHEDULABLE_NOW), UNSCHEDULABLE, in_flight(), None, "no longer unschedulable",
                 id="unschedulable trigger while another gate holds it"),
    pytest.param((BOTH_GATES,), GATED, in_flight(), None, None, id="our gate among others: decide"),
    pytest.param((GATE, TERMINATING), GATED, in_flight(), None, "terminating", id="terminating"),
    pytest.param((TERMINATING,), GATED, in_flight("cloud", owes="eklet-subnet-a"), "eklet-subnet-a", "terminating",
                 id="terminating beats an owed bind"),
    pytest.param((BOUND, UNSCHEDULABLE_NOW), UNSCHEDULABLE, in_flight(), None, "already bound", id="already bound"),
    pytest.param((BOUND,), GATED, in_flight("cloud", owes="eklet-subnet-a"), None, "already bound",
                 id="bound meanwhile, bind owed: bound beats it"),
    pytest.param((GATE,), GATED, in_flight("local"), None, "decided, in flight", id="gated, local in flight"),
    pytest.param((UNSCHEDULABLE_NOW,), UNSCHEDULABLE, in_flight("cloud"), None, "decided, in flight",
                 id="unschedulable, cloud in flight"),
    pytest.param((), GATED, in_flight("cloud"), "eklet-subnet-a", "decided, in flight",
                 id="owed by a dead decider but decided here, in flight"),
    pytest.param((), GATED, in_flight("cloud", owes="eklet-subnet-a"), None, None,
                 id="this decider owes the bind: finish it, not gated any more"),
    pytest.param((), UNSCHEDULABLE, in_flight(owes="eklet-subnet-a"), None, None,
                 id="bind owed, not unschedulable: finish it"),
    pytest.param((), GATED, in_flight(), "eklet-subnet-a", None, id="owed by a dead decider: decide again"),
    pytest.param((), UNSCHEDULABLE, in_flight(), "eklet-subnet-a", None,
                 id="owed by a dead decider, not unschedulable: decide again"),
]


@pytest.mark.parametrize(("parts", "trigger", "ledger", "owed", "why"), SKIP_ROWS)
def test_skip_rules(parts: tuple[dict[str, Any], ...], trigger: Trigger, ledger: Ledger, owed: str | None,
                    why: str | None) -> None:
    assert skip_reason(make(*parts), trigger, ledger, owed) == why


# ---- owed binds ----------------------------------------------------------------------------------


def pinned(*parts: dict[str, Any], node: str = "eklet-subnet-a", bind: str | None = "eklet-subnet-a/" + UID,
           tolerated: bool = True, terms: list[dict[str, Any]] | None = None) -> Pod:
    """A pod as the cloud patch leaves it: tolerating super nodes, pinned to one by matchFields,
    ungated, with our record of the bind (`<node>/<uid>`)."""
    if terms is None:
        terms = [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
    body: dict[str, Any] = {"spec": {
        "tolerations": [TOLERATION] if tolerated else [],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}},
    }}
    if bind is not None:
        body["metadata"] = {"annotations": {CLOUD_BIND: bind}}
    return make(body, *parts)


def fields(*pairs: tuple[str, str, list[str]]) -> dict[str, Any]:
    return {"matchFields": [{"key": key, "operator": op, "values": values} for key, op, values in pairs]}


NAME_IN_A = ("metadata.name", "In", ["eklet-subnet-a"])
OWED_ROWS = [
    pytest.param(pinned(), "eklet-subnet-a", id="our record with its own uid: owed"),
    pytest.param(pinned(bind=None), None, id="no record"),
    pytest.param(pinned(bind="eklet-subnet-a/uid-of-the-original"), None, id="a copied manifest: another uid"),
    pytest.param(pinned(bind="eklet-subnet-a"), None, id="no uid in the record"),
    pytest.param(pinned(bind="eklet-subnet-a/"), None, id="an empty uid"),
    pytest.param(pinned(bind="/" + UID), None, id="an empty node"),
    pytest.param(pinned(bind="eklet-subnet-b/" + UID), None, id="recorded for another node than pinned"),
    pytest.param(pinned(tolerated=False), None, id="no super-node toleration"),
    pytest.param(pinned(terms=[]), None, id="not pinned"),
    pytest.param(pinned(terms=[fields(("metadata.name", "In", ["eklet-subnet-a", "eklet-subnet-b"]))]), None,
                 id="pinned to two nodes"),
    pytest.param(pinned(terms=[fields(NAME_IN_A), fields(("metadata.name", "In", ["eklet-subnet-b"]))]), None,
                 id="two terms, two nodes"),
    pytest.param(pinned(terms=[fields(NAME_IN_A), fields(NAME_IN_A)]), "eklet-subnet-a",
                 id="two terms, one node"),
    pytest.param(pinned(terms=[fields(("metadata.name", "NotIn", ["eklet-subnet-a"]))]), None, id="NotIn"),
    pytest.param(pinned(terms=[{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                                                      "values": ["eklet-subnet-a"]}]}]), None,
                 id="pinned by label, not by name"),
    pytest.param(pinned(node="eklet-subnet-b", bind="eklet-subnet-b/" + UID), None,
                 id="our node name, not registered"),
    pytest.param(pinned(node="eklet-legacy", bind="eklet-legacy/" + UID), None, id="a foreign super node"),
    pytest.param(pinned(node="eklet-subnet-c", bind="eklet-subnet-c/" + UID), None,
                 id="our node name on a node not labelled as a super node"),
    pytest.param(pinned(node="idc-1", bind="idc-1/" + UID), None, id="a local node"),
    pytest.param(pinned(GATE), None, id="still gated"),
    pytest.param(pinned(BOUND), None, id="bound"),
    pytest.param(pinned(TERMINATING), None, id="terminating"),
]


@pytest.mark.parametrize(("subject", "owed"), OWED_ROWS)
def test_owed_bind(subject: Pod, owed: str | None) -> None:
    assert owed_bind(subject, NODES, MANAGED) == owed


# ---- what a resync decides -------------------------------------------------------------------------


@pytest.mark.parametrize(("subject", "target", "trigger"), [
    pytest.param(make(GATE), None, GATED, id="gated"),
    pytest.param(make(GATE, UNSCHEDULABLE_NOW), None, GATED, id="gated and unschedulable: as gated"),
    pytest.param(make(UNSCHEDULABLE_NOW), None, UNSCHEDULABLE, id="unschedulable"),
    pytest.param(make(OTHER_GATE, UNSCHEDULABLE_NOW), None, None, id="unschedulable behind another gate"),
    pytest.param(make(), None, None, id="released"),
    pytest.param(make(BOUND), None, None, id="bound"),
    pytest.param(make(GATE, TERMINATING), None, None, id="terminating"),
    pytest.param(make(GATE), "local", None, id="in flight"),
    pytest.param(pinned(), None, UNSCHEDULABLE, id="bind owed by a dead decider"),
    pytest.param(pinned(), "cloud", None, id="bind owed, in flight here"),
    pytest.param(pinned(bind="eklet-subnet-a/uid-of-the-original"), None, None, id="a copied record"),
])
def test_pending_pods_of_a_resync(subject: Pod, target: Any, trigger: Trigger | None) -> None:
    view = ClusterView()
    view.nodes.update(NODES)
    decider = Decider(view, client=None, bus=None, recorder=None,  # type: ignore[arg-type]  # pending() uses none
                      options=PolicyOptions(subnets=(("subnet-a", "ap-guangzhou-3"),)))
    view.upsert_pod(subject)
    if target is not None:
        decider.ledger.began(UID, target)
    assert decider.pending() == ([] if trigger is None else [("default/web-1", trigger)])


# ---- Events are remembered only once recorded --------------------------------------------------------


@dataclass
class FakeRecorder:
    """`EventRecorder.record`'s answers in turn (True recorded, False refused, or an error), then True."""

    answers: list[bool | Exception] = field(default_factory=list)
    calls: list[tuple[str, str, str]] = field(default_factory=list)

    async def record(self, ref: ObjectRef, event_type: str, reason: str, message: str) -> bool:
        self.calls.append((ref.kind, ref.name, reason))
        answer = self.answers.pop(0) if self.answers else True
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class FakeBus:
    published: list[Any] = field(default_factory=list)

    async def kv(self, bucket: str) -> FakeBus:
        return self

    async def put(self, key: str, value: bytes) -> None:
        pass

    async def publish(self, message: Any, msg_id: str = "") -> None:
        self.published.append(message)


def decider_with(recorder: FakeRecorder, *pods: Pod, client: Any = None,
                 clock: FakeClock | None = None) -> tuple[Decider, FakeBus]:
    view = ClusterView()
    view.nodes.update(NODES)
    bus = FakeBus()
    decider = Decider(view, client=client, bus=bus, recorder=recorder,  # type: ignore[arg-type]  # duck-typed fakes
                      options=PolicyOptions(subnets=(("subnet-a", "ap-guangzhou-3"),)),
                      clock=clock or FakeClock(wall_start=1000.0))
    for each in pods:
        view.upsert_pod(each)
    return decider, bus


REFUSALS = [
    pytest.param(False, id="refused by the API server (record returns False)"),
    pytest.param(KubeError(503, "ServiceUnavailable", "etcd down"), id="a server error"),
]


@pytest.mark.parametrize("failure", REFUSALS)
async def test_a_decision_event_not_recorded_is_tried_again(failure: bool | Exception) -> None:
    recorder = FakeRecorder([failure])
    decider, bus = decider_with(recorder, make(UNSCHEDULABLE_NOW, name="odd", namespace="kube-system"))
    for _ in range(3):  # a refused pod is decided again at every resync
        await decider.decide_pod("kube-system/odd", UNSCHEDULABLE)
    assert recorder.calls == [("Pod", "odd", "NamespaceExcluded")] * 2
    assert len(bus.published) == 1 and bus.published[0].reason == "NamespaceExcluded"


@pytest.mark.parametrize("failure", REFUSALS)
async def test_unmanaged_super_node_warnings_not_recorded_are_tried_again(failure: bool | Exception) -> None:
    recorder = FakeRecorder([failure, failure])
    decider, _ = decider_with(recorder, make({"spec": {"nodeName": "eklet-legacy"}}, name="stranded"))
    for _ in range(3):
        await decider.warn_unmanaged()
    warnings = [("Node", "eklet-legacy", "UnmanagedSuperNode"), ("Pod", "stranded", "UnmanagedSuperNode")]
    assert recorder.calls == warnings * 2


@pytest.mark.parametrize("failure", REFUSALS)
async def test_a_backoff_warning_not_recorded_is_tried_again(failure: bool | Exception) -> None:
    workload = WorkloadKey("ReplicaSet", "default", "web-5d4f")
    pods = [make(UNSCHEDULABLE_NOW, {"metadata": {"ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d4f", "uid": "rs", "controller": True}]}},
        name=f"web-{i}") for i in range(3)]
    recorder = FakeRecorder()
    decider, _ = decider_with(recorder, *pods)
    assert decider.backoffs.failed(workload, 990.0, "QuotaExceeded") is not None
    recorder.answers = [True, failure]  # the first pod's own Warning, then the workload's
    for each in pods:
        await decider.decide_pod(each.key, UNSCHEDULABLE)
    on_workload = [call for call in recorder.calls if call[0] == "ReplicaSet"]
    assert on_workload == [("ReplicaSet", "web-5d4f", "CloudFailureBackoff")] * 2
    assert [call[1] for call in recorder.calls if call[0] == "Pod"] == ["web-0", "web-1", "web-2"]


# ---- API refusals tried again, on the decider's clock ----------------------------------------------


@dataclass
class FakeKube:
    """`patch` and `bind_pod` answer in turn from their scripts (an error is raised, None succeeds),
    then succeed; `calls` records both in order."""

    patches: list[Exception | None] = field(default_factory=list)
    binds: list[Exception | None] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    async def patch(self, path: str, body: Any, *, content_type: str = "") -> bytes:
        self.calls.append("patch")
        if self.patches and (answer := self.patches.pop(0)) is not None:
            raise answer
        return b"{}"

    async def bind_pod(self, namespace: str, name: str, node: str) -> bool:
        self.calls.append("bind")
        if self.binds and (answer := self.binds.pop(0)) is not None:
            raise answer
        return True


def kube_error(status: int) -> KubeError:
    return NotFound(status, "NotFound", "gone") if status == 404 else KubeError(status, "Reason", f"HTTP {status}")


BURSTING = make(GATE, {"metadata": {"annotations": {"LOCAL_REPLICAS": "0"}}})
"""Gated with a zero local quota: a cloud patch to eklet-subnet-a, then the bind."""


async def burst(kube: FakeKube) -> tuple[Decider, FakeClock, FakeBus]:
    clock = FakeClock(wall_start=1000.0, auto_advance=True)
    decider, bus = decider_with(FakeRecorder(), BURSTING, client=kube, clock=clock)
    await decider.decide_pod(BURSTING.key, GATED)
    return decider, clock, bus


async def test_patch_and_bind_retries_wait_on_the_deciders_clock() -> None:
    kube = FakeKube(patches=[kube_error(503), kube_error(429)], binds=[kube_error(500), kube_error(422)])
    decider, clock, bus = await burst(kube)
    assert kube.calls == ["patch"] * 3 + ["bind"] * 3
    assert clock.slept == [0.2, 0.4, 0.1, 0.2]
    assert decider.stats.api_writes == 3  # the patch, the bind, the Event: each counted once
    assert decider.ledger.owed(UID) is None
    assert [(d.outcome, d.node) for d in bus.published] == [("cloud", "eklet-subnet-a")]


@pytest.mark.parametrize("status", [400, 403, 409])
async def test_a_cloud_patch_refused_otherwise_is_final_at_once(status: int) -> None:
    kube = FakeKube(patches=[kube_error(status)])
    decider, clock, bus = await burst(kube)
    assert kube.calls == ["patch", "patch"]  # the refused cloud patch, then the gate lifted
    assert clock.slept == []
    assert [(d.outcome, d.reason) for d in bus.published] == [("local", "CloudPatchRefused")]
    assert decider.stats.patch_refused == 1


async def test_a_cloud_patch_still_failing_after_three_tries_is_refused() -> None:
    kube = FakeKube(patches=[kube_error(503)] * 3)
    decider, clock, bus = await burst(kube)
    assert kube.calls == ["patch"] * 4  # three tries, then the gate lifted
    assert clock.slept == [0.2, 0.4]
    assert [(d.outcome, d.reason) for d in bus.published] == [("local", "CloudPatchRefused")]
    assert decider.stats.patch_refused == 1


async def test_a_bind_still_refused_after_three_tries_is_a_temporary_error() -> None:
    kube = FakeKube(binds=[kube_error(503), kube_error(422), kube_error(403)])
    clock = FakeClock(wall_start=1000.0, auto_advance=True)
    decider, _ = decider_with(FakeRecorder(), BURSTING, client=kube, clock=clock)
    with pytest.raises(TemporaryError, match="HTTP 403"):
        await decider.decide_pod(BURSTING.key, GATED)
    assert kube.calls == ["patch"] + ["bind"] * 3
    assert clock.slept == [0.1, 0.2]
    assert decider.ledger.owed(UID) == "eklet-subnet-a"  # still owed: the redelivery finishes it


@pytest.mark.parametrize("status", [404, 409])
async def test_a_bind_to_a_gone_or_taken_pod_is_not_tried_again(status: int) -> None:
    kube = FakeKube(binds=[kube_error(status)])
    decider, clock, _ = await burst(kube)
    assert kube.calls == ["patch", "bind"]
    assert clock.slept == []
    assert decider.ledger.owed(UID) is None and not decider.ledger.pending_binds()


async def test_a_bind_failing_outside_the_api_is_not_tried_again() -> None:
    kube = FakeKube(binds=[ConnectionResetError("reset")])
    clock = FakeClock(wall_start=1000.0, auto_advance=True)
    decider, _ = decider_with(FakeRecorder(), BURSTING, client=kube, clock=clock)
    with pytest.raises(ConnectionResetError):
        await decider.decide_pod(BURSTING.key, GATED)
    assert kube.calls == ["patch", "bind"]
    assert clock.slept == []
