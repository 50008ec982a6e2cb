"""Equal parts stored once: a bounded table that hands back an equal value seen before.

Why: the replicas of one workload are alike but for a few fields, so in a cluster of tens of
thousands of pods most labels, containers and volumes are copies. Placement's view and the
sandbox's snapshot load both keep one copy per distinct part. Only immutable or never-mutated
values may be shared (the callers' frozen structs, the sandbox's copy-on-write store).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")
_encode = msgspec.json.Encoder().encode


class EqualParts:
    """`share(part)`: `part`, or an equal one (same `kind`, same JSON) seen before. At most
    `capacity` distinct parts are remembered; the least recently shared is forgotten first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[bytes, Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def share(self, part: T, kind: bytes = b"") -> T:
        """`kind` keeps parts of different types apart that happen to encode alike."""
        key = kind + _encode(part)
        found = self._seen.get(key)
        if found is None:
            self._seen[key] = found = part
            if len(self._seen) > self.capacity:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(key)
        return found  # stored under a key only `part`'s equals reach
