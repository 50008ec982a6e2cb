"""What node-status derives from the configuration: the cloud client settings and its address."""

from __future__ import annotations

import os

from spillway.config import Config
from spillway.model.supernode import managed_super_node_names


def node_address(config: Config) -> str:
    """InternalIP of the super nodes: configured, else $POD_IP (downward API), else loopback."""
    return config.node_status.address or os.environ.get("POD_IP") or "127.0.0.1"


def node_names(config: Config) -> frozenset[str]:
    return managed_super_node_names(s.id for s in config.cloud.subnets)
