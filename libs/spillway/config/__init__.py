"""The configuration file (the original chart's keys) and its validation.

    config = load_config("config.yaml")      # ConfigError("config.yaml: cloud.subnets[0].zone: required")
    config.cloud.secret_key.reveal()         # Secret: repr/str are '***'
"""

from spillway.config.loader import ConfigError, load_config, parse_config, require
from spillway.config.policy import policy_options, return_settings
from spillway.config.schema import (
    AdmissionConfig,
    CloudConfig,
    Config,
    EkletConfig,
    KubernetesConfig,
    NatsConfig,
    PlacementConfig,
    Prices,
    ReturnToLocalConfig,
    Subnet,
    TelemetryConfig,
    TLSConfig,
)
from spillway.config.secret import Secret

__all__ = [
    "AdmissionConfig", "CloudConfig", "Config", "ConfigError", "EkletConfig", "KubernetesConfig", "NatsConfig",
    "PlacementConfig", "Prices", "ReturnToLocalConfig", "Secret", "Subnet", "TLSConfig", "TelemetryConfig",
    "load_config", "parse_config", "policy_options", "require", "return_settings",
]
