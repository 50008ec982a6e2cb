"""Deterministic instance names: the same pod of the same cluster always maps to the same EksCiName.

The API does not enforce unique names, so this name plus a look-before-create is what makes
creates idempotent. Names follow the API's rules: lower-case letters, digits and '-', starting
with a letter, at most 63 characters. Layout: `spw-<cluster slug>-<cluster hash>-<pod uid>`.

The name is also the only owner mark an instance carries (CreateEKSContainerInstances takes no
tags), so the orphan GC deletes by prefix. The prefix therefore hashes the cluster's own identity
(the uid of its `kube-system` namespace, which no config copy carries) with `cloud.clusterID`
(kept for people: the slug): two clusters sharing an account never share a prefix, even with the
same config.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

PREFIX = "spw"
MAX_LEN = 63
_UNSAFE = re.compile(r"[^a-z0-9-]+")


def _slug(text: str, limit: int) -> str:
    return _UNSAFE.sub("-", text.lower()).strip("-")[:limit].strip("-")


@dataclass(frozen=True)
class InstanceNaming:
    """The instance names of one cluster: `prefix` (what every one of them starts with, for the
    orphan GC) and `name(pod_uid)`. `cluster_uid` must not be empty: without it two clusters
    with the same `cluster_id` would own each other's instances."""

    cluster_id: str
    """`cloud.clusterID`: readable, but copied along with the config."""
    cluster_uid: str
    """The `kube-system` namespace's uid: what tells this cluster from every other."""
    prefix: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.cluster_uid:
            raise ValueError("InstanceNaming needs the cluster's uid (kube-system's metadata.uid)")
        slug = _slug(self.cluster_id, 12) or "c"
        # the uid first: it holds no NUL, so the pair hashes unambiguously
        digest = hashlib.sha256(f"{self.cluster_uid}\0{self.cluster_id}".encode()).hexdigest()[:8]
        object.__setattr__(self, "prefix", f"{PREFIX}-{slug}-{digest}-")

    def name(self, pod_uid: str) -> str:
        """The EksCiName of this cluster's instance for the pod with this uid."""
        uid = _slug(pod_uid, 64)
        room = MAX_LEN - len(self.prefix)
        if not uid or len(uid) > room or uid != pod_uid:
            # Unusual uids (not a UUID) are hashed so distinct uids never collide after slugging.
            uid = hashlib.sha256(pod_uid.encode()).hexdigest()[:room]
        return self.prefix + uid
