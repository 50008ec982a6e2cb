"""Pods from a workload's pod template, and the template hash Deployments name ReplicaSets by."""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from spillway.sandbox.controllers.base import copy_obj, owner_reference

Obj = dict[str, Any]
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery rand.SafeEncodeString's alphabet


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def template_hash(template: Obj, collision_count: int = 0) -> str:
    """Like controller.ComputeHash: fnv32a over the template (canonical JSON here instead of Go's
    spew dump, so values differ from a real cluster's but are just as stable), then the decimal
    digits mapped through SafeEncodeString."""
    data = msgspec.json.encode(template, order="sorted")
    if collision_count:
        data += str(collision_count).encode()
    return _hashed(data)


@functools.lru_cache(maxsize=4096)
def _hashed(data: bytes) -> str:
    """fnv32a is a byte loop in Python (a few ms per template): every Deployment is reconciled
    after a restart, 2,500 of them in a 50,000-pod cluster, mostly with templates hashed before."""
    digits = str(fnv32a(data))
    return "".join(_SAFE[int(c) % len(_SAFE)] for c in digits)


def pod_from_template(owner: Obj, template: Obj, *, name: str = "", generate_name: str = "",
                      labels: dict[str, str] | None = None) -> Obj:
    """A pod the way controller.GetPodFromTemplate builds it: template labels, annotations and
    spec, the owner's namespace, a controller owner reference."""
    meta = template.get("metadata") or {}
    pod_meta: Obj = {"namespace": owner["metadata"].get("namespace", "default"),
                     "labels": {**(meta.get("labels") or {}), **(labels or {})},
                     "ownerReferences": [owner_reference(owner)]}
    if meta.get("annotations"):
        pod_meta["annotations"] = dict(meta["annotations"])
    if meta.get("finalizers"):
        pod_meta["finalizers"] = list(meta["finalizers"])
    if name:
        pod_meta["name"] = name
    else:
        pod_meta["generateName"] = generate_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": copy_obj(template.get("spec") or {})}
