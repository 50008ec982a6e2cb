"""Our own small set of cloud errors, and the one place that maps TencentCloud codes onto them.

Callers decide with `except`/`match` on these types (retry, avoid a zone, fail the pod, alert),
never on raw code strings. Every error keeps the cloud's `code`, `message` and `request_id`
(the id Tencent support asks for). No credential ever reaches an error's text.
"""

from __future__ import annotations


class CloudError(Exception):
    """A cloud call failed; unmapped codes stay this base type (treat as permanent)."""

    def __init__(self, code: str, message: str = "", request_id: str | None = None) -> None:
        super().__init__(code, message, request_id)
        self.code = code
        self.message = message
        self.request_id = request_id

    def __str__(self) -> str:
        rid = f" (request {self.request_id})" if self.request_id else ""
        return f"{self.code}: {self.message}{rid}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, request_id={self.request_id!r})"


class RetryableError(CloudError):
    """Transient: throttling, internal errors of idempotent calls, network trouble. Retry with backoff."""

    @property
    def throttled(self) -> bool:
        return self.code.startswith("RequestLimitExceeded")


class QuotaError(CloudError):
    """An account/region quota is used up (LimitExceeded). Retrying soon will not help."""


class SoldOutError(CloudError):
    """The zone has no capacity for this spec. Avoid `zone` for a cool-down; another zone may work."""

    def __init__(self, code: str, message: str = "", request_id: str | None = None, zone: str | None = None) -> None:
        super().__init__(code, message, request_id)
        self.zone = zone

    def __repr__(self) -> str:
        return (f"SoldOutError(code={self.code!r}, message={self.message!r}, request_id={self.request_id!r}, "
                f"zone={self.zone!r})")


class InvalidRequestError(CloudError):
    """The request is wrong (bad spec, missing field, unknown action): fix the input, do not retry."""


class AuthError(CloudError):
    """Credentials are wrong, expired, or lack permission (or the clock is off by > 5 minutes)."""


class NotFoundError(CloudError):
    """The instance does not exist (any more). Success for a delete."""


def classify(code: str, message: str = "", request_id: str | None = None, *,
             idempotent: bool = True, zone: str | None = None) -> CloudError:
    """Map a TencentCloud error code onto our error types.

    `idempotent=False` keeps InternalError permanent: it may have taken effect, so only a call
    that is safe to repeat (our creates are: they look up by name first) may retry it.
    """
    head = code.split(".", 1)[0]
    match head, code:
        case ("ResourceNotFound", _) | (_, "InternalError.ContainerNotFound"):
            return NotFoundError(code, message, request_id)
        case ("RequestLimitExceeded", _) | (_, "ServerNetworkError" | "ClientNetworkError"):
            return RetryableError(code, message, request_id)
        case "InternalError", _:
            return (RetryableError if idempotent else CloudError)(code, message, request_id)
        case ("ResourcesSoldOut" | "ResourceInsufficient"), _:
            return SoldOutError(code, message, request_id, zone=zone)
        case "LimitExceeded", _:
            return QuotaError(code, message, request_id)
        case ("AuthFailure" | "UnauthorizedOperation"), _:
            return AuthError(code, message, request_id)
        case ("InvalidParameter" | "InvalidParameterValue" | "MissingParameter" | "UnknownParameter"
              | "InvalidAction" | "NoSuchVersion" | "UnsupportedRegion" | "UnsupportedOperation"), _:
            return InvalidRequestError(code, message, request_id)
        case _:
            return CloudError(code, message, request_id)
