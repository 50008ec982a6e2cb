"""Pod → instance size (docs/design.md §6), shared by the policy's size rule and the translation.

Per resource, total = max(sum over app containers of request (limit when no request),
largest init container); both totals 0 → 1 core / 2 GiB. The `eks.tke.cloud.tencent.com/cpu`
and `/mem` annotations override the computed totals. Sidecar init containers
(restartPolicy Always) run beside the app containers, so they add to the sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from spillway.model.kube import ANNOTATION_CPU, ANNOTATION_MEM, Container, Pod
from spillway.model.specs import InstanceSpec, QuantityError, cpu_cores, memory_gib, smallest_fitting_spec


class SizeAnnotationError(ValueError):
    """A cpu/mem override annotation that is not a quantity (the caller reports it and ignores it)."""


@dataclass(frozen=True, slots=True)
class PodSize:
    """Total cores and GiB a pod needs, and the spec chosen for it (None: larger than any spec)."""

    cpu: Fraction
    memory_gib: Fraction
    spec: InstanceSpec | None


def _container_amount(container: Container, resource: str) -> Fraction:
    text = container.resources.requests.get(resource) or container.resources.limits.get(resource)
    if text is None:
        return Fraction(0)
    return cpu_cores(text) if resource == "cpu" else memory_gib(text)


def resource_totals(pod: Pod) -> tuple[Fraction, Fraction]:
    """(cores, GiB) the pod asks for, by the docs/design.md §6 rule, before annotations."""
    totals: list[Fraction] = []
    for resource in ("cpu", "memory"):
        app = sum((_container_amount(c, resource) for c in pod.spec.containers), Fraction(0))
        sidecars = sum(
            (_container_amount(c, resource) for c in pod.spec.init_containers if c.restart_policy == "Always"),
            Fraction(0),
        )
        largest_init = max(
            (_container_amount(c, resource) for c in pod.spec.init_containers if c.restart_policy != "Always"),
            default=Fraction(0),
        )
        totals.append(max(app + sidecars, largest_init))
    return totals[0], totals[1]


def size_overrides(pod: Pod) -> tuple[Fraction | None, Fraction | None]:
    """The cpu/mem annotation values; raises SizeAnnotationError naming the bad annotation."""
    annotations = pod.metadata.annotations
    cpu: Fraction | None = None
    mem: Fraction | None = None
    try:
        if ANNOTATION_CPU in annotations:
            cpu = cpu_cores(annotations[ANNOTATION_CPU])
    except QuantityError as exc:
        raise SizeAnnotationError(f"annotation {ANNOTATION_CPU}: {exc}") from None
    try:
        if ANNOTATION_MEM in annotations:
            mem = memory_gib(annotations[ANNOTATION_MEM])
    except QuantityError as exc:
        raise SizeAnnotationError(f"annotation {ANNOTATION_MEM}: {exc}") from None
    return cpu, mem


def pod_size(pod: Pod, *, honour_annotations: bool = True) -> PodSize:
    """The size of the instance a pod needs. Bad override annotations raise SizeAnnotationError;
    callers that must not fail call again with honour_annotations=False after reporting it."""
    cpu, mem = resource_totals(pod)
    if honour_annotations:
        cpu_override, mem_override = size_overrides(pod)
        cpu = cpu if cpu_override is None else cpu_override
        mem = mem if mem_override is None else mem_override
    return PodSize(cpu, mem, smallest_fitting_spec(cpu, mem))
