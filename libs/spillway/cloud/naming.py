"""Deterministic instance names: the same pod always maps to the same EksCiName.

The API does not enforce unique names, so this name plus a look-before-create is what makes
creates idempotent. Names follow the API's rules: lower-case letters, digits and '-', starting
with a letter, at most 63 characters. Layout: `spw-<cluster slug>-<cluster hash>-<pod uid>`.
"""

from __future__ import annotations

import hashlib
import re

PREFIX = "spw"
MAX_LEN = 63
_UNSAFE = re.compile(r"[^a-z0-9-]+")


def _slug(text: str, limit: int) -> str:
    return _UNSAFE.sub("-", text.lower()).strip("-")[:limit].strip("-")


def name_prefix(cluster_id: str) -> str:
    """What every instance name of this cluster starts with (for orphan GC)."""
    slug = _slug(cluster_id, 12) or "c"
    digest = hashlib.sha256(cluster_id.encode()).hexdigest()[:8]
    return f"{PREFIX}-{slug}-{digest}-"


def instance_name(cluster_id: str, pod_uid: str) -> str:
    prefix = name_prefix(cluster_id)
    uid = _slug(pod_uid, 64)
    room = MAX_LEN - len(prefix)
    if not uid or len(uid) > room or uid != pod_uid:
        # Unusual uids (not a UUID) are hashed so distinct uids never collide after slugging.
        uid = hashlib.sha256(pod_uid.encode()).hexdigest()[:room]
    return prefix + uid
