"""TkeSettings and the provider from the configuration file: one mapping for every service that calls the cloud."""

from __future__ import annotations

from collections.abc import Callable

from spillway.cloud.provider import InstanceProvider
from spillway.cloud.tke import TkeProvider
from spillway.cloud.transport import TkeSettings
from spillway.config import Config

ProviderFactory = Callable[[Config], InstanceProvider]
"""How a service gets its cloud provider from its configuration (tests pass their own)."""


def provider_from_config(config: Config) -> InstanceProvider:
    """The cloud provider a service runs on: TKE Serverless as `cloud.*` configures it."""
    return TkeProvider(tke_settings(config))


def tke_settings(config: Config) -> TkeSettings:
    """`cloud.*` → TkeSettings; `apiEndpoint` may be `http://host:port` (the emulator)."""
    cloud = config.cloud
    endpoint, protocol = cloud.api_endpoint.rstrip("/"), "https"
    for scheme in ("http", "https"):
        if endpoint.startswith(f"{scheme}://"):
            endpoint, protocol = endpoint[len(scheme) + 3:], scheme
    settings = TkeSettings(
        secret_id=cloud.secret_id, secret_key=cloud.secret_key.reveal() if cloud.secret_key else "",
        region=cloud.region_long, protocol=protocol, subnet_zones={s.id: s.zone for s in cloud.subnets},
        rate_per_action=cloud.rate_limit,
    )
    if endpoint:
        settings.endpoint = endpoint
    return settings
