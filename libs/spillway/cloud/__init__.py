"""The cloud seam: the provider Protocol, the TKE Serverless client on the SDK's async client, its errors.

Use `provider_from_config(config)` (or `TkeProvider(TkeSettings(...))`) through the `InstanceProvider`
Protocol; catch the types in `spillway.cloud.errors`; name instances with
`InstanceNaming(cluster_id, cluster_uid).name(pod_uid)`.
"""

from spillway.cloud.errors import (
    AuthError,
    CloudError,
    InvalidRequestError,
    NotFoundError,
    QuotaError,
    RetryableError,
    SoldOutError,
)
from spillway.cloud.instance import ContainerStatus, CreateRequest, Instance, InstanceEvent
from spillway.cloud.naming import InstanceNaming
from spillway.cloud.provider import EventSource, InstanceProvider, LogSource
from spillway.cloud.retry import CloudRetry
from spillway.cloud.settings import ProviderFactory, provider_from_config
from spillway.cloud.tke import TkeProvider
from spillway.cloud.transport import TkeSettings

__all__ = [
    "AuthError",
    "CloudError",
    "CloudRetry",
    "ContainerStatus",
    "CreateRequest",
    "EventSource",
    "Instance",
    "InstanceEvent",
    "InstanceNaming",
    "InstanceProvider",
    "InvalidRequestError",
    "LogSource",
    "NotFoundError",
    "ProviderFactory",
    "QuotaError",
    "RetryableError",
    "SoldOutError",
    "TkeProvider",
    "TkeSettings",
    "provider_from_config",
]
