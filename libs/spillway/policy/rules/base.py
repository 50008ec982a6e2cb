"""What every restriction rule shares: its context, its registry entry and the reserved ports.

Why a context object: rules are pure functions of (pod, ctx); everything they may look at
besides the pod (options, the super nodes, PVC/PV lookups) is in the context, so a rule can
never reach for I/O or a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spillway.model.kube import Node, PersistentVolume, PersistentVolumeClaim, Pod
from spillway.policy.options import PolicyOptions
from spillway.policy.status import RuleResult

if TYPE_CHECKING:
    from spillway.policy.rules.backoff import CloudBackoff

PVCLookup = Callable[[str, str], PersistentVolumeClaim | None]
"""(namespace, claim name) → the PVC, or None when it does not exist (in the caller's view)."""
PVLookup = Callable[[str], PersistentVolume | None]
"""PV name → the PV, or None when it does not exist (in the caller's view)."""


def no_pvc(namespace: str, name: str) -> PersistentVolumeClaim | None:
    return None


def no_pv(name: str) -> PersistentVolume | None:
    return None


@dataclass(frozen=True)
class RuleContext:
    """Everything a rule may consult besides the pod. `super_nodes` are all registered super
    nodes whatever their state (health is the node choice's business, not a rule's)."""

    options: PolicyOptions = field(default_factory=PolicyOptions)
    super_nodes: Sequence[Node] = ()
    pvc_lookup: PVCLookup = no_pvc
    pv_lookup: PVLookup = no_pv
    now: float = 0.0
    cloud_backoff: CloudBackoff | None = None  # the workload's cloud-failure back-off, if any


Check = Callable[[Pod, RuleContext], RuleResult]


@dataclass(frozen=True, slots=True)
class Rule:
    """A registry entry: the rule's NAME, its main REASON, any further reason codes it may
    return, and its pure check."""

    name: str
    reason: str
    check: Check
    other_reasons: tuple[str, ...] = ()

    @property
    def reasons(self) -> tuple[str, ...]:
        return (self.reason, *self.other_reasons)


def bound_volumes(pod: Pod, ctx: RuleContext) -> dict[str, PersistentVolume]:
    """Claim name → the PersistentVolume it is bound to, for the pod's claims that resolve."""
    out: dict[str, PersistentVolume] = {}
    for volume in pod.spec.volumes:
        source = volume.persistent_volume_claim
        if source is None or source.claim_name in out:
            continue
        pvc = ctx.pvc_lookup(pod.metadata.namespace, source.claim_name)
        pv = ctx.pv_lookup(pvc.spec.volume_name) if pvc is not None and pvc.spec.volume_name else None
        if pv is not None:
            out[source.claim_name] = pv
    return out


def in_range(port: int, ports: tuple[int, int]) -> bool:
    low, high = ports
    return low <= port <= high


def show_range(ports: tuple[int, int]) -> str:
    return f"{ports[0]}-{ports[1]}"
