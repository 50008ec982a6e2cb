"""TC3-HMAC-SHA256, as the TencentCloud API 3.0 computes it (reference: "The wire").

Both halves live here: `sign` (used by tests to build requests by hand, e.g. with an old
timestamp) and `verify` (used by the server). The secret key only ever enters HMACs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from spillway.emulator.errors import ApiError

ALGORITHM = "TC3-HMAC-SHA256"
MAX_SKEW_SECONDS = 300
_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/\s]+)/tc3_request,\s*"
    r"SignedHeaders=(?P<headers>[a-z0-9;\-]+),\s*Signature=(?P<sig>[0-9a-f]{64})$"
)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def utc_date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def signature(secret_key: str, *, service: str, timestamp: int, date: str, canonical_request: str) -> str:
    """The hex signature over a canonical request."""
    scope = f"{date}/{service}/tc3_request"
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"
    k_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    k_signing = _hmac(_hmac(k_date, service), "tc3_request")
    return hmac.new(k_signing, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def canonical_request(method: str, path: str, query: str, headers: Mapping[str, str], signed: list[str],
                      payload: bytes | None) -> str:
    """`payload=None` means UNSIGNED-PAYLOAD."""
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed)
    payload_hash = hashlib.sha256(b"UNSIGNED-PAYLOAD" if payload is None else payload).hexdigest()
    return f"{method}\n{path}\n{query}\n{canonical_headers}\n{';'.join(signed)}\n{payload_hash}"


def sign(secret_id: str, secret_key: str, *, service: str, host: str, body: bytes, timestamp: int,
         content_type: str = "application/json") -> str:
    """The Authorization header value for a JSON POST to `/` (what the SDK sends)."""
    date = utc_date(timestamp)
    creq = canonical_request("POST", "/", "", {"content-type": content_type, "host": host},
                             ["content-type", "host"], body)
    sig = signature(secret_key, service=service, timestamp=timestamp, date=date, canonical_request=creq)
    return (f"{ALGORITHM} Credential={secret_id}/{date}/{service}/tc3_request, "
            f"SignedHeaders=content-type;host, Signature={sig}")


def verify(*, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, service: str,
           credentials: Callable[[str], str | None], now: float) -> str:
    """Check a request's signature; return the SecretId or raise the API's AuthFailure error.

    `headers` must be keyed by lower-case names; `credentials(secret_id)` gives the key or None.
    """
    auth = headers.get("authorization", "")
    match = _AUTH_RE.match(auth)
    if match is None:
        raise ApiError("AuthFailure.InvalidAuthorization",
                       "The Authorization header is not a valid TC3-HMAC-SHA256 value.")
    secret_id = match["id"]
    secret_key = credentials(secret_id)
    if secret_key is None:
        raise ApiError("AuthFailure.SecretIdNotFound",
                       "The SecretId is not found, please ensure that your SecretId is correct.")
    try:
        timestamp = int(headers.get("x-tc-timestamp", ""))
    except ValueError:
        raise ApiError("MissingParameter", "The request is missing a valid X-TC-Timestamp header.") from None
    if abs(now - timestamp) > MAX_SKEW_SECONDS:
        raise ApiError("AuthFailure.SignatureExpire",
                       f"Signature expired. Timestamp {timestamp} differs from server time by more than 5 minutes.")
    signed = match["headers"].split(";")
    if "content-type" not in signed or "host" not in signed or match["date"] != utc_date(timestamp) \
            or match["service"] != service:
        raise ApiError("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
    unsigned = headers.get("x-tc-content-sha256", "") == "UNSIGNED-PAYLOAD"
    creq = canonical_request(method, path, query, headers, signed, None if unsigned else body)
    expected = signature(secret_key, service=service, timestamp=timestamp, date=match["date"], canonical_request=creq)
    if not hmac.compare_digest(expected, match["sig"]):
        raise ApiError("AuthFailure.SignatureFailure",
                       "The provided credentials could not be validated. Please check your signature is correct.")
    return secret_id
