"""The Deployment controller: one ReplicaSet per pod-template hash (`<name>-<hash>`, label
`pod-template-hash`), scaling, RollingUpdate (maxSurge/maxUnavailable, default 25%/25%, the
real NewRSNewReplicas / reconcileOldReplicaSets arithmetic) and Recreate, status with the
Available and Progressing conditions.

Simplified: no proportional scaling of several live ReplicaSets during a rollout (the new set
is capped at spec.replicas and the old ones drain), no pause, no progressDeadlineSeconds, no
revisionHistoryLimit clean-up, no rollback; `deployment.kubernetes.io/revision` is kept on
the ReplicaSets.
"""

from __future__ import annotations

import math
from typing import Any

from spillway.sandbox.controllers.base import Reconciler, copy_obj, owned, owner_reference, write_status
from spillway.sandbox.controllers.template import template_hash
from spillway.sandbox.errors import ApiError
from spillway.sandbox.semantics import rfc3339

Obj = dict[str, Any]
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
USER = "system:serviceaccount:kube-system:deployment-controller"


def resolve_fenceposts(strategy: Obj, replicas: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable): percentages of replicas, surge rounded up, unavailable down;
    both 0 → maxUnavailable 1 (deploymentutil.ResolveFenceposts)."""
    rolling = strategy.get("rollingUpdate") or {}

    def value(raw: Any, round_up: bool) -> int:
        if raw is None:
            raw = "25%"
        if isinstance(raw, str) and raw.endswith("%"):
            scaled = int(raw[:-1]) * replicas / 100
            return math.ceil(scaled) if round_up else math.floor(scaled)
        return int(raw)

    surge, unavailable = value(rolling.get("maxSurge"), True), value(rolling.get("maxUnavailable"), False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _replicas(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0))


def _available(rs: Obj) -> int:
    return int((rs.get("status") or {}).get("availableReplicas", 0))


def rolling_new_replicas(replicas: int, surge: int, new: int, all_specs: int) -> int:
    """NewRSNewReplicas for RollingUpdate."""
    max_total = replicas + surge
    if all_specs >= max_total:
        return new
    return new + max(0, min(max_total - all_specs, replicas - new))


def rolling_old_scale_down(replicas: int, unavailable: int, new: Obj, old: list[Obj]) -> dict[str, int]:
    """reconcileOldReplicaSets: first drop old sets' unavailable pods, then scale old sets down
    (oldest first) while keeping minAvailable. Returns {old rs name: new replicas}."""
    targets = {rs["metadata"]["name"]: _replicas(rs) for rs in old}
    if sum(targets.values()) == 0:
        return targets
    all_specs = sum(targets.values()) + _replicas(new)
    min_available = replicas - unavailable
    new_unavailable = _replicas(new) - _available(new)
    budget = all_specs - min_available - new_unavailable
    if budget <= 0:
        return targets
    ordered = sorted(old, key=lambda rs: rs["metadata"].get("creationTimestamp", ""))
    for rs in ordered:  # cleanupUnhealthyReplicas
        name = rs["metadata"]["name"]
        unhealthy = targets[name] - _available(rs)
        cut = min(budget, max(unhealthy, 0))
        targets[name] -= cut
        budget -= cut
    available = _available(new) + sum(min(_available(rs), targets[rs["metadata"]["name"]]) for rs in old)
    extra = available - min_available
    for rs in ordered:
        name = rs["metadata"]["name"]
        cut = min(targets[name], max(extra, 0))
        targets[name] -= cut
        extra -= cut
    return targets


class DeploymentController(Reconciler):
    kind_key = "deployments"
    owner_kind = "Deployment"
    watched = ("deployments", "replicasets")

    async def reconcile(self, namespace: str, name: str) -> None:
        d = self.store.try_get("deployments", namespace, name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        spec = d.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        pod_hash = template_hash(template, int((d.get("status") or {}).get("collisionCount") or 0))
        sets = owned(self.store, d, "replicasets")
        new = next((rs for rs in sets if (rs["metadata"].get("labels") or {}).get(HASH_LABEL) == pod_hash), None)
        old = [rs for rs in sets if rs is not new]
        strategy = spec.get("strategy") or {}
        surge, unavailable = resolve_fenceposts(strategy, replicas)
        recreate = strategy.get("type") == "Recreate"
        old_live = sum(_replicas(rs) for rs in old)
        if recreate:
            for rs in old:
                await self._scale(rs, 0)
            old_pods = any(owned(self.store, rs, "pods") for rs in old)
            target = 0 if old_pods else replicas
        elif old_live == 0:
            target = replicas
        else:
            current = _replicas(new) if new else 0
            target = min(rolling_new_replicas(replicas, surge, current, old_live + current), replicas)
        if new is None:
            new = await self._create_rs(d, template, pod_hash, target, sets)
        else:
            await self._scale(new, target)
            new = self.store.get("replicasets", namespace, new["metadata"]["name"])
        if not recreate and old_live:
            for rs_name, want in rolling_old_scale_down(replicas, unavailable, new, old).items():
                rs = next(r for r in old if r["metadata"]["name"] == rs_name)
                await self._scale(rs, want)
        await self._status(d, new, unavailable)

    async def _create_rs(self, d: Obj, template: Obj, pod_hash: str, replicas: int, sets: list[Obj]) -> Obj:
        meta = d["metadata"]
        pod_template = copy_obj(template)
        labels = pod_template.setdefault("metadata", {}).setdefault("labels", {})
        labels[HASH_LABEL] = pod_hash
        selector = copy_obj((d.get("spec") or {}).get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        revision = 1 + max((int((rs["metadata"].get("annotations") or {}).get(REVISION, "0") or 0) for rs in sets),
                           default=0)
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": f"{meta['name']}-{pod_hash}", "namespace": meta["namespace"],
                           "labels": dict(labels), "annotations": {REVISION: str(revision)},
                           "ownerReferences": [owner_reference(d)]},
              "spec": {"replicas": replicas, "minReadySeconds": (d.get("spec") or {}).get("minReadySeconds", 0),
                       "selector": selector, "template": pod_template}}
        return await self.store.create("replicasets", rs, namespace=meta["namespace"], user=USER)

    async def _scale(self, rs: Obj, replicas: int) -> None:
        if _replicas(rs) == replicas:
            return
        meta = rs["metadata"]
        try:
            await self.store.patch("replicasets", meta["namespace"], meta["name"], {"spec": {"replicas": replicas}},
                                   "application/merge-patch+json", user=USER)
        except ApiError as err:
            if err.code != 404:
                raise

    async def _status(self, d: Obj, new: Obj, unavailable: int) -> None:
        meta = d["metadata"]
        current = self.store.try_get("deployments", meta["namespace"], meta["name"])
        if current is None:
            return
        sets = owned(self.store, current, "replicasets")
        replicas = int((current.get("spec") or {}).get("replicas", 1))
        available = sum(_available(rs) for rs in sets)
        spec_total = sum(_replicas(rs) for rs in sets)
        actual = sum(int((rs.get("status") or {}).get("replicas", 0)) for rs in sets)
        updated = int((new.get("status") or {}).get("replicas", 0))
        complete = updated == replicas and actual == replicas and available >= replicas
        rs_name = new["metadata"]["name"]
        now = rfc3339(self.store.clock())
        conditions = [
            _condition(current, "Available", available >= replicas - unavailable,
                       ("MinimumReplicasAvailable", "Deployment has minimum availability."),
                       ("MinimumReplicasUnavailable", "Deployment does not have minimum availability."), now),
            _condition(current, "Progressing", True,
                       ("NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.')
                       if complete else ("ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.'),
                       ("", ""), now),
        ]
        status: Obj = {
            "observedGeneration": current["metadata"].get("generation", 1),
            "replicas": actual,
            "updatedReplicas": updated,
            "readyReplicas": sum(int((rs.get("status") or {}).get("readyReplicas", 0)) for rs in sets),
            "availableReplicas": available,
            "unavailableReplicas": max(spec_total - available, 0),
            "conditions": conditions,
        }
        await write_status(self.store, "deployments", current, status)


def _condition(d: Obj, type_: str, ok: bool, good: tuple[str, str], bad: tuple[str, str], now: str) -> Obj:
    """A condition that keeps its timestamps while status and reason stay the same."""
    reason, message = good if ok else bad
    status = "True" if ok else "False"
    old = next((c for c in (d.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None)
    if old and old.get("status") == status and old.get("reason") == reason and old.get("message") == message:
        return dict(old)
    transition = old["lastTransitionTime"] if old and old.get("status") == status else now
    return {"type": type_, "status": status, "lastUpdateTime": now, "lastTransitionTime": transition,
            "reason": reason, "message": message}
