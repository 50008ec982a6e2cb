"""What both halves of the provisioner derive from the configuration: the cloud client settings and
the set of super nodes (one per configured subnet, named as node-status registers them)."""

from __future__ import annotations

from spillway.config import Config, Subnet
from spillway.model.supernode import super_node_name


def super_nodes(config: Config) -> dict[str, Subnet]:
    """Super node name → its subnet, for every configured subnet."""
    return {super_node_name(s.id): s for s in config.cloud.subnets}
