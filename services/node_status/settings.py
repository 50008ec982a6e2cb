"""What node-status derives from the configuration: the cloud client settings and its address."""

from __future__ import annotations

import os

from spillway.cloud import TkeSettings
from spillway.config import Config
from spillway.policy.templates import super_node_name


def tke_settings(config: Config) -> TkeSettings:
    """TkeSettings from `cloud.*`; `apiEndpoint` may be `http://host:port` (the emulator)."""
    cloud = config.cloud
    endpoint, protocol = cloud.api_endpoint.rstrip("/"), "https"
    for scheme in ("http", "https"):
        if endpoint.startswith(f"{scheme}://"):
            endpoint, protocol = endpoint[len(scheme) + 3:], scheme
    settings = TkeSettings(
        secret_id=cloud.secret_id, secret_key=cloud.secret_key.reveal() if cloud.secret_key else "",
        region=cloud.region_long, protocol=protocol, subnet_zones={s.id: s.zone for s in cloud.subnets},
    )
    if endpoint:
        settings.endpoint = endpoint
    return settings


def node_address(config: Config) -> str:
    """InternalIP of the super nodes: configured, else $POD_IP (downward API), else loopback."""
    return config.node_status.address or os.environ.get("POD_IP") or "127.0.0.1"


def node_names(config: Config) -> list[str]:
    return [super_node_name(s.id) for s in config.cloud.subnets]
