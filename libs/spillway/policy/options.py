"""Policy options: everything configurable about placement, passed in as a value.

Why a frozen dataclass and not module globals: the policy is pure and the services load config
at startup (and may reload it); each decision takes the options it was given, so tests and
`spillway explain` reproduce a decision exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from spillway.model.supernode import managed_super_node_names

SwitchPrecedence = Literal["documented", "workload"]

DEFAULT_EXCLUDED_NAMESPACES: frozenset[str] = frozenset({"kube-system", "tke-eni-ip-webhook"})
DEFAULT_DELETION_COST = -100
RESERVED_PORT_RANGE: tuple[int, int] = (61000, 65534)
CBS_CSI_DRIVER = "com.tencent.cloud.csi.cbs"


@dataclass(frozen=True, slots=True)
class PolicyOptions:
    """Knobs of the placement policy (config file keys in brackets, see docs/reference.md).

    switch_precedence      [switchPrecedence] "documented": the product's 9-row table; "workload":
                           an explicit pod AUTO_SCALE_EKS value wins over the global one.
    excluded_namespaces    [excludedNamespaces] pods here never go to a super node.
    deletion_cost          [deletionCost] pod-deletion-cost set on cloud pods so they go first on scale-down.
    reserved_ports         inclusive port range the cloud instance reserves (61000-65534).
    supported_csi_drivers  [supportedCsiDrivers] CSI drivers whose volumes a super node can mount.
    subnets                (subnet id, zone) pairs from `cloud.subnets`: used to picture the super
                           nodes that will exist when none is registered yet (affinity rule), and
                           the only super nodes placement may choose (`managed_super_nodes`).
    """

    switch_precedence: SwitchPrecedence = "documented"
    excluded_namespaces: frozenset[str] = DEFAULT_EXCLUDED_NAMESPACES
    deletion_cost: int = DEFAULT_DELETION_COST
    reserved_ports: tuple[int, int] = RESERVED_PORT_RANGE
    supported_csi_drivers: frozenset[str] = field(default_factory=lambda: frozenset({CBS_CSI_DRIVER}))
    subnets: tuple[tuple[str, str], ...] = ()

    def managed_super_nodes(self) -> frozenset[str]:
        """Names of the super nodes Spillway runs (`eklet-<subnetId>` per configured subnet):
        any other node labelled as a super node belongs to someone else."""
        return managed_super_node_names(subnet_id for subnet_id, _ in self.subnets)
