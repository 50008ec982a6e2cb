"""The disruption controller (kube-controller-manager's, pkg/controller/disruption): keeps each
PodDisruptionBudget's status in step with the pods it selects, so the eviction subresource can
say yes or no.

Status, as upstream computes it:
- `expectedPods`: the sum of the scales of the selected pods' controllers (Deployment through its
  ReplicaSet, a ReplicaSet without one, StatefulSet), or simply the number of selected pods for
  an integer `minAvailable`; pods without a controller are left out;
- `desiredHealthy`: `minAvailable` (a percent of expectedPods, rounded up), or expectedPods minus
  `maxUnavailable` (likewise), never below 0;
- `currentHealthy`: selected pods that are Ready, not terminating, and not in `disruptedPods`;
- `disruptedPods`: evictions the eviction subresource approved, kept until the pod is seen
  terminating or `DELETION_TIMEOUT` (2 minutes) has passed — the budget is re-checked then;
- `disruptionsAllowed`: currentHealthy - desiredHealthy, never below 0, and 0 while expectedPods
  is 0; `observedGeneration`; the condition `DisruptionAllowed` (True/SufficientPods,
  False/InsufficientPods).
When the expected count cannot be computed (a selected pod's controller has no scale, as a Job's,
or is gone) the controller fails safe: disruptionsAllowed 0, condition False/SyncFailed with the
error, the rest of the status as it was.

Simplified: no events (NoPods, UnmanagedPods, MultiplePodDisruptionBudgets, NotDeleted), no
stale DisruptionTarget clean-up; the status is written with a resourceVersion precondition, and a
conflict is retried after a short delay as a requeue would be.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping
from typing import Any

from spillway.sandbox import pdb_rules
from spillway.sandbox.controllers.base import Reconciler, controller_ref
from spillway.sandbox.controllers.podstate import is_ready, is_terminating, parse_time
from spillway.sandbox.errors import ApiError
from spillway.sandbox.semantics import rfc3339

Obj = dict[str, Any]
KEY = "poddisruptionbudgets"
USER = "system:serviceaccount:kube-system:disruption-controller"
DELETION_TIMEOUT = 120.0
"""Seconds an entry of `disruptedPods` protects its pod while the pod is not seen terminating."""
CONDITION = "DisruptionAllowed"
SCALED_KINDS = {"ReplicaSet": "replicasets", "StatefulSet": "statefulsets"}


class ExpectedCountError(Exception):
    """The selected pods' controllers' scale cannot be summed (the controller fails safe)."""


def scaled(value: int | str, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent with roundUp: an int as is, a percent of `total`, up."""
    if isinstance(value, int):
        return value
    return math.ceil(int(value[:-1]) * total / 100)


def desired(spec: Mapping[str, Any], expected: int, pods: int) -> tuple[int, int]:
    """(expectedPods, desiredHealthy): `expected` is the controllers' scale sum, `pods` the number
    of selected pods (what an integer minAvailable is measured against)."""
    if spec.get("maxUnavailable") is not None:
        return expected, max(0, expected - scaled(spec["maxUnavailable"], expected))
    minimum = spec.get("minAvailable")
    if isinstance(minimum, int):
        return pods, minimum
    if isinstance(minimum, str):
        return expected, scaled(minimum, expected)
    return expected, 0


def live_disruptions(recorded: Mapping[str, str], pods: Iterable[Obj],
                     now: float) -> tuple[dict[str, str], float | None]:
    """The `disruptedPods` entries still protecting a selected pod that is not terminating yet, and
    when the earliest of them expires (None: none left)."""
    kept: dict[str, str] = {}
    recheck: float | None = None
    for pod in pods:
        name = pod["metadata"]["name"]
        if name not in recorded or is_terminating(pod):
            continue
        at = parse_time(recorded[name])
        if at is None or at + DELETION_TIMEOUT < now:
            continue
        kept[name] = recorded[name]
        recheck = at + DELETION_TIMEOUT if recheck is None else min(recheck, at + DELETION_TIMEOUT)
    return kept, recheck


def current_healthy(pods: Iterable[Obj], disrupted: Mapping[str, str]) -> int:
    return sum(1 for p in pods if not is_terminating(p) and p["metadata"]["name"] not in disrupted and is_ready(p))


def allowed_condition(allowed: int, observed: int, now: str, old: Mapping[str, Any] | None,
                      reason: str | None = None, message: str = "") -> Obj:
    """pdbhelper.UpdateDisruptionAllowedCondition (or the fail-safe's SyncFailed), keeping the
    transition time while the condition's status holds."""
    status = "True" if allowed > 0 and reason is None else "False"
    reason = reason or ("SufficientPods" if status == "True" else "InsufficientPods")
    since = old.get("lastTransitionTime") if old and old.get("status") == status else None
    return {"type": CONDITION, "status": status, "observedGeneration": observed,
            "lastTransitionTime": since or now, "reason": reason, "message": message}


def with_condition(conditions: Iterable[Mapping[str, Any]], condition: Obj) -> list[Obj]:
    return [*(dict(c) for c in conditions if c.get("type") != CONDITION), condition]


def _condition(pdb: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((c for c in (pdb.get("status") or {}).get("conditions") or [] if c.get("type") == CONDITION), None)


class DisruptionController(Reconciler):
    kind_key = KEY
    watched = (KEY, "pods", "replicasets", "deployments", "statefulsets")

    def on_event(self, key: str, type_: str, obj: Obj) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace", "")
        if key == KEY:
            self.enqueue(namespace, meta["name"])
            return
        budgets = self.store.list(KEY, namespace)[0]
        for budget in budgets:
            if key != "pods" or pdb_rules.counted_pods(budget, [obj]):
                self.enqueue(namespace, budget["metadata"]["name"])

    def _scale(self, namespace: str, ref: Mapping[str, Any]) -> tuple[str, int]:
        """(uid, replicas) of the workload a pod's controller reference leads to."""
        kind, name = ref.get("kind"), str(ref.get("name", ""))
        key = SCALED_KINDS.get(str(kind))
        owner = self.store.try_get(key, namespace, name) if key else None
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            if key is None:
                raise ExpectedCountError(f"{str(kind).lower()}s does not implement the scale subresource")
            raise ExpectedCountError(f'found no controllers for pod of {kind} "{name}"')
        top = controller_ref(owner) if kind == "ReplicaSet" else None
        if top is not None and top.get("kind") == "Deployment":
            deployment = self.store.try_get("deployments", namespace, str(top.get("name", "")))
            if deployment is not None and deployment["metadata"].get("uid") == top.get("uid"):
                owner = deployment
        return str(owner["metadata"]["uid"]), int((owner.get("spec") or {}).get("replicas", 1))

    def expected_scale(self, namespace: str, pods: Iterable[Obj]) -> int:
        """The sum of the scales of the workloads the pods' controllers lead to, each counted once;
        pods without a controller are left out (upstream warns about them)."""
        scales: dict[str, int] = {}
        refs: set[str] = set()
        for pod in pods:
            ref = controller_ref(pod)
            if ref is None or str(ref.get("uid")) in refs:
                continue
            refs.add(str(ref.get("uid")))
            uid, replicas = self._scale(namespace, ref)
            scales[uid] = replicas
        return sum(scales.values())

    async def reconcile(self, namespace: str, name: str) -> None:
        budget = self.store.try_get(KEY, namespace, name)
        if budget is None:
            return
        spec = budget.get("spec") or {}
        pods = pdb_rules.counted_pods(budget, self.store.list("pods", namespace)[0])
        now = self.store.clock()
        stamp = rfc3339(now)
        status = dict(budget.get("status") or {})
        generation = int(budget["metadata"].get("generation") or 1)
        try:
            needs_scale = spec.get("maxUnavailable") is not None or isinstance(spec.get("minAvailable"), str)
            expected_scale = self.expected_scale(namespace, pods) if needs_scale else len(pods)
        except ExpectedCountError as exc:
            failed = dict(status, disruptionsAllowed=0)
            condition = allowed_condition(0, int(status.get("observedGeneration") or 0), stamp, _condition(budget),
                                          "SyncFailed", str(exc))
            failed["conditions"] = with_condition(status.get("conditions") or [], condition)
            await self._write(budget, failed)
            return
        expected, desired_healthy = desired(spec, expected_scale, len(pods))
        disrupted, recheck = live_disruptions(status.get("disruptedPods") or {}, pods, now)
        healthy = current_healthy(pods, disrupted)
        allowed = healthy - desired_healthy if expected > 0 and healthy > desired_healthy else 0
        new: Obj = {"disruptionsAllowed": allowed, "currentHealthy": healthy, "desiredHealthy": desired_healthy,
                    "expectedPods": expected, "observedGeneration": generation}
        if disrupted:
            new["disruptedPods"] = disrupted
        new["conditions"] = with_condition(status.get("conditions") or [],
                                           allowed_condition(allowed, generation, stamp, _condition(budget)))
        await self._write(budget, new)
        if recheck is not None:
            asyncio.get_running_loop().call_later(max(0.0, recheck - now) + 0.01, self.enqueue, namespace, name)

    async def _write(self, budget: Obj, status: Obj) -> None:
        if (budget.get("status") or {}) == status:
            return
        meta = budget["metadata"]
        body = {"apiVersion": budget["apiVersion"], "kind": budget["kind"],
                "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                             "resourceVersion": meta["resourceVersion"]},
                "status": status}
        try:
            await self.store.update(KEY, body, namespace=meta["namespace"], subresource="status", user=USER)
        except ApiError as err:
            if err.code != 404:
                raise
