"""Placement's bookkeeping as tables: in-flight decisions, owed binds, reports sent once, warned
nodes; and its bounds: per-workload locks live only while used, deleted pods leave nothing behind
and the view's tombstones are capped. Pure: no NATS, no sandbox."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.placement.decider import Decider
from services.placement.ledger import Ledger, WorkloadLocks
from services.placement.view import ClusterView, Tombstones
from spillway.policy import PolicyOptions
from tests.policy.builders import pod

Step = tuple[Any, ...]


def apply(ledger: Ledger, steps: list[Step]) -> None:
    for name, *args in steps:
        getattr(ledger, name)(*args)


def state(ledger: Ledger, uid: str = "u1") -> dict[str, Any]:
    return {"in_flight": ledger.in_flight.get(uid), "binds": dict(ledger.pending_binds()), "owed": ledger.owed(uid),
            "remembered": ledger.remembers(uid)}


NOTHING: dict[str, Any] = {"in_flight": None, "binds": {}, "owed": None, "remembered": False}


@pytest.mark.parametrize(("steps", "expected"), [
    pytest.param([], NOTHING, id="nothing begun"),
    pytest.param([("began", "u1", "local")], {**NOTHING, "in_flight": "local", "remembered": True},
                 id="local decision in flight, no node counted"),
    pytest.param([("began", "u1", "cloud", "n1")],
                 {"in_flight": "cloud", "binds": {"n1": 1}, "owed": None, "remembered": True},
                 id="cloud decision counts on its node until bound"),
    pytest.param([("began", "u1", "cloud", "n1"), ("began", "u2", "cloud", "n1"), ("began", "u3", "cloud", "n2")],
                 {"in_flight": "cloud", "binds": {"n1": 2, "n2": 1}, "owed": None, "remembered": True},
                 id="pending binds per node"),
    pytest.param([("began", "u1", "cloud", "n1"), ("owe_bind", "u1", "n1")],
                 {"in_flight": "cloud", "binds": {"n1": 1}, "owed": "n1", "remembered": True},
                 id="patched: the bind is owed"),
    pytest.param([("began", "u1", "cloud", "n1"), ("owe_bind", "u1", "n1"), ("bound", "u1")],
                 {"in_flight": "cloud", "binds": {"n1": 1}, "owed": None, "remembered": True},
                 id="bound: nothing owed, in flight until the view shows it"),
    pytest.param([("began", "u1", "cloud", "n1"), ("owe_bind", "u1", "n1"), ("settled", "u1")], NOTHING,
                 id="settled: nothing in flight, nothing owed"),
    pytest.param([("began", "u1", "cloud", "n1"), ("should_publish", "u1", ("cloud", "r", "n1")), ("settled", "u1")],
                 {**NOTHING, "remembered": True}, id="settled keeps what was reported"),
    pytest.param([("began", "u1", "cloud", "n1"), ("owe_bind", "u1", "n1"),
                  ("should_record_event", "u1", "BurstToCloud", "m"), ("should_publish", "u1", ("cloud", "r", "n1")),
                  ("forget", "u1")], NOTHING, id="forget: a deleted pod leaves nothing"),
    pytest.param([("began", "u2", "cloud", "n1"), ("forget", "u1")],
                 {**NOTHING, "binds": {"n1": 1}}, id="forget touches only its own pod"),
])
def test_ledger_operations(steps: list[Step], expected: dict[str, Any]) -> None:
    ledger = Ledger()
    apply(ledger, steps)
    assert state(ledger) == expected


@pytest.mark.parametrize("write", [
    pytest.param(("began", "u1", "cloud", "n1"), id="began"),
    pytest.param(("owe_bind", "u1", "n1"), id="owe_bind"),
    pytest.param(("should_record_event", "u1", "BurstToCloud", "m"), id="event"),
    pytest.param(("should_publish", "u1", ("cloud", "r", "n1")), id="record"),
])
def test_nothing_is_kept_about_a_pod_already_deleted(write: Step) -> None:
    """A decision awaiting the API when its pod was deleted writes after `forget`: not kept."""
    ledger = Ledger(gone={"u1"})
    apply(ledger, [write])
    assert state(ledger) == NOTHING


@pytest.mark.parametrize(("steps", "expected"), [
    pytest.param([("ask", "u1", "A", "m")], [True], id="first time: record it"),
    pytest.param([("ask", "u1", "A", "m"), ("ask", "u1", "A", "m")], [True, False], id="a repeat is not recorded"),
    pytest.param([("ask", "u1", "A", "m"), ("ask", "u1", "A", "other"), ("ask", "u1", "B", "m")], [True, True, True],
                 id="another reason or message is another event"),
    pytest.param([("ask", "u1", "A", "m"), ("ask", "u2", "A", "m")], [True, True], id="per pod"),
    pytest.param([("ask", "u1", "A", "m"), ("failed", "u1", "A", "m"), ("ask", "u1", "A", "m"),
                  ("ask", "u1", "A", "m")], [True, True, False], id="not recorded: tried again, once"),
    pytest.param([("ask", "u1", "A", "m"), ("failed", "u1", "B", "m"), ("ask", "u1", "A", "m")], [True, False],
                 id="another event's failure releases nothing"),
    pytest.param([("ask", "u1", "A", "m"), ("forget", "u1"), ("ask", "u1", "A", "m")], [True, True],
                 id="forgotten with its pod"),
])
def test_events_are_recorded_once_unless_they_failed(steps: list[Step], expected: list[bool]) -> None:
    ledger = Ledger()
    answers = []
    for op, *args in steps:
        if op == "ask":
            answers.append(ledger.should_record_event(*args))
        elif op == "failed":
            ledger.event_not_recorded(*args)
        else:
            ledger.forget(*args)
    assert answers == expected


@pytest.mark.parametrize(("summaries", "expected"), [
    pytest.param([("refused", "FixedIPForbidden", "")] * 3, [True, False, False], id="a repeated refusal once"),
    pytest.param([("refused", "NoSuperNode", ""), ("cloud", "LocalQuotaReached", "n1"), ("refused", "NoSuperNode", "")],
                 [True, True, True], id="each change"),
    pytest.param([("cloud", "LocalQuotaReached", "n1"), ("cloud", "LocalQuotaReached", "n2")], [True, True],
                 id="another node"),
])
def test_records_are_published_when_they_change(summaries: list[tuple[str, str, str]], expected: list[bool]) -> None:
    ledger = Ledger()
    assert [ledger.should_publish("u1", s) for s in summaries] == expected


def test_a_foreign_node_is_warned_about_until_it_was_and_again_when_it_comes_back() -> None:
    ledger = Ledger()
    ledger.foreign_nodes({"eklet-legacy"})
    assert ledger.should_warn_about("eklet-legacy")
    ledger.warned_about("eklet-legacy")
    assert not ledger.should_warn_about("eklet-legacy")
    ledger.foreign_nodes({"eklet-legacy", "eklet-other"})
    assert not ledger.should_warn_about("eklet-legacy") and ledger.should_warn_about("eklet-other")
    ledger.foreign_nodes(set())  # it left (or became ours)
    ledger.foreign_nodes({"eklet-legacy"})
    assert ledger.should_warn_about("eklet-legacy")


@pytest.mark.parametrize(("target", "seen", "still_in_flight"), [
    pytest.param("local", {"gated": True}, True, id="local: still gated"),
    pytest.param("local", {}, False, id="local: gate gone"),
    pytest.param("local", {"gated": True, "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}, False,
                 id="local: terminating"),
    pytest.param("cloud", {}, True, id="cloud: patched, not bound yet"),
    pytest.param("cloud", {"gated": True}, True, id="cloud: still gated"),
    pytest.param("cloud", {"spec": {"nodeName": "eklet-subnet-a"}}, False, id="cloud: bound"),
    pytest.param("cloud", {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}, False,
                 id="cloud: terminating"),
])
def test_an_in_flight_decision_ends_when_the_view_shows_its_result(target: Any, seen: dict[str, Any],
                                                                  still_in_flight: bool) -> None:
    ledger = Ledger()
    ledger.began("uid-web-1", target, "eklet-subnet-a" if target == "cloud" else None)
    if target == "cloud":
        ledger.owe_bind("uid-web-1", "eklet-subnet-a")
    ledger.observed(pod(**seen))
    assert ledger.is_in_flight("uid-web-1") is still_in_flight
    assert (ledger.owed("uid-web-1") is not None) is (still_in_flight and target == "cloud")
    ledger.observed(pod("other", spec={"nodeName": "n"}))  # another pod's change changes nothing
    assert ledger.is_in_flight("uid-web-1") is still_in_flight


# ---- bounds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cap", "added", "kept"), [
    pytest.param(3, ["a", "b"], ["a", "b"], id="under the cap"),
    pytest.param(3, ["a", "b", "c", "d", "e"], ["c", "d", "e"], id="the oldest go first"),
    pytest.param(3, ["a", "b", "c", "a", "d"], ["c", "a", "d"], id="seen again: newest"),
])
def test_tombstones_are_capped(cap: int, added: list[str], kept: list[str]) -> None:
    tombstones = Tombstones(cap)
    for uid in added:
        tombstones.add(uid)
    assert len(tombstones) == len(kept)
    assert [uid for uid in "abcde" if uid in tombstones] == sorted(kept)


def decider_on(view: ClusterView) -> Decider:
    # the bookkeeping under test never reaches the API, the bus or the recorder
    return Decider(view, client=None, bus=None, recorder=None, options=PolicyOptions())  # type: ignore[arg-type]


def test_the_decider_forgets_a_deleted_pod_and_keeps_nothing_written_after() -> None:
    view = ClusterView()
    ledger = decider_on(view).ledger
    view.upsert_pod(pod("p0", gated=True))
    ledger.began("uid-p0", "cloud", "eklet-a")
    ledger.owe_bind("uid-p0", "eklet-a")
    assert ledger.should_record_event("uid-p0", "BurstToCloud", "bound")
    assert ledger.should_publish("uid-p0", ("cloud", "LocalQuotaReached", "eklet-a"))
    view.remove_pod("default/p0")
    assert not ledger.remembers("uid-p0") and not ledger.pending_binds()
    # the decision that was awaiting the API goes on: its reports are sent, nothing is kept
    ledger.owe_bind("uid-p0", "eklet-a")
    assert ledger.should_record_event("uid-p0", "BurstToCloud", "bound")
    assert ledger.should_publish("uid-p0", ("cloud", "LocalQuotaReached", "eklet-a"))
    assert not ledger.remembers("uid-p0")


def test_a_reused_name_is_the_old_pod_deleted() -> None:
    """A missed deletion (a new uid under the name) still makes the view and the ledger forget
    the old pod, and a late event about it does not bring it back."""
    view = ClusterView()
    ledger = decider_on(view).ledger
    old, new = pod("db-0", uid="old", gated=True), pod("db-0", uid="new", gated=True)
    view.upsert_pod(old)
    ledger.began("old", "local")
    assert ledger.should_publish("old", ("local", "KeptLocal", ""))
    view.upsert_pod(new)
    assert not ledger.remembers("old") and "old" in view.deleted_uids
    assert view.upsert_pod(old) == new and view.pods["default/db-0"] == new


async def test_workload_locks_serialize_a_workload_and_are_dropped_when_unused() -> None:
    locks = WorkloadLocks()
    keys = ("web", "db")
    inside = dict.fromkeys(keys, 0)
    most = dict.fromkeys(keys, 0)
    first_in = {key: asyncio.Event() for key in keys}
    release = asyncio.Event()

    async def decide(key: str, i: int) -> None:
        async with locks.hold(key):
            inside[key] += 1
            most[key] = max(most[key], inside[key])
            if i == 0:
                first_in[key].set()
                await release.wait()  # the others of its workload wait meanwhile
            await asyncio.sleep(0)
            inside[key] -= 1

    tasks = [asyncio.create_task(decide(key, i)) for key in keys for i in range(3)]
    for event in first_in.values():
        await event.wait()  # both workloads hold their lock at once
    assert len(locks) == 2
    release.set()
    await asyncio.gather(*tasks)
    assert most == dict.fromkeys(keys, 1) and len(locks) == 0


async def test_a_lock_is_kept_while_someone_waits_for_it() -> None:
    """Dropped while a waiter waited, the next comer would make a new lock and decide alongside."""
    locks = WorkloadLocks()
    entered = [asyncio.Event() for _ in range(3)]
    leave = [asyncio.Event() for _ in range(3)]

    async def decide(i: int) -> None:
        async with locks.hold("web"):
            entered[i].set()
            await leave[i].wait()

    tasks = [asyncio.create_task(decide(0))]
    await entered[0].wait()
    tasks.append(asyncio.create_task(decide(1)))
    await asyncio.sleep(0)  # 1 waits for the lock
    leave[0].set()
    await entered[1].wait()  # 0 left, 1 holds
    tasks.append(asyncio.create_task(decide(2)))
    await asyncio.sleep(0)  # 2 tries
    assert not entered[2].is_set()
    leave[1].set()
    await entered[2].wait()
    leave[2].set()
    await asyncio.gather(*tasks)
    assert len(locks) == 0


async def test_a_cancelled_waiter_leaves_no_lock_behind() -> None:
    locks = WorkloadLocks()
    held, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with locks.hold("web"):
            held.set()
            await release.wait()

    async def waiter() -> None:
        async with locks.hold("web"):
            raise AssertionError("never gets the lock")

    first = asyncio.create_task(holder())
    await held.wait()
    second = asyncio.create_task(waiter())
    await asyncio.sleep(0)  # the waiter now waits for the lock
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert len(locks) == 1
    release.set()
    await first
    assert len(locks) == 0


async def test_many_workloads_leave_no_locks() -> None:
    locks = WorkloadLocks()

    async def decide(key: str) -> None:
        async with locks.hold(key):
            await asyncio.sleep(0)

    await asyncio.gather(*(decide(f"Deployment/default/w{i}") for i in range(500)))
    assert len(locks) == 0
