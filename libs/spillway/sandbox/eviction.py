"""pods/eviction as kube-apiserver answers it (pkg/registry/core/pod/storage/eviction.go): a
graceful delete that a PodDisruptionBudget may refuse.

- The Eviction's `metadata.name` must be the pod's (400 otherwise); `deleteOptions` (grace period,
  uid/resourceVersion preconditions, dryRun) apply to the delete.
- A pod that is Pending, Succeeded or Failed, or already terminating, is deleted without looking
  at budgets (it disrupts nothing more), with a resourceVersion precondition unless terminal.
- Budgets guarding the pod: those of its namespace whose selector is neither null nor empty and
  matches its labels. More than one: 500 ("This pod has more than one PodDisruptionBudget, which
  the eviction subresource does not support."). None: delete.
- A pod that is not Ready is deleted without spending the budget when the budget says
  `unhealthyPodEvictionPolicy: AlwaysAllow`, or when currentHealthy >= desiredHealthy > 0; the
  delete then carries a resourceVersion precondition, and losing that race is a 429.
- Otherwise the budget is checked and decremented (`check_and_decrement`): a status not observed
  for the current generation → 429 with Retry-After 10 ("still being processed"); a negative
  disruptionsAllowed or more than 2000 unconfirmed disruptions → 403; disruptionsAllowed 0 → 429
  without Retry-After, "Cannot evict pod as it would violate the pod's disruption budget.", cause
  DisruptionBudget "The disruption budget <name> needs <desired> healthy pods and has <current>
  currently"; else disruptionsAllowed - 1 and `disruptedPods[<pod>] = now` written to the budget's
  status (a conflict re-reads the budget and tries again) before the pod is deleted.
- Before the delete the pod gets the condition DisruptionTarget=True (reason
  EvictionByEvictionAPI), except in a dry run. Success is a Status with code 201.
"""

from __future__ import annotations

from typing import Any

from spillway.sandbox import errors, pdb_rules
from spillway.sandbox.controllers.podstate import is_ready, is_terminating
from spillway.sandbox.errors import ApiError
from spillway.sandbox.semantics import rfc3339
from spillway.sandbox.store import Store

Obj = dict[str, Any]
BUDGETS = "poddisruptionbudgets"
CONFLICT_RETRIES = 20
"""As upstream's EvictionsRetry (20 steps): then 504, "couldn't update PodDisruptionBudget due to conflicts"."""
REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."
MORE_THAN_ONE = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
CAUSE = "DisruptionBudget"
USER = "system:kube-apiserver"


def too_many_requests(message: str, retry_after: int) -> ApiError:
    return ApiError(429, "TooManyRequests", REFUSED, causes=[{"reason": CAUSE, "message": message}],
                    retry_after=retry_after)


def still_processing(budget: str) -> ApiError:
    return too_many_requests(f"The disruption budget {budget} is still being processed by the server.", 10)


def _forbidden(budget: str, why: str) -> ApiError:
    return ApiError(403, "Forbidden", f'poddisruptionbudget.policy "{budget}" is forbidden: {why}', name=budget,
                    group="policy", kind="poddisruptionbudget")


def can_ignore_budget(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Pending", "Succeeded", "Failed") or is_terminating(pod)


def _enforce_resource_version(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and not is_terminating(pod)


async def check_and_decrement(store: Store, budget: Obj, pod_name: str, *, dry_run: bool) -> None:
    """Spend one disruption of `budget` on `pod_name`, or raise the API's refusal."""
    for _ in range(CONFLICT_RETRIES):
        meta, status = budget["metadata"], dict(budget.get("status") or {})
        name = meta["name"]
        if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
            raise still_processing(name)
        allowed = int(status.get("disruptionsAllowed") or 0)
        if allowed < 0:
            raise _forbidden(name, "pdb disruptions allowed is negative")
        disrupted = dict(status.get("disruptedPods") or {})
        if len(disrupted) > pdb_rules.MAX_DISRUPTED_PODS:
            raise _forbidden(name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller")
        if allowed == 0:
            raise too_many_requests(f"The disruption budget {name} needs {status.get('desiredHealthy', 0)} "
                                          f"healthy pods and has {status.get('currentHealthy', 0)} currently", 0)
        status["disruptionsAllowed"] = allowed - 1
        if allowed - 1 == 0:
            status["conditions"] = _insufficient(status, store)
        if dry_run:
            return
        disrupted[pod_name] = rfc3339(store.clock())
        status["disruptedPods"] = disrupted
        body = {"apiVersion": budget["apiVersion"], "kind": budget["kind"],
                "metadata": {"name": name, "namespace": meta["namespace"], "resourceVersion": meta["resourceVersion"]},
                "status": status}
        try:
            await store.update(BUDGETS, body, namespace=meta["namespace"], subresource="status", user=USER)
            return
        except ApiError as err:
            if err.code != 409:
                raise
        budget = store.get(BUDGETS, meta["namespace"], name)
    raise ApiError(504, "Timeout", f'couldn\'t update PodDisruptionBudget "{budget["metadata"]["name"]}" due to '
                   "conflicts", retry_after=10)


def _insufficient(status: Obj, store: Store) -> list[Obj]:
    """The DisruptionAllowed condition once the last allowed disruption is spent."""
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionAllowed"]
    old = next((c for c in status.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
    since = old.get("lastTransitionTime") if old and old.get("status") == "False" else None
    conditions.append({"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods", "message": "",
                       "observedGeneration": int(status.get("observedGeneration") or 0),
                       "lastTransitionTime": since or rfc3339(store.clock())})
    return conditions


async def _mark_and_delete(store: Store, pod: Obj, options: Obj, preconditions: Obj, *, dry_run: bool) -> None:
    """The DisruptionTarget condition (checked against the preconditions first), then the delete,
    its resourceVersion precondition moved to the version the condition made."""
    meta = pod["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    pre = dict(preconditions)
    if not dry_run:
        latest = store.get("pods", namespace, name)
        uid, version = pre.get("uid"), pre.get("resourceVersion")
        if uid and uid != latest["metadata"].get("uid"):
            raise errors.conflict("pods", "", name, f"Precondition failed: UID in precondition: {uid}, UID in "
                                  f"object meta: {latest['metadata'].get('uid')}")
        if version and version != latest["metadata"].get("resourceVersion"):
            raise errors.conflict("pods", "", name, f"Precondition failed: ResourceVersion in precondition: {version},"
                                  f" ResourceVersion in object meta: {latest['metadata'].get('resourceVersion')}")
        if not is_terminating(latest):
            condition = {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                         "message": "Eviction API: evicting", "lastTransitionTime": rfc3339(store.clock())}
            marked = await store.patch("pods", namespace, name, {"status": {"conditions": [condition]}},
                                       "application/strategic-merge-patch+json", subresource="status", user=USER)
            if version:
                pre["resourceVersion"] = marked["metadata"]["resourceVersion"]
    await store.delete("pods", namespace, name, grace_period_seconds=options.get("gracePeriodSeconds"),
                       preconditions=pre or None, dry_run=dry_run)


async def evict(store: Store, namespace: str, name: str, eviction: Obj, *, dry_run: bool) -> Obj:
    """Evict pod `namespace/name` as the Eviction body asks; returns the success Status or raises."""
    if (eviction.get("metadata") or {}).get("name") != name:
        raise errors.bad_request("name in URL does not match name in Eviction object")
    options = eviction.get("deleteOptions") or {}
    if not isinstance(options, dict):
        raise errors.bad_request("deleteOptions must be an object")
    dry_run = dry_run or options.get("dryRun") == ["All"]
    given = dict(options.get("preconditions") or {})
    pod = store.get("pods", namespace, name)
    if can_ignore_budget(pod):
        pre = dict(given)
        if _enforce_resource_version(pod) and not pre.get("resourceVersion"):
            pre["resourceVersion"] = pod["metadata"]["resourceVersion"]
        await _mark_and_delete(store, pod, options, pre, dry_run=dry_run)
        return errors.success_status(201)
    budgets = [b for b in store.list(BUDGETS, namespace)[0] if pdb_rules.guards(b, pod)]
    if len(budgets) > 1:
        raise ApiError(500, "", MORE_THAN_ONE)
    unready_but_safe = False
    budget_name = ""
    if budgets:
        budget = budgets[0]
        budget_name = budget["metadata"]["name"]
        status = budget.get("status") or {}
        if not is_ready(pod):
            policy = (budget.get("spec") or {}).get("unhealthyPodEvictionPolicy")
            desired = int(status.get("desiredHealthy") or 0)
            unready_but_safe = policy == "AlwaysAllow" or (int(status.get("currentHealthy") or 0) >= desired > 0)
        if not unready_but_safe:
            await check_and_decrement(store, budget, name, dry_run=dry_run)
    pre = dict(given)
    if unready_but_safe and not pre.get("resourceVersion"):
        pre["resourceVersion"] = pod["metadata"]["resourceVersion"]
    try:
        await _mark_and_delete(store, pod, options, pre, dry_run=dry_run)
    except ApiError as err:
        if err.code == 409 and unready_but_safe and not given.get("resourceVersion"):
            raise still_processing(budget_name) from None
        raise
    return errors.success_status(201)
