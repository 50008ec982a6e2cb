"""Return to the IDC: which cloud pods may come home, and when — pure and table-driven.

Why pure: placement's return loop gathers the facts (the pod, its workload's local count, the
switches, how long it has been in the cloud, the local room and since when, the workload's
cool-down, the returns of the last minute) and acts on the verdict; the tests walk every row
without a cluster. Each rule is a small function with one reason code, in the order below; the
first that refuses decides. Rules that come before the room is judged are cheap and say the pod
never qualifies now; the ones after it keep the room's stability measured while they wait.

The guiding question of every rule is "where will the replacement go?": the eviction only
removes the cloud pod, its controller makes a new one that takes the normal path. A return is
allowed only when that path ends locally — LOCAL_REPLICAS not reached (else the gated path bursts
it again), room the default scheduler would find (`local_fit`), the way back to the cloud still
open in case the room vanishes meanwhile (bursting allowed) — and when taking one replica away
for a moment is safe (the rest of the workload ready, one return at a time).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from spillway.model.kube import ANNOTATION_AUTO_SCALE, ANNOTATION_LOCAL_REPLICAS, ANNOTATION_RETURN_TO_LOCAL, Pod
from spillway.model.specs import show_value
from spillway.policy.decision import DecisionReason, one_line
from spillway.policy.local_fit import Room, pinned_to_its_node
from spillway.policy.options import PolicyOptions
from spillway.policy.patches import owed_bind_node
from spillway.policy.switches import (
    GLOBAL_SWITCH_SOURCE,
    WORKLOAD_SWITCH_SOURCE,
    evaluate_switches,
    parse_local_replicas,
    parse_switch,
)
from spillway.policy.workload import BARE_POD, DEPLOYMENT, REPLICA_SET, STATEFUL_SET, WorkloadKey

RETURN_TO_LOCAL = ANNOTATION_RETURN_TO_LOCAL
"""The switch: a key of ConfigMap kube-system/eks-config (global) and a pod (template) annotation."""
RETURN_PATH = "return"
"""The path (`trigger`) of a return's decision record, as `gated` and `unschedulable` are the others'."""


class ReturnReason(StrEnum):
    """Why a cloud pod was, or was not, sent home (documented in docs/reference.md)."""

    RETURNED = "ReturnedToLocal"
    SWITCH_OFF = "ReturnSwitchOff"
    NOT_CONTROLLED = "ReturnNotControlled"
    NOT_PLACED = "ReturnNotPlacedBySpillway"
    BURST_REFUSED = "ReturnBurstRefused"
    COOL_DOWN = "ReturnCoolDown"
    BEYOND_LOCAL_REPLICAS = "ReturnBeyondLocalReplicas"
    NO_LOCAL_ROOM = "ReturnNoLocalRoom"
    ROOM_NOT_STABLE = "ReturnRoomNotStable"
    TOO_SOON = "ReturnTooSoon"
    WORKLOAD_BUSY = "ReturnWorkloadBusy"
    DISRUPTION_BUDGET = "ReturnDisruptionBudget"
    RATE_LIMITED = "ReturnRateLimited"
    EVICTION_REFUSED = "ReturnEvictionRefused"
    BOUNCED = "ReturnBounced"


@dataclass(frozen=True, slots=True)
class ReturnSettings:
    """The timings (config `placement.returnToLocal.*`, docs/reference.md)."""

    stable_seconds: float = 60.0
    """Room must have been there this long, without a break, before a pod is sent to it."""
    min_cloud_seconds: float = 300.0
    """A pod stays in the cloud at least this long (a spike rarely ends the minute it began)."""
    max_per_minute: int = 10
    """Evictions in any 60 s, cluster-wide."""
    cooldown_seconds: float = 600.0
    """A workload whose replacement burst again (or never ran locally) is left alone this long."""
    settle_seconds: float = 120.0
    """How long a return waits for its replacement to run locally before it counts as failed."""
    check_seconds: float = 10.0
    """How often the cloud pods are looked at."""


# ---- the switch -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ReturnSwitch:
    """The RETURN_TO_LOCAL table's answer for one pod, the values it read, malformed ones reported."""

    on: bool
    global_value: bool | None
    workload_value: bool | None
    warnings: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        word = "on" if self.on else "off"
        return (f"return to the IDC {word}: global {RETURN_TO_LOCAL}={_show(self.global_value)}, "
                f"workload {RETURN_TO_LOCAL}={_show(self.workload_value)}")


def _show(value: bool | None) -> str:
    return "unset" if value is None else str(value).lower()


def return_switch_on(global_value: bool | None, workload_value: bool | None) -> bool:
    """The switch table: an explicit workload value decides; otherwise the global one; unset
    everywhere is off (a pod is only ever moved by someone's explicit choice)."""
    if workload_value is not None:
        return workload_value
    return global_value is True


def _parse(raw: str | None, where: str) -> tuple[bool | None, str | None]:
    parsed = parse_switch(raw, where)  # the AUTO_SCALE_EKS grammar: true/false, any case, blanks ignored
    if parsed.warning is None:
        return parsed.value, None
    return None, f'{where}: {RETURN_TO_LOCAL}={show_value(raw)} is not "true" or "false"; treated as unset'


def return_switch(global_raw: str | None, annotations: Mapping[str, str]) -> ReturnSwitch:
    """Parse both raw values (a malformed one is unset plus a warning) and apply the table."""
    global_value, global_warning = _parse(global_raw, GLOBAL_SWITCH_SOURCE)
    workload_value, workload_warning = _parse(annotations.get(RETURN_TO_LOCAL), WORKLOAD_SWITCH_SOURCE)
    warnings = tuple(w for w in (global_warning, workload_warning) if w)
    return ReturnSwitch(return_switch_on(global_value, workload_value), global_value, workload_value, warnings)


# ---- how the pod came to the cloud ------------------------------------------------------------

class Origin(StrEnum):
    """The path that sent the pod to the cloud."""

    UNSCHEDULABLE = "unschedulable"
    """The local scheduler found no room (reason UnschedulableLocally)."""
    LOCAL_QUOTA = "local-quota"
    """Beyond the workload's LOCAL_REPLICAS (reason LocalQuotaReached, the gated path)."""


def origin_of(pod: Pod, record_reason: str | None) -> Origin:
    """From the pod's decision record when there is one (kept an hour), else from the pod itself:
    the gated path pins the pod to its super node, the unschedulable path does not."""
    if record_reason == DecisionReason.UNSCHEDULABLE_LOCALLY:
        return Origin.UNSCHEDULABLE
    if record_reason == DecisionReason.LOCAL_QUOTA_REACHED:
        return Origin.LOCAL_QUOTA
    return Origin.LOCAL_QUOTA if pinned_to_its_node(pod) else Origin.UNSCHEDULABLE


TIME_TEXT_LIMIT = 40


def parse_time(text: str | None) -> float | None:
    """An RFC 3339 time as the API writes it (`2026-01-01T00:00:00Z`, fractions allowed) →
    epoch seconds; None when missing or unreadable."""
    if not text or len(text) > TIME_TEXT_LIMIT:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def cloud_since(pod: Pod) -> float | None:
    """When the pod was bound (its PodScheduled condition turned True), else when it was created."""
    scheduled = pod.status.condition("PodScheduled")
    if scheduled is not None and scheduled.status == "True":
        bound = parse_time(scheduled.last_transition_time)
        if bound is not None:
            return bound
    return parse_time(pod.metadata.creation_timestamp)


def is_ready(pod: Pod) -> bool:
    ready = pod.status.condition("Ready")
    return ready is not None and ready.status == "True"


def workload_busy(pods: Sequence[Pod], returning: str | None = None) -> str | None:
    """Why taking one more replica of the workload away now is not safe, or None: every other
    active replica must be bound and ready, none on its way out (`returning`: the workload's
    return still in flight, by pod name)."""
    if returning is not None:
        return f"the return of {returning} is not over yet (its replacement does not run locally yet)"
    terminating = sum(1 for p in pods if p.is_terminating() and not p.is_finished())
    active = [p for p in pods if not p.is_terminating() and not p.is_finished()]
    unready = sum(1 for p in active if not p.spec.node_name or not is_ready(p))
    if terminating or unready:
        return (f"{unready} of the workload's {len(active)} replicas not ready and {terminating} terminating: "
                "a return waits until every replica is ready")
    return None


# ---- the rules ---------------------------------------------------------------------------------

MOVABLE_KINDS = frozenset({DEPLOYMENT, REPLICA_SET, STATEFUL_SET})


@dataclass(frozen=True)
class ReturnFacts:
    """Everything one verdict depends on except the room.

    pod             the cloud pod as last observed (bound to a managed super node, running).
    workload        its workload key (`workload_of`).
    global_config   data of ConfigMap kube-system/eks-config (AUTO_SCALE_EKS, RETURN_TO_LOCAL).
    options         PolicyOptions (the switch precedence of AUTO_SCALE_EKS).
    settings        ReturnSettings.
    local_count     the workload's local replicas (`count_local`, in-flight decisions included).
    record_reason   the reason of the pod's decision record (None: no record of this pod).
    now             the clock, epoch seconds.
    busy            `workload_busy(...)` for the workload.
    cooldown_until  the workload's cool-down after a failed return (None: none).
    budget_until    a disruption budget (429) asked to wait until then (None: no wait).
    returns_last_minute  evictions in the last 60 s, cluster-wide.
    """

    pod: Pod
    workload: WorkloadKey
    global_config: Mapping[str, str] = field(default_factory=dict)
    options: PolicyOptions = field(default_factory=PolicyOptions)
    settings: ReturnSettings = field(default_factory=ReturnSettings)
    local_count: int = 0
    record_reason: str | None = None
    now: float = 0.0
    busy: str | None = None
    cooldown_until: float | None = None
    budget_until: float | None = None
    returns_last_minute: int = 0

    @property
    def switch(self) -> ReturnSwitch:
        return return_switch(self.global_config.get(RETURN_TO_LOCAL), self.pod.metadata.annotations)


@dataclass(frozen=True, slots=True)
class ReturnVerdict:
    """Send the pod home (`allowed`, towards `node`) or not, with one reason code and one line."""

    allowed: bool
    reason: str
    message: str
    node: str | None = None
    origin: Origin | None = None
    rule: str = ""
    """The rule that refused ("" when allowed)."""
    warnings: tuple[str, ...] = ()


Refusal = tuple[ReturnReason, str]
Check = Callable[[ReturnFacts], Refusal | None]
RoomCheck = Callable[[ReturnFacts, Room, float | None], Refusal | None]


def check_kind(f: ReturnFacts) -> Refusal | None:
    kind = f.workload.kind
    if f.pod.is_daemonset_pod() or kind not in MOVABLE_KINDS:
        what = "a bare pod" if kind == BARE_POD else f"a {kind} pod"
        return ReturnReason.NOT_CONTROLLED, f"{what} is never moved (only Deployment, ReplicaSet and StatefulSet pods)"
    if kind == STATEFUL_SET and any(v.persistent_volume_claim for v in f.pod.spec.volumes):
        return (ReturnReason.NOT_CONTROLLED,
                "a StatefulSet pod with persistent volume claims is never moved (its volumes stay where it runs)")
    return None


def check_placed(f: ReturnFacts) -> Refusal | None:
    """Spillway's record of the bind, with the pod's own uid (a copied manifest carries another's).
    Its node is not compared: two decisions of one pod racing may leave the other one's node there."""
    if owed_bind_node(f.pod) is None:
        return (ReturnReason.NOT_PLACED,
                f"the pod did not reach super node {f.pod.spec.node_name} by a Spillway decision: it is left alone")
    return None


def check_switch(f: ReturnFacts) -> Refusal | None:
    switch = f.switch
    return None if switch.on else (ReturnReason.SWITCH_OFF, switch.message)


def check_burst(f: ReturnFacts) -> Refusal | None:
    verdict, _ = evaluate_switches(f.global_config.get(ANNOTATION_AUTO_SCALE), f.pod.metadata.annotations,
                                   f.options.switch_precedence)
    if not verdict.allowed:
        return (ReturnReason.BURST_REFUSED,
                f"{verdict.message}: a replacement that found no room locally would stay Pending, so the pod stays")
    return None


def check_cooldown(f: ReturnFacts) -> Refusal | None:
    if f.cooldown_until is not None and f.cooldown_until > f.now:
        return (ReturnReason.COOL_DOWN, f"a replacement of this workload did not stay local; no return for "
                f"{f.cooldown_until - f.now:.0f} s more")
    return None


def check_quota(f: ReturnFacts) -> Refusal | None:
    quota = parse_local_replicas(f.pod.metadata.annotations.get(ANNOTATION_LOCAL_REPLICAS)).value
    if quota is not None and f.local_count >= quota:
        return (ReturnReason.BEYOND_LOCAL_REPLICAS, f"{ANNOTATION_LOCAL_REPLICAS}={quota} and {f.local_count} "
                "replicas already local: this one stays in the cloud, as the workload asks")
    if quota is None and origin_of(f.pod, f.record_reason) is Origin.LOCAL_QUOTA:
        return (ReturnReason.BEYOND_LOCAL_REPLICAS, f"the pod went to the cloud beyond {ANNOTATION_LOCAL_REPLICAS}, "
                "which it no longer carries readably: it stays")
    return None


def check_room(f: ReturnFacts, room: Room, room_since: float | None) -> Refusal | None:
    return (ReturnReason.NO_LOCAL_ROOM, room.message) if room.node is None else None


def check_stable(f: ReturnFacts, room: Room, room_since: float | None) -> Refusal | None:
    stable = f.settings.stable_seconds
    if room_since is None or f.now - room_since < stable:
        held = 0.0 if room_since is None else max(0.0, f.now - room_since)
        return ReturnReason.ROOM_NOT_STABLE, f"{room.message} for {held:.0f} s of the {stable:g} s it must last"
    return None


def check_time_in_cloud(f: ReturnFacts, room: Room, room_since: float | None) -> Refusal | None:
    since = cloud_since(f.pod)
    minimum = f.settings.min_cloud_seconds
    if since is None or f.now - since < minimum:
        spent = "unknown" if since is None else f"{max(0.0, f.now - since):.0f} s"
        return ReturnReason.TOO_SOON, f"in the cloud for {spent} of the {minimum:g} s it stays at least"
    return None


def check_busy(f: ReturnFacts, room: Room, room_since: float | None) -> Refusal | None:
    return None if f.busy is None else (ReturnReason.WORKLOAD_BUSY, f.busy)


def check_budget(f: ReturnFacts, room: Room, room_since: float | None) -> Refusal | None:
    if f.budget_until is not None and f.budget_until > f.now:
        return (ReturnReason.DISRUPTION_BUDGET, f"the API refused the last eviction (429: a disruption budget or "
                f"throttling); trying again in {f.budget_until - f.now:.0f} s")
    return None


def check_rate(f: ReturnFacts, room: Room, room_since: float | None) -> Refusal | None:
    limit = f.settings.max_per_minute
    if f.returns_last_minute >= limit:
        return ReturnReason.RATE_LIMITED, f"{f.returns_last_minute} returns in the last minute (at most {limit})"
    return None


BEFORE_ROOM: tuple[tuple[str, Check], ...] = (
    ("controlled", check_kind), ("placed-by-spillway", check_placed), ("switch", check_switch),
    ("way-back", check_burst), ("cool-down", check_cooldown), ("local-replicas", check_quota))
"""Never now, whatever the room: the room is not even looked at."""
AFTER_ROOM: tuple[tuple[str, RoomCheck], ...] = (
    ("local-room", check_room), ("room-stable", check_stable), ("time-in-cloud", check_time_in_cloud),
    ("workload-ready", check_busy), ("disruption-budget", check_budget), ("rate", check_rate))
"""Not yet: the room's stability keeps being measured while these wait."""
RULE_NAMES: tuple[str, ...] = tuple(name for name, _ in (*BEFORE_ROOM, *AFTER_ROOM))
REASONS: tuple[ReturnReason, ...] = (
    ReturnReason.NOT_CONTROLLED, ReturnReason.NOT_PLACED, ReturnReason.SWITCH_OFF, ReturnReason.BURST_REFUSED,
    ReturnReason.COOL_DOWN, ReturnReason.BEYOND_LOCAL_REPLICAS, ReturnReason.NO_LOCAL_ROOM,
    ReturnReason.ROOM_NOT_STABLE, ReturnReason.TOO_SOON, ReturnReason.WORKLOAD_BUSY, ReturnReason.DISRUPTION_BUDGET,
    ReturnReason.RATE_LIMITED)
"""The rules' reason codes, in rule order."""


def _refused(rule: str, reason: str, message: str, warnings: tuple[str, ...] = ()) -> ReturnVerdict:
    return ReturnVerdict(False, reason, one_line(message), rule=rule, warnings=warnings)


def _internal_error(exc: Exception) -> ReturnVerdict:
    return _refused("", DecisionReason.INTERNAL_ERROR,
                    f"internal error while judging a return ({type(exc).__name__}: {str(exc)[:200]})")


def precheck(facts: ReturnFacts) -> ReturnVerdict | None:
    """The refusal of the first rule before the room, or None (then look for room and `judge`).
    Never raises: a rule that fails on a pod nobody foresaw refuses that pod (InternalError)."""
    try:
        for name, rule in BEFORE_ROOM:
            refusal = rule(facts)
            if refusal is not None:
                return _refused(name, *refusal, warnings=facts.switch.warnings)
    except Exception as exc:  # one odd pod must not stop the loop for the others
        return _internal_error(exc)
    return None


def judge(facts: ReturnFacts, room: Room, room_since: float | None) -> ReturnVerdict:
    """The verdict: every rule in order, the first refusal decides. Never raises (see `precheck`)."""
    early = precheck(facts)
    if early is not None:
        return early
    try:
        for name, room_rule in AFTER_ROOM:
            refusal = room_rule(facts, room, room_since)
            if refusal is not None:
                return _refused(name, *refusal, warnings=facts.switch.warnings)
        origin = origin_of(facts.pod, facts.record_reason)
        since = cloud_since(facts.pod)
        spent = f"{facts.now - since:.0f} s" if since is not None else "a while"
        held = facts.now - room_since if room_since is not None else 0.0
        how = "sent there because the local scheduler had no room" if origin is Origin.UNSCHEDULABLE else \
            f"its workload is below {ANNOTATION_LOCAL_REPLICAS} again, {facts.local_count} local"
        message = (f"evicted from super node {facts.pod.spec.node_name} after {spent} in the cloud ({how}): "
                   f"{room.message}, stable for {held:.0f} s; its controller's replacement takes the normal path")
        return ReturnVerdict(True, ReturnReason.RETURNED, one_line(message), room.node, origin,
                             warnings=facts.switch.warnings)
    except Exception as exc:  # see precheck
        return _internal_error(exc)


def room_since(previous: float | None, room: Room, now: float) -> float | None:
    """When the pod's room began, as of `now`: kept while there is room, started when room appears,
    dropped the moment it is gone (a break restarts the count)."""
    if room.node is None:
        return None
    return now if previous is None else previous
