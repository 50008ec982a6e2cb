"""Kubernetes API errors as typed exceptions carrying the Status fields callers branch on."""

from __future__ import annotations

from typing import Any

import msgspec


class KubeError(Exception):
    """A non-2xx answer from the API server, with its Status `code`, `reason` and `message`."""

    def __init__(self, status: int, reason: str, message: str, *, context: str = "") -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.context = context
        super().__init__(f"{context}: {status} {reason}: {message}" if context else f"{status} {reason}: {message}")


class NotFound(KubeError):
    """404: the object (or its namespace) does not exist."""


class Conflict(KubeError):
    """409: stale resourceVersion, AlreadyExists, or an already-bound pod."""


class Gone(KubeError):
    """410: the resourceVersion is older than the server's watch history; relist."""


class Forbidden(KubeError):
    """403: RBAC denied the call."""


class Invalid(KubeError):
    """422 (or 400): the request itself is wrong; retrying will not help."""


_BY_STATUS: dict[int, type[KubeError]] = {404: NotFound, 409: Conflict, 410: Gone, 403: Forbidden, 422: Invalid,
                                          400: Invalid}


class _Status(msgspec.Struct):
    reason: str = ""
    message: str = ""
    code: int = 0


def error_from_status(status: int, body: bytes, context: str = "") -> KubeError:
    """Build the typed error from an HTTP status and a (possibly non-JSON) Status body."""
    reason, message = "", body[:300].decode("utf-8", "replace").strip()
    try:
        parsed = msgspec.json.decode(body, type=_Status)
        reason, message = parsed.reason or reason, parsed.message or message
    except msgspec.DecodeError:
        pass
    cls = _BY_STATUS.get(status, KubeError)
    return cls(status, reason or "Unknown", message, context=context)


def status_from_event_object(obj: dict[str, Any]) -> KubeError:
    """A watch ERROR event carries a Status object; turn it into the same typed error."""
    code = int(obj.get("code") or 500)
    cls = _BY_STATUS.get(code, KubeError)
    return cls(code, str(obj.get("reason") or "Unknown"), str(obj.get("message") or ""), context="WATCH")
