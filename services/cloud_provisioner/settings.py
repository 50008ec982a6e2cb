"""What both halves of the provisioner derive from the configuration: the cloud client settings and
the set of super nodes (one per configured subnet, named as node-status registers them)."""

from __future__ import annotations

from spillway.cloud import TkeSettings
from spillway.config import Config, Subnet
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


def super_nodes(config: Config) -> dict[str, Subnet]:
    """Super node name → its subnet, for every configured subnet."""
    return {super_node_name(s.id): s for s in config.cloud.subnets}
