"""Workload identity: which workload a pod's replica belongs to, for LOCAL_REPLICAS counting.

Why the top-level owner: LOCAL_REPLICAS counts replicas of a workload, and a Deployment's pods
are owned by a ReplicaSet that changes on every rollout; counting per ReplicaSet would give each
rollout a fresh quota. The key is also the placement service's partition / KV key, so its
string form is restricted to what NATS KV accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from spillway.model.kube import OwnerReference, Pod

ReplicaSetOwnerLookup = Callable[[str, str], OwnerReference | None]
"""(namespace, replicaset name) → the ReplicaSet's controller owner, or None (no owner / unknown)."""

DEPLOYMENT = "Deployment"
REPLICA_SET = "ReplicaSet"
STATEFUL_SET = "StatefulSet"
JOB = "Job"
BARE_POD = "Pod"

_KEY_SAFE = re.compile(r"[-_.a-zA-Z0-9]")
_KV_KEY = re.compile(r"^[-/_=.a-zA-Z0-9]+$")


def _escape(part: str) -> str:
    """Escape one key segment: characters NATS KV forbids become `=XX` (hex of each UTF-8 byte);
    dots are escaped too when they would start, end or double up a token."""
    if not part:
        return "="
    dots_unsafe = part.startswith(".") or part.endswith(".") or ".." in part
    out: list[str] = []
    for ch in part:
        if _KEY_SAFE.fullmatch(ch) and not (ch == "." and dots_unsafe):
            out.append(ch)
        else:
            out.extend(f"={b:02X}" for b in ch.encode())
    return "".join(out)


def _unescape(part: str) -> str:
    if part == "=":
        return ""
    raw = bytearray()
    i = 0
    while i < len(part):
        if part[i] == "=":
            raw += bytes.fromhex(part[i + 1 : i + 3])
            i += 3
        else:
            raw += part[i].encode()
            i += 1
    return raw.decode()


@dataclass(frozen=True, slots=True, order=True)
class WorkloadKey:
    """(kind, namespace, name) of a top-level workload; `str()` is `Kind/namespace/name`, a valid
    NATS KV key (`^[-/_=.a-zA-Z0-9]+$`); Kubernetes names never need escaping."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return "/".join(_escape(p) for p in (self.kind, self.namespace, self.name))

    @classmethod
    def parse(cls, text: str) -> WorkloadKey:
        """Inverse of `str()`; ValueError for text that is not a workload key."""
        parts = text.split("/")
        if len(parts) != 3 or not _KV_KEY.match(text):
            raise ValueError(f"not a workload key: {text!r}")
        try:
            kind, namespace, name = (_unescape(p) for p in parts)
        except ValueError:
            raise ValueError(f"not a workload key: {text!r}") from None
        return cls(kind, namespace, name)


def _deployment_from_hash(pod: Pod, rs_name: str) -> str | None:
    """The Deployment controller names ReplicaSets `<deployment>-<pod-template-hash>` and labels
    their pods with that hash; use it when the ReplicaSet itself is not known yet."""
    template_hash = pod.metadata.labels.get("pod-template-hash")
    suffix = f"-{template_hash}"
    if template_hash and rs_name.endswith(suffix) and len(rs_name) > len(suffix):
        return rs_name[: -len(suffix)]
    return None


def workload_of(pod: Pod, replicaset_owner: ReplicaSetOwnerLookup) -> WorkloadKey:
    """The top-level workload of a pod.

    Controller owner ReplicaSet → its Deployment when `replicaset_owner` names one; when the
    lookup returns None, a `pod-template-hash` label matching the ReplicaSet's name suffix still
    identifies the Deployment (the ReplicaSet may not be in the caller's view yet); otherwise the
    ReplicaSet itself. StatefulSet, DaemonSet, Job and any other controller kind: that owner.
    No controller: the pod is its own workload (kind `Pod`).
    """
    meta = pod.metadata
    ref = meta.controller_ref()
    if ref is None:
        return WorkloadKey(BARE_POD, meta.namespace, meta.name)
    if ref.kind == REPLICA_SET:
        owner = replicaset_owner(meta.namespace, ref.name)
        if owner is not None and owner.kind == DEPLOYMENT:
            return WorkloadKey(DEPLOYMENT, meta.namespace, owner.name)
        if owner is None:
            deployment = _deployment_from_hash(pod, ref.name)
            if deployment is not None:
                return WorkloadKey(DEPLOYMENT, meta.namespace, deployment)
        return WorkloadKey(REPLICA_SET, meta.namespace, ref.name)
    return WorkloadKey(ref.kind, meta.namespace, ref.name)

