"""The value `decide()` returns: outcome, node, event, every rule's verdict and the patch ingredients.

Why a separate module: the engine computes it, the patch builders and the services read it, and
`spillway explain` renders it; none of them should need the engine's internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from spillway.model.kube import NodeSelector, Toleration
from spillway.policy.nodes import NodeChoice
from spillway.policy.status import RuleResult
from spillway.policy.switches import SwitchVerdict


class Trigger(StrEnum):
    """Which path brought the pod to placement (docs/design.md §2)."""

    GATED = "gated"
    UNSCHEDULABLE = "unschedulable"


class Outcome(StrEnum):
    """LOCAL: lift the gate, the default scheduler places the pod (gated path only).
    CLOUD: patch (cloud_patch) then bind to `Decision.node`.
    STAY_PENDING: do nothing to the pod; it stays Unschedulable (unschedulable path only)."""

    LOCAL = "local"
    CLOUD = "cloud"
    STAY_PENDING = "stay-pending"


class DecisionReason(StrEnum):
    """Decision reasons that are not a switch, rule or node-choice reason code."""

    LOCAL_REPLICAS_UNSET = "LocalReplicasUnset"
    LOCAL_REPLICAS_BELOW_QUOTA = "LocalReplicasBelowQuota"
    LOCAL_QUOTA_REACHED = "LocalQuotaReached"
    UNSCHEDULABLE_LOCALLY = "UnschedulableLocally"
    INTERNAL_ERROR = "InternalError"
    CLOUD_PATCH_REFUSED = "CloudPatchRefused"
    GATE_LIFT_REFUSED = "GateLiftRefused"
    OWED_BIND_REFUSED = "OwedBindRefused"


class EventReason(StrEnum):
    """Event reasons placement emits besides the Warning reason codes of refusals."""

    KEPT_LOCAL = "KeptLocal"
    BURST_TO_CLOUD = "BurstToCloud"
    MALFORMED_ANNOTATION = "MalformedAnnotation"
    UNMANAGED_SUPER_NODE = "UnmanagedSuperNode"


EventType = Literal["Normal", "Warning"]
EVENT_MESSAGE_LIMIT = 1024
"""The API truncates longer event messages; we cut them ourselves, visibly."""


def one_line(text: str, limit: int = EVENT_MESSAGE_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class PlacementEvent:
    """A Kubernetes Event to record on the pod."""

    type: EventType
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict for one pod.

    outcome / node        what to do, and the super node for CLOUD.
    reason                the decision's reason code (switch, rule, node-choice or DecisionReason).
    event                 the event to record (reason KeptLocal / BurstToCloud, or the Warning's code).
    rules                 every restriction rule's verdict, in registry order.
    switch                the switch table's verdict and the parsed switch values.
    local_replicas        N from LOCAL_REPLICAS (None: unset or malformed); local_count as given.
    warnings              malformed annotations/config values; one MalformedAnnotation Warning each.
    toleration, deletion_cost, narrowed_affinity
                          CLOUD patch ingredients (narrowed_affinity on the gated path only).
    node_choice           the node choice's full answer when one was made.
    """

    outcome: Outcome
    node: str | None
    reason: str
    event: PlacementEvent
    trigger: Trigger
    rules: tuple[RuleResult, ...]
    switch: SwitchVerdict
    local_replicas: int | None
    local_count: int
    warnings: tuple[str, ...] = ()
    toleration: Toleration | None = None
    deletion_cost: int | None = None
    narrowed_affinity: NodeSelector | None = None
    node_choice: NodeChoice | None = None

    @property
    def failing_rules(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if not r.allowed)

    def events(self) -> tuple[PlacementEvent, ...]:
        """The main event, then one MalformedAnnotation Warning per warning."""
        extra = tuple(
            PlacementEvent("Warning", EventReason.MALFORMED_ANNOTATION, one_line(w)) for w in self.warnings
        )
        return (self.event, *extra)
