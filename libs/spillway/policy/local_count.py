"""How many replicas of a workload count as local, the number LOCAL_REPLICAS is compared with.

Why a precise definition: when 100 pods of one workload arrive at once, placement decides them
one after another before the API reflects any of its decisions; counting only what the API shows
would send all 100 to the local scheduler. Counting in-flight decisions keeps the quota exact.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Literal

from spillway.model.kube import PLACEMENT_GATE, Pod

InFlight = Literal["local", "cloud"]


def count_local(pods: Iterable[Pod], super_nodes: Collection[str], in_flight: Mapping[str, InFlight]) -> int:
    """The number of the workload's replicas that count as local.

    `pods` are the workload's pods as last observed; `super_nodes` the names of the super nodes;
    `in_flight` maps pod uid → the placement decision ("local" or "cloud") taken but not yet seen
    back from the API. A pod counts when all of these hold:

    - it is not terminating (no deletionTimestamp) and not finished (phase Succeeded/Failed);
    - and one of:
      1. it is bound (spec.nodeName set) to a node that is not a super node;
      2. it is unbound, carries no `spillway.io/placement` gate, and is not in-flight "cloud"
         (it is headed for the local scheduler);
      3. it is unbound, still gated, and in-flight "local" (the gate removal is not seen yet).

    Pods bound to a super node, in-flight "cloud", or gated and undecided do not count. Each pod
    counts once; duplicates by uid are ignored.
    """
    seen: set[str] = set()
    total = 0
    for pod in pods:
        uid = pod.metadata.uid
        if uid and uid in seen:
            continue
        seen.add(uid)
        if pod.is_terminating() or pod.is_finished():
            continue
        node = pod.spec.node_name
        if node:
            total += node not in super_nodes
            continue
        decision = in_flight.get(uid)
        if pod.is_gated_by(PLACEMENT_GATE):
            total += decision == "local"
        else:
            total += decision != "cloud"
    return total
