"""What node-status derives from the configuration: the cloud client settings and its address."""

from __future__ import annotations

import os

from spillway.config import Config
from spillway.policy.templates import super_node_name


def node_address(config: Config) -> str:
    """InternalIP of the super nodes: configured, else $POD_IP (downward API), else loopback."""
    return config.node_status.address or os.environ.get("POD_IP") or "127.0.0.1"


def node_names(config: Config) -> list[str]:
    return [super_node_name(s.id) for s in config.cloud.subnets]
