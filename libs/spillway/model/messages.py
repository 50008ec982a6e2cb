"""The bus contract: every subject Spillway publishes, the message type on it, and the KV buckets.

Why one module: the services meet only through these subjects and types, so they are listed in
one place (docs/bus.md is generated from this module and a test keeps the two in step). Messages
are frozen msgspec Structs, JSON on the wire (readable with `nats sub 'spillway.>'`), each with a
schema version `v`. Pure: no NATS imports; the bus library does the transport.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec

from spillway.model.kube import Node, PersistentVolume, PersistentVolumeClaim, Pod, ReplicaSet

SCHEMA_VERSION: Final = 1
STREAM: Final = "SPILLWAY"
SUBJECT_ROOT: Final = "spillway"


DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
LATEST_TIMESTAMP: Final = 4_102_444_800.0
"""2100-01-01 in epoch seconds: a later time on the bus is a forgery or a bug, never a fact."""

# Fields checked when a message is decoded (a message that fails goes to the dead-letter subject):
# what the API server would never store, or a time no clock gives, is refused before anyone acts.
Namespace = Annotated[str, msgspec.Meta(min_length=1, max_length=63, pattern=f"^{DNS_LABEL}$")]
ObjectName = Annotated[str, msgspec.Meta(min_length=1, max_length=253, pattern=f"^{DNS_SUBDOMAIN}$")]
NodeName = Annotated[str, msgspec.Meta(max_length=253, pattern=f"^({DNS_SUBDOMAIN})?$")]
"""A node's name, or empty (not on a node)."""
Uid = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
CloudId = Annotated[str, msgspec.Meta(max_length=128, pattern=r"^[\x21-\x7e]*$")]
Timestamp = Annotated[float, msgspec.Meta(ge=0.0, le=LATEST_TIMESTAMP)]
_IDENTITY_CHECKS = ((re.compile(f"^{DNS_LABEL}$"), 63, "namespace"), (re.compile(f"^{DNS_SUBDOMAIN}$"), 253, "name"),
                    (re.compile(r"^[\x21-\x7e]+$"), 128, "uid"))


def identity_problem(namespace: str, name: str, uid: str) -> str | None:
    """What is wrong with an object identity the API server would never have stored, or None."""
    for value, (pattern, limit, field_name) in zip((namespace, name, uid), _IDENTITY_CHECKS, strict=True):
        if not value or len(value) > limit or not pattern.match(value):
            return f"{field_name} {value[:64]!r} is not one the API server would store"
    return None


class Message(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=False):
    """Base of every bus message. `v` is the schema version; bump it on incompatible changes."""

    v: int = SCHEMA_VERSION


PodChange = Literal["gated", "unschedulable", "bound", "terminating", "deleted"]
NodeChange = Literal["changed", "deleted"]
PlacementOutcome = Literal["cloud", "local", "refused"]
InstanceStatus = Literal["created", "running", "deleted", "failed"]


class PodEvent(Message, frozen=True, kw_only=True):
    """A pod changed in a way some service acts on (published by the watcher)."""

    change: PodChange
    """What happened: gated, unschedulable, bound, terminating or deleted."""
    pod: Pod
    """The pod as the watcher saw it (slim view; valid Kubernetes API JSON)."""
    observed_at: Timestamp
    """When the watcher saw the change, epoch seconds."""

    def __post_init__(self) -> None:
        meta = self.pod.metadata
        problem = identity_problem(meta.namespace, meta.name, meta.uid)
        if problem is not None:
            raise ValueError(f"pod {problem}")


class NodeEvent(Message, frozen=True, kw_only=True):
    """A node was added/changed or deleted (published by the watcher)."""

    change: NodeChange
    """changed (added or updated) or deleted."""
    node: Node
    """The node as the watcher saw it (slim view)."""
    observed_at: Timestamp
    """When the watcher saw the change, epoch seconds."""


class ConfigEvent(Message, frozen=True, kw_only=True):
    """The `kube-system/eks-config` ConfigMap changed (the global AUTO_SCALE_EKS switch lives here)."""

    data: dict[str, str]
    """The ConfigMap's data; empty when it was deleted."""
    deleted: bool = False
    """True when the ConfigMap no longer exists (the switch is then unset)."""
    resource_version: str = ""
    """The ConfigMap's resourceVersion, for ordering and de-duplication."""
    observed_at: float = 0.0
    """When the watcher saw the change, epoch seconds."""


class RuleResult(msgspec.Struct, frozen=True, kw_only=True):
    """One placement rule's verdict, kept so `spillway explain` can show every reason."""

    rule: str
    """The rule's NAME."""
    code: str
    """The rule's status code (allowed, refused, never-possible, error)."""
    reason: str = ""
    """The rule's REASON constant when it did not allow."""
    message: str = ""
    """One-line human explanation."""


class PlacementDecision(Message, frozen=True, kw_only=True):
    """Placement's verdict for one pod (published by placement, kept in the decisions bucket)."""

    namespace: Namespace
    """Pod namespace."""
    name: ObjectName
    """Pod name."""
    uid: Uid
    """Pod uid (decisions are per pod incarnation)."""
    workload: str
    """Workload key, e.g. `Deployment/ns/web` or `Pod/ns/name` for a bare pod."""
    outcome: PlacementOutcome
    """cloud (bound to a super node), local (left to the default scheduler) or refused."""
    node: NodeName = ""
    """The super node chosen when outcome is cloud."""
    reason: str = ""
    """Reason code (e.g. DaemonsetForbidden, LocalReplicasBelowQuota)."""
    message: str = ""
    """One-line explanation, also shown in the pod's event."""
    rules: list[RuleResult] = []
    """Every rule's verdict, not just the first refusal."""
    trace_id: str = ""
    """W3C trace id (32 hex) of the decision's trace, for Jaeger look-ups."""
    decided_at: Timestamp = 0.0
    """When the decision was taken, epoch seconds."""
    trigger: str = ""
    """Which path brought the pod to placement: gated or unschedulable."""
    global_switch: str | None = None
    """Raw AUTO_SCALE_EKS of kube-system/eks-config at decision time (None: unset)."""
    workload_switch: str | None = None
    """Raw AUTO_SCALE_EKS annotation of the pod (None: unset)."""
    switch_allowed: bool = True
    """Whether the switch table allowed bursting."""
    switch_reason: str = ""
    """The switch table's reason code (e.g. GlobalSwitchOff)."""
    local_replicas: int | None = None
    """N from the LOCAL_REPLICAS annotation (None: unset or malformed)."""
    local_count: int = 0
    """The workload's local replicas counted for this decision (in-flight decisions included)."""
    warnings: list[str] = []
    """Malformed annotation or config values noticed while deciding."""


class InstanceEvent(Message, frozen=True, kw_only=True):
    """A cloud container instance changed state (cloud-provisioner; `running` comes from node-status)."""

    namespace: Namespace
    """Pod namespace."""
    name: ObjectName
    """Pod name."""
    uid: Uid
    """Pod uid."""
    status: InstanceStatus
    """created, running, deleted or failed."""
    eks_ci_id: CloudId = ""
    """EksCiId of the instance (empty until the cloud assigned one)."""
    eks_ci_name: CloudId = ""
    """EksCiName: deterministic, derived from cluster id and pod uid."""
    node: NodeName = ""
    """The super node the pod is bound to."""
    request_id: CloudId = ""
    """The cloud API RequestId of the call that produced this state."""
    reason: str = ""
    """Why, for failed (the cloud error code) or deleted."""
    observed_at: Timestamp = 0.0
    """Epoch seconds."""


class ZoneCooldown(Message, frozen=True, kw_only=True):
    """Avoid a zone for a while (it reported sold out); placement skips its super nodes until `until`."""

    zone: CloudId
    """Availability zone, e.g. ap-guangzhou-3."""
    until: Timestamp
    """Epoch seconds when the zone may be used again."""
    reason: str = ""
    """The cloud error that caused it (e.g. ResourceInsufficient.SoldOut)."""


class DeadLetter(Message, frozen=True, kw_only=True):
    """A message a service could not handle; kept for a human (`spillway events spillway.dlq.>`)."""

    service: str
    """The service whose handler gave up."""
    subject: str
    """The original subject."""
    error: str
    """The error text (type and message)."""
    payload: str
    """The original payload as text (undecodable bytes replaced)."""
    deliveries: int = 0
    """How many times it was delivered."""
    stream_seq: int = 0
    """Its sequence in the stream (for `nats stream get`)."""
    consumer: str = ""
    """The durable consumer that gave up."""


# ---- subjects -----------------------------------------------------------------------------

POD_PENDING_GATED: Final = "spillway.pod.pending.gated"
POD_PENDING_UNSCHEDULABLE: Final = "spillway.pod.pending.unschedulable"
POD_BOUND: Final = "spillway.pod.bound"
POD_TERMINATING: Final = "spillway.pod.terminating"
POD_DELETED: Final = "spillway.pod.deleted"
NODE_CHANGED: Final = "spillway.node.changed"
NODE_DELETED: Final = "spillway.node.deleted"
CONFIG_CHANGED: Final = "spillway.config.changed"
PLACEMENT_DECIDED: Final = "spillway.placement.decided"
INSTANCE_CREATED: Final = "spillway.instance.created"
INSTANCE_RUNNING: Final = "spillway.instance.running"
INSTANCE_DELETED: Final = "spillway.instance.deleted"
INSTANCE_FAILED: Final = "spillway.instance.failed"
ZONE_COOLDOWN: Final = "spillway.zone.cooldown"
DLQ_PREFIX: Final = "spillway.dlq"
DLQ_ALL: Final = "spillway.dlq.>"

POD_SUBJECT_BY_CHANGE: Final[dict[str, str]] = {
    "gated": POD_PENDING_GATED,
    "unschedulable": POD_PENDING_UNSCHEDULABLE,
    "bound": POD_BOUND,
    "terminating": POD_TERMINATING,
    "deleted": POD_DELETED,
}
INSTANCE_SUBJECT_BY_STATUS: Final[dict[str, str]] = {
    "created": INSTANCE_CREATED,
    "running": INSTANCE_RUNNING,
    "deleted": INSTANCE_DELETED,
    "failed": INSTANCE_FAILED,
}


def dlq_subject(service: str) -> str:
    """`spillway.dlq.<service>`: one dead-letter subject per service."""
    return f"{DLQ_PREFIX}.{service}"


def subject_for(msg: Message) -> str:
    """The subject a message is published on when the caller does not name one.

    DeadLetter needs the service (`dlq_subject(msg.service)`); every other type maps by its kind field.
    """
    if isinstance(msg, PodEvent):
        return POD_SUBJECT_BY_CHANGE[msg.change]
    if isinstance(msg, NodeEvent):
        return NODE_DELETED if msg.change == "deleted" else NODE_CHANGED
    if isinstance(msg, InstanceEvent):
        return INSTANCE_SUBJECT_BY_STATUS[msg.status]
    if isinstance(msg, DeadLetter):
        return dlq_subject(msg.service)
    fixed: dict[type[Message], str] = {
        ConfigEvent: CONFIG_CHANGED, PlacementDecision: PLACEMENT_DECIDED, ZoneCooldown: ZONE_COOLDOWN,
    }
    try:
        return fixed[type(msg)]
    except KeyError:
        raise TypeError(f"no subject for {type(msg).__name__}") from None


@dataclass(frozen=True)
class SubjectSpec:
    """One catalogue row: a subject (NATS wildcards allowed), its type, who publishes, what it means."""

    subject: str
    type: type[Message]
    publisher: str
    description: str


CATALOGUE: Final[tuple[SubjectSpec, ...]] = (
    SubjectSpec(POD_PENDING_GATED, PodEvent, "watcher", "a pod carries the spillway.io/placement gate"),
    SubjectSpec(POD_PENDING_UNSCHEDULABLE, PodEvent, "watcher", "the scheduler marked a pod Unschedulable"),
    SubjectSpec(POD_BOUND, PodEvent, "watcher", "a pod was bound to a node (super nodes matter)"),
    SubjectSpec(POD_TERMINATING, PodEvent, "watcher", "a pod got a deletionTimestamp"),
    SubjectSpec(POD_DELETED, PodEvent, "watcher", "a pod is gone from the API"),
    SubjectSpec(NODE_CHANGED, NodeEvent, "watcher", "a node was added or changed"),
    SubjectSpec(NODE_DELETED, NodeEvent, "watcher", "a node was deleted"),
    SubjectSpec(CONFIG_CHANGED, ConfigEvent, "watcher", "kube-system/eks-config changed"),
    SubjectSpec(PLACEMENT_DECIDED, PlacementDecision, "placement", "a placement decision was taken and acted on"),
    SubjectSpec(INSTANCE_CREATED, InstanceEvent, "cloud-provisioner", "a container instance was created"),
    SubjectSpec(INSTANCE_RUNNING, InstanceEvent, "node-status", "a cloud pod reached Running (once per pod)"),
    SubjectSpec(INSTANCE_DELETED, InstanceEvent, "cloud-provisioner", "a container instance was deleted"),
    SubjectSpec(INSTANCE_FAILED, InstanceEvent, "cloud-provisioner", "creating or running an instance failed"),
    SubjectSpec(ZONE_COOLDOWN, ZoneCooldown, "cloud-provisioner", "avoid a zone until a time (sold out)"),
    SubjectSpec(f"{DLQ_PREFIX}.*", DeadLetter, "any service", "dead letters of one service (`spillway.dlq.<service>`)"),
)

MESSAGE_TYPES: Final[tuple[type[Message], ...]] = (
    PodEvent, NodeEvent, ConfigEvent, PlacementDecision, InstanceEvent, ZoneCooldown, DeadLetter,
)


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard match: `*` one token, `>` one or more trailing tokens."""
    pat, sub = pattern.split("."), subject.split(".")
    for i, token in enumerate(pat):
        if token == ">":
            return len(sub) > i
        if i >= len(sub) or (token != "*" and token != sub[i]):
            return False
    return len(pat) == len(sub)


def type_for_subject(subject: str) -> type[Message]:
    """The message type published on a concrete subject; KeyError for subjects not in the catalogue."""
    for spec in CATALOGUE:
        if subject_matches(spec.subject, subject):
            return spec.type
    raise KeyError(f"subject {subject!r} is not in the catalogue")


# ---- KV buckets ---------------------------------------------------------------------------

KV_PODS: Final = "pods"
KV_NODES: Final = "nodes"
KV_CONFIG: Final = "config"
KV_DECISIONS: Final = "decisions"
KV_ZONES: Final = "zones"
KV_REPLICASETS: Final = "replicasets"
KV_PVCS: Final = "pvcs"
KV_PVS: Final = "pvs"
DECISIONS_TTL_SECONDS: Final = 3600.0
CONFIG_KEY_EKS: Final = "eks-config"


@dataclass(frozen=True)
class BucketSpec:
    """One KV bucket: name, value type, TTL (None = forever), history depth and the key scheme."""

    name: str
    value_type: type[Any]
    ttl: float | None
    history: int
    key: str
    description: str


BUCKETS: Final[tuple[BucketSpec, ...]] = (
    BucketSpec(KV_PODS, Pod, None, 1, "namespace/name", "latest pod views (written by the watcher)"),
    BucketSpec(KV_NODES, Node, None, 1, "name", "latest node views (written by the watcher)"),
    BucketSpec(KV_CONFIG, ConfigEvent, None, 5, CONFIG_KEY_EKS, "the eks-config switch data"),
    BucketSpec(KV_DECISIONS, PlacementDecision, DECISIONS_TTL_SECONDS, 1, "namespace/name",
               "latest placement decision per pod (for `spillway explain`)"),
    BucketSpec(KV_ZONES, ZoneCooldown, None, 1, "zone", "zones in sold-out cool-down"),
    BucketSpec(KV_REPLICASETS, ReplicaSet, None, 1, "namespace/name",
               "latest ReplicaSet views, for workload identity (written by the watcher)"),
    BucketSpec(KV_PVCS, PersistentVolumeClaim, None, 1, "namespace/name",
               "latest PVC views, for the volume rule (written by the watcher)"),
    BucketSpec(KV_PVS, PersistentVolume, None, 1, "name",
               "latest PV views, for the volume rule (written by the watcher)"),
)

_KEY_RE = re.compile(r"^[-/_=.a-zA-Z0-9]+$")


def kv_key(namespace: str, name: str = "") -> str:
    """KV key of an object: `namespace/name` for namespaced ones, `name` otherwise (pass one argument)."""
    key = f"{namespace}/{name}" if name else namespace
    if not is_valid_kv_key(key):
        raise ValueError(f"invalid KV key {key!r}")
    return key


def is_valid_kv_key(key: str) -> bool:
    """What the NATS client accepts: `^[-/_=.a-zA-Z0-9]+$`, no leading/trailing dot, no empty token."""
    return bool(_KEY_RE.match(key)) and not key.startswith(".") and not key.endswith(".") and ".." not in key


# ---- encoding -----------------------------------------------------------------------------

M = TypeVar("M")
_encoder = msgspec.json.Encoder()
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def encode(msg: msgspec.Struct) -> bytes:
    """JSON bytes for the wire."""
    return _encoder.encode(msg)


def _decoder(type_: type[M]) -> msgspec.json.Decoder[M]:
    dec = _decoders.get(type_)
    if dec is None:
        dec = _decoders[type_] = msgspec.json.Decoder(type_)
    return dec


def decode(subject_or_type: str | type[M], data: bytes | str) -> Any:
    """Decode wire bytes into the message type of a subject (or an explicit type).

    Raises msgspec.DecodeError / msgspec.ValidationError for bad payloads, KeyError for an unknown subject.
    """
    type_ = type_for_subject(subject_or_type) if isinstance(subject_or_type, str) else subject_or_type
    return _decoder(type_).decode(data)


def decode_as(type_: type[M], data: bytes | str) -> M:
    """Typed variant of decode() for callers that know the type."""
    return _decoder(type_).decode(data)
