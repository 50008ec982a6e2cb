"""One `match` from what went wrong to what the provisioner does about it.

Each failure says whether a redelivery may heal it (`retry`), and if not, the pod's Failed reason,
the Warning event's reason and a message a user can act on. Messages carry the cloud's code and
text, never a secret: `scrub` removes any resolved secret value that a cloud message might echo.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from spillway.cloud import (
    AuthError,
    CloudError,
    InvalidRequestError,
    QuotaError,
    RetryableError,
    SoldOutError,
)
from spillway.translate import (
    MissingReference,
    NotEligible,
    TranslationError,
    UnsupportedVolume,
)

EVENT_PROVISIONING_FAILED = "ProvisioningFailed"
EVENT_ZONE_SOLD_OUT = "ZoneSoldOut"
MAX_MESSAGE = 400


@dataclass(frozen=True)
class Failure:
    """What to tell the user, and whether trying again later may help."""

    pod_reason: str
    """status.reason of the pod when it is failed (e.g. QuotaExceeded)."""
    event_reason: str
    """Reason of the Warning event on the pod."""
    message: str
    code: str
    """The cloud error code, or the translation error's type."""
    retry: bool = False
    zone: str | None = None


def classify_failure(exc: Exception, *, cooldown_seconds: float = 0.0) -> Failure | None:
    """The Failure for a create error; None for errors that are not ours to judge (re-raise those)."""
    match exc:
        case SoldOutError(zone=zone):
            where = f"zone {zone}" if zone else "the zone"
            return Failure("ZoneSoldOut", EVENT_ZONE_SOLD_OUT,
                           f"{where} has no capacity for this instance spec ({_cloud(exc)}); the pod is failed "
                           f"so its controller recreates it, and placement avoids {where} for "
                           f"{cooldown_seconds:g} s", exc.code, zone=zone)
        case QuotaError():
            return Failure("QuotaExceeded", EVENT_PROVISIONING_FAILED,
                           f"the cloud account's container-instance quota is used up ({_cloud(exc)}); delete "
                           "unused instances or ask for a higher quota, and keep cloud.instanceQuota below it",
                           exc.code)
        case AuthError():
            return Failure("CloudAuthFailed", EVENT_PROVISIONING_FAILED,
                           f"the cloud refused Spillway's credentials ({_cloud(exc)}); check cloud.secretID/"
                           "secretKey, their CAM permissions for TKE, and the clock", exc.code)
        case InvalidRequestError():
            return Failure("InstanceCreateFailed", EVENT_PROVISIONING_FAILED,
                           f"the cloud refused the instance spec ({_cloud(exc)}); fix the pod spec or its "
                           "eks.tke.cloud.tencent.com/* annotations", exc.code)
        case RetryableError():
            return Failure("CloudUnavailable", EVENT_PROVISIONING_FAILED,
                           f"the cloud kept failing ({_cloud(exc)}); delete the pod to try again", exc.code,
                           retry=True)
        case CloudError():
            return Failure("InstanceCreateFailed", EVENT_PROVISIONING_FAILED,
                           f"creating the container instance failed ({_cloud(exc)})", exc.code)
        case MissingReference():
            return Failure("CreateContainerConfigError", EVENT_PROVISIONING_FAILED,
                           f"{exc}; create it, then delete the pod to try again", "MissingReference", retry=True)
        case NotEligible():
            return Failure("NotEligible", EVENT_PROVISIONING_FAILED,
                           f"{exc}; lower the pod's requests or its eks.tke.cloud.tencent.com/cpu and /mem",
                           "NotEligible")
        case UnsupportedVolume():
            return Failure("UnsupportedVolume", EVENT_PROVISIONING_FAILED,
                           f"{exc}; cloud pods support nfs and CBS volumes only", "UnsupportedVolume")
        case TranslationError():
            return Failure("InvalidPodSpec", EVENT_PROVISIONING_FAILED, str(exc), type(exc).__name__)
        case _:
            return None


CLOUD_MESSAGE_LIMIT = 200
"""Characters of the cloud's own message a failure quotes: the cloud may echo a user's value
(a security group, a resolv.conf line) whole, and what the user should do must still fit."""


def _cloud(exc: CloudError) -> str:
    rid = f", request {exc.request_id}" if exc.request_id else ""
    text = exc.message if len(exc.message) <= CLOUD_MESSAGE_LIMIT else exc.message[:CLOUD_MESSAGE_LIMIT - 1] + "…"
    return f"{exc.code}: {text}{rid}"


def scrub(message: str, secret_values: Iterable[bytes]) -> str:
    """The message with any secret value (4+ characters) replaced, cut to a readable length."""
    for raw in secret_values:
        text = raw.decode("utf-8", "replace")
        if len(text) >= 4:
            message = message.replace(text, "<redacted>")
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 1] + "…"
