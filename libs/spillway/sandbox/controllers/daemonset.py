"""The DaemonSet controller: one pod per node whose NoSchedule/NoExecute taints the pod
tolerates and whose labels/fields match the template's node selection, pinned the way the
real controller does it (required node affinity `matchFields metadata.name In [node]`, bound
by the scheduler), with the DaemonSet default tolerations added. So a DaemonSet tolerating
everything (`operator: Exists`) gets a pod on super nodes too, as in a real cluster.

Pods are added and removed as nodes come, go or change taints; failed pods are replaced.
Simplified: no rolling update of existing pods on template change, no ControllerRevisions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from spillway.sandbox import nodematch
from spillway.sandbox.controllers.base import Reconciler, copy_obj, owned, slow_start, write_status
from spillway.sandbox.controllers.podstate import is_active, is_finished, is_ready, is_terminating
from spillway.sandbox.controllers.template import pod_from_template

Obj = dict[str, Any]
USER = "system:serviceaccount:kube-system:daemon-set-controller"
DEFAULT_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)


def daemon_pod_spec(template_spec: Obj, node_name: str) -> Obj:
    """The template spec with the node pin (ReplaceDaemonSetPodNodeNameNodeAffinity) and the
    default tolerations (AddOrUpdateDaemonPodTolerations)."""
    spec: Obj = copy_obj(template_spec)
    pin = {"key": "metadata.name", "operator": "In", "values": [node_name]}
    node_affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        terms = [{"matchFields": [pin]}]
    else:
        for term in terms:
            fields = [f for f in term.get("matchFields") or [] if f.get("key") != "metadata.name"]
            term["matchFields"] = [*fields, pin]
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": terms}
    tolerations = spec.setdefault("tolerations", [])
    wanted = list(DEFAULT_TOLERATIONS)
    if spec.get("hostNetwork"):
        wanted.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
    for key, effect in wanted:
        if not any(t.get("key") == key and t.get("effect") == effect for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": effect})
    return spec


def should_run(template_spec: Obj, node: Obj) -> bool:
    """NodeShouldRunDaemonPod: taints tolerated and node selection matched."""
    spec = daemon_pod_spec(template_spec, node["metadata"]["name"])
    taints = (node.get("spec") or {}).get("taints")
    return nodematch.first_untolerated(spec.get("tolerations"), taints) is None \
        and nodematch.fits_node_selection(spec, node)


def target_node(pod: Obj) -> str:
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for f in term.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("values"):
                return str(f["values"][0])
    return ""


class DaemonSetController(Reconciler):
    kind_key = "daemonsets"
    owner_kind = "DaemonSet"
    watched = ("daemonsets", "pods", "nodes")

    def on_event(self, key: str, type_: str, obj: Obj) -> None:
        if key == "nodes":
            self.enqueue_all()
        else:
            super().on_event(key, type_, obj)

    async def reconcile(self, namespace: str, name: str) -> None:
        ds = self.store.try_get("daemonsets", namespace, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        template = (ds.get("spec") or {}).get("template") or {}
        nodes = {n["metadata"]["name"]: n for n in self.store.list("nodes")[0]}
        eligible = {n for n, node in nodes.items() if should_run(template.get("spec") or {}, node)}
        by_node: dict[str, list[Obj]] = {}
        doomed: list[Obj] = []
        for pod in owned(self.store, ds, "pods"):
            if is_terminating(pod):
                continue
            node = target_node(pod)
            if node not in eligible or is_finished(pod):
                doomed.append(pod)
            else:
                by_node.setdefault(node, []).append(pod)
        for pods in by_node.values():
            doomed.extend(sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""))[1:])
        await asyncio.gather(*(self.delete_pod(p) for p in doomed))
        missing = sorted(eligible - by_node.keys())
        generation = str(ds["metadata"].get("generation", 1))
        queue = list(missing)

        async def create_one() -> None:
            node = queue.pop()
            pod = pod_from_template(ds, template, generate_name=f"{name}-",
                                    labels={"pod-template-generation": generation})
            pod["spec"] = daemon_pod_spec(template.get("spec") or {}, node)
            await self.store.create("pods", pod, namespace=namespace, user=USER)

        await slow_start(len(missing), create_one)
        await self._status(ds, eligible)

    async def _status(self, ds: Obj, eligible: set[str]) -> None:
        meta = ds["metadata"]
        current = self.store.try_get("daemonsets", meta["namespace"], meta["name"])
        if current is None:
            return
        pods = [p for p in owned(self.store, current, "pods") if is_active(p)]
        scheduled = {(p.get("spec") or {}).get("nodeName") for p in pods} - {None, ""}
        ready = sum(1 for p in pods if is_ready(p))
        status = {"observedGeneration": current["metadata"].get("generation", 1),
                  "desiredNumberScheduled": len(eligible),
                  "currentNumberScheduled": len(scheduled & eligible),
                  "numberMisscheduled": len(scheduled - eligible),
                  "numberReady": ready, "numberAvailable": ready,
                  "updatedNumberScheduled": len(scheduled & eligible)}
        await write_status(self.store, "daemonsets", current, status)
