"""The StatefulSet controller: pods `<name>-0 … <name>-(N-1)` with stable names, hostname and
subdomain, the `statefulset.kubernetes.io/pod-name` and `apps.kubernetes.io/pod-index` labels.

podManagementPolicy OrderedReady (default) creates ordinal i only when every lower ordinal is
Running and Ready and removes the highest ordinal one at a time; Parallel does both at once.
Finished pods are deleted and recreated. Simplified: no volumeClaimTemplates (PVCs are not
created), no rolling update of existing pods on template change, no ControllerRevisions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from spillway.sandbox.controllers.base import Reconciler, owned, write_status
from spillway.sandbox.controllers.podstate import is_active, is_finished, is_ready, is_terminating
from spillway.sandbox.controllers.template import pod_from_template
from spillway.sandbox.errors import ApiError

Obj = dict[str, Any]
USER = "system:serviceaccount:kube-system:statefulset-controller"


def ordinal(set_name: str, pod_name: str) -> int | None:
    prefix = set_name + "-"
    tail = pod_name[len(prefix):] if pod_name.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else None


class StatefulSetController(Reconciler):
    kind_key = "statefulsets"
    owner_kind = "StatefulSet"
    watched = ("statefulsets", "pods")

    async def reconcile(self, namespace: str, name: str) -> None:
        sts = self.store.try_get("statefulsets", namespace, name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        spec = sts.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        parallel = spec.get("podManagementPolicy") == "Parallel"
        pods = {o: p for p in owned(self.store, sts, "pods") if (o := ordinal(name, p["metadata"]["name"])) is not None}
        for i, pod in list(pods.items()):
            if is_finished(pod) and not is_terminating(pod):
                await self.delete_pod(pod)
                pods.pop(i)
        for i in range(replicas):
            if i in pods:
                if not parallel and not (is_ready(pods[i]) and is_active(pods[i])):
                    break
                continue
            await self._create(sts, i)
            if not parallel:
                break
        extra = sorted((i for i in pods if i >= replicas), reverse=True)
        if extra and not parallel:
            extra = [] if any(is_terminating(pods[i]) for i in extra) else extra[:1]
        await asyncio.gather(*(self.delete_pod(pods[i]) for i in extra if not is_terminating(pods[i])))
        await self._status(sts)

    async def _create(self, sts: Obj, index: int) -> None:
        name = f"{sts['metadata']['name']}-{index}"
        pod = pod_from_template(sts, (sts.get("spec") or {}).get("template") or {}, name=name,
                                labels={"statefulset.kubernetes.io/pod-name": name,
                                        "apps.kubernetes.io/pod-index": str(index)})
        pod["spec"]["hostname"] = name
        service = (sts.get("spec") or {}).get("serviceName")
        if service:
            pod["spec"]["subdomain"] = service
        try:
            await self.store.create("pods", pod, namespace=sts["metadata"]["namespace"], user=USER)
        except ApiError as err:
            if err.reason != "AlreadyExists":
                raise

    async def _status(self, sts: Obj) -> None:
        meta = sts["metadata"]
        current = self.store.try_get("statefulsets", meta["namespace"], meta["name"])
        if current is None:
            return
        active = [p for p in owned(self.store, current, "pods") if is_active(p)]
        ready = sum(1 for p in active if is_ready(p))
        status = {"observedGeneration": current["metadata"].get("generation", 1), "replicas": len(active),
                  "readyReplicas": ready, "availableReplicas": ready, "currentReplicas": len(active),
                  "updatedReplicas": len(active)}
        await write_status(self.store, "statefulsets", current, status)
