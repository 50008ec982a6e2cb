"""Can a cloud instance run this pod, and if not, why: the one answer to that question.

Why here: only the translation knows what `CreateEKSContainerInstances` accepts. The placement
policy asks `cloud_refusals` (as its `cloud-instance` rule) before it binds a pod to a super
node, and `translate_pod` asks it before it builds the request, so a pod the translation would
refuse is kept local instead of being bound, failed and replaced by its controller in a loop.
It judges the pod alone plus the PersistentVolumes its claims are bound to; a claim not in
`persistent_volumes` is not judged (its existence is the caller's to report). The instance size
is judged by `spillway.model.sizing`, which both sides share as well. Pure and cheap: it runs
in every placement decision.
"""

from __future__ import annotations

from collections.abc import Mapping

from spillway.model.kube import PersistentVolume, Pod
from spillway.translate.containers import container_refusals
from spillway.translate.refusal import REASON_INVALID_POD_SPEC, CloudRefusal
from spillway.translate.volumes import volume_refusals


def cloud_refusals(pod: Pod, persistent_volumes: Mapping[str, PersistentVolume]) -> tuple[CloudRefusal, ...]:
    """Everything about `pod` that no cloud instance can run as written; empty when it can.
    `persistent_volumes` maps a claim name to the PersistentVolume it is bound to."""
    out: list[CloudRefusal] = []
    if not pod.spec.containers:
        out.append(CloudRefusal(REASON_INVALID_POD_SPEC, "pod has no containers"))
    every = (*pod.spec.init_containers, *pod.spec.containers)
    names = [c.name for c in every]
    if len(set(names)) != len(names):
        out.append(CloudRefusal(REASON_INVALID_POD_SPEC, "container names are not unique"))
    out.extend(volume_refusals(pod, persistent_volumes))
    for container in every:
        out.extend(container_refusals(pod, container))
    return tuple(out)
