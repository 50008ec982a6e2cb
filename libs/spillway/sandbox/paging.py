"""List pagination as kube-apiserver's etcd3 storage serves it (`limit` / `continue`).

The continue token is what `k8s.io/apiserver/pkg/storage/continue.go` makes: base64 (URL alphabet,
no padding) of `{"v":"meta.k8s.io/v1","rv":<list resourceVersion>,"start":"<key after the last
item, relative to the list's key prefix>"}`; the start key is the last returned key followed by a
NUL byte, as etcd ranges from there. A page at a continue token is read at the token's
resourceVersion, so every page of one list is the same snapshot (the store reconstructs it from its
watch history, as etcd serves an old revision); once that revision is compacted (the history no
longer reaches back to it) the answer is 410 Expired carrying a fresh token at resourceVersion -1,
which continues from the same key on the latest state (an inconsistent list).
docs/kubernetes-api.md records the verified rules.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
from dataclasses import dataclass
from typing import Any

from spillway.sandbox import errors
from spillway.sandbox.errors import ApiError

TOKEN_VERSION = "meta.k8s.io/v1"
LATEST = -1
"""A token's resourceVersion meaning "continue on the latest state" (the one a 410 hands out)."""

EXPIRED_LIST = "The resourceVersion for the provided list is too old."
INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue token in this response to retrieve the "
    "remainder of the results. Continuing with the provided token results in an inconsistent list - objects "
    "that were created, modified, or deleted between the time the first chunk was returned and now may show "
    "up in the list.")
_INVALID = "continue key is not valid"


@dataclass(frozen=True, slots=True)
class ListPage:
    """One answer to a list: its items, the list's resourceVersion, and (when more remain) the token
    for the next page and, without selectors, how many items remain after it."""

    items: list[dict[str, Any]]
    resource_version: str
    continue_token: str = ""
    remaining: int | None = None

    def metadata(self) -> dict[str, Any]:
        """The list's ListMeta, fields omitted when empty as the Go types do."""
        meta: dict[str, Any] = {"resourceVersion": self.resource_version}
        if self.continue_token:
            meta["continue"] = self.continue_token
        if self.remaining is not None:
            meta["remainingItemCount"] = self.remaining
        return meta


def encode_continue(start_key: str, resource_version: int) -> str:
    """The token for a page starting at `start_key` (relative to the list's key prefix)."""
    raw = json.dumps({"v": TOKEN_VERSION, "rv": resource_version, "start": start_key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_continue(token: str) -> tuple[str, int]:
    """(start key relative to the prefix, resourceVersion) or the server's 400 for a bad token."""
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        parsed = json.loads(data)
    except (binascii.Error, ValueError) as exc:
        raise _invalid(f"{_INVALID}: {exc}") from None
    if not isinstance(parsed, dict):
        raise _invalid(f"{_INVALID}: not an object")
    version, rv, start = parsed.get("v"), parsed.get("rv", 0), parsed.get("start", "")
    if version != TOKEN_VERSION:
        raise _invalid(f"{_INVALID}: server does not recognize this encoded version {version}")
    if not isinstance(rv, int) or isinstance(rv, bool) or rv == 0:
        raise _invalid(f"{_INVALID}: incorrect encoded start resourceVersion (version {TOKEN_VERSION})")
    if not isinstance(start, str) or not start:
        raise _invalid(f"{_INVALID}: encoded start key empty (version {TOKEN_VERSION})")
    key = start if start.startswith("/") else "/" + start
    if key.startswith("//") or posixpath.normpath(key) != key:  # no way out of the list's key prefix
        raise _invalid(f"{_INVALID}: {start}")
    return key[1:], rv


def expired_continue(start_key: str) -> ApiError:
    """410 for a token whose resourceVersion was compacted, with a token to go on inconsistently."""
    err = errors.expired(INCONSISTENT_CONTINUE)
    err.list_continue = encode_continue(start_key, LATEST)
    return err


def parse_limit(raw: str | None) -> int:
    """`limit`: a positive integer pages; absent, 0 or negative lists everything (the real server
    ignores a non-positive limit); not an integer is 400."""
    if raw is None or raw == "":
        return 0
    try:
        return max(0, int(raw))
    except ValueError:
        raise errors.bad_request(f'invalid limit "{raw}"') from None


def _invalid(why: str) -> ApiError:
    return errors.bad_request(f"invalid continue token: {why}")
