"""The ReplicaSet controller: keep `spec.replicas` active pods, delete in the real victim order,
report status. Terminating and finished pods do not count (as in the real controller), so a
scaled-down pod that is still shutting down is replaced neither too early nor counted twice.

Creation is burst-friendly: up to `BURST` pods per sync (the real burstReplicas is 500), in
slow-start batches run concurrently, never a sleep between pods. Orphan adoption is not done:
only pods carrying this ReplicaSet's controller reference count.
"""

from __future__ import annotations

import asyncio
from typing import Any

from spillway.sandbox.controllers import ranking
from spillway.sandbox.controllers.base import Reconciler, controller_ref, owned, slow_start, write_status
from spillway.sandbox.controllers.podstate import is_active, is_ready
from spillway.sandbox.controllers.template import pod_from_template
from spillway.sandbox.selectors import LabelSelector

Obj = dict[str, Any]
BURST = 500
FAILURE_RETRY = 1.0
USER = "system:serviceaccount:kube-system:replicaset-controller"


class ReplicaSetController(Reconciler):
    kind_key = "replicasets"
    owner_kind = "ReplicaSet"
    watched = ("replicasets", "pods")

    async def reconcile(self, namespace: str, name: str) -> None:
        rs = self.store.try_get("replicasets", namespace, name)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        spec = rs.get("spec") or {}
        want = int(spec.get("replicas", 1))
        active = [p for p in owned(self.store, rs, "pods") if is_active(p)]
        diff = len(active) - want
        if diff < 0:
            count = min(-diff, BURST)
            template = spec.get("template") or {}

            async def create_one() -> None:
                pod = pod_from_template(rs, template, generate_name=f"{name}-")
                await self.store.create("pods", pod, namespace=namespace, user=USER)

            created = await slow_start(count, create_one)
            if created < count:  # refused (a webhook, a quota…): try again later, like a requeue
                asyncio.get_running_loop().call_later(FAILURE_RETRY, self.enqueue, namespace, name)
            elif count < -diff:
                self.enqueue(namespace, name)
        elif diff > 0:
            victims = ranking.pods_to_delete(active, self._related(rs, active), min(diff, BURST))
            await asyncio.gather(*(self.delete_pod(p) for p in victims))
        await self._status(rs, active if diff == 0 else None)

    def _related(self, rs: Obj, active: list[Obj]) -> list[Obj]:
        """Pods of every ReplicaSet controlled by the same owner (a Deployment's old and new sets)."""
        ref = controller_ref(rs)
        if ref is None:
            return active
        related: list[Obj] = []
        for sibling in self.store.dependents(str(ref.get("uid", "")), "replicasets"):
            related.extend(owned(self.store, sibling, "pods"))
        return related

    async def _status(self, rs: Obj, active: list[Obj] | None = None) -> None:
        """Write the counts; `active` may be passed when this reconcile created and deleted
        nothing (most reconciles in a burst: status churn), saving a second O(pods) walk."""
        meta = rs["metadata"]
        current = self.store.try_get("replicasets", meta["namespace"], meta["name"])
        if current is None:
            return
        if active is None:
            active = [p for p in owned(self.store, current, "pods") if is_active(p)]
        template_labels = ((current.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
        labelled = LabelSelector.from_label_selector({"matchLabels": template_labels})
        ready = sum(1 for p in active if is_ready(p))
        status = {
            "replicas": len(active),
            "fullyLabeledReplicas": sum(1 for p in active if labelled.matches(p["metadata"].get("labels"))),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": current["metadata"].get("generation", 1),
        }
        await write_status(self.store, "replicasets", current, status)
