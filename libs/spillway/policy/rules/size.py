"""A pod larger than the largest TKE Serverless instance spec (docs/design.md §6) is refused: no
instance could hold it. Malformed eks.tke.cloud.tencent.com/cpu or /mem annotations are
reported as a warning and the size is computed from the containers instead."""

from __future__ import annotations

from fractions import Fraction

from spillway.model.kube import Pod
from spillway.model.sizing import PodSize, SizeAnnotationError, pod_size
from spillway.model.specs import LARGEST_CPU, LARGEST_MEMORY_GIB, QuantityError
from spillway.policy.rules.base import Rule, RuleContext
from spillway.policy.status import Code, RuleResult, allowed

NAME = "size"
REASON = "PodTooLarge"
REASON_INVALID_QUANTITY = "InvalidResourceQuantity"


def _num(value: Fraction | int) -> str:
    number = Fraction(value)
    return str(number.numerator) if number.denominator == 1 else f"{float(number):g}"


def message(size: PodSize) -> str:
    return (
        f"pod needs {_num(size.cpu)} CPU / {_num(size.memory_gib)} GiB; the largest super-node instance is "
        f"{_num(LARGEST_CPU)} CPU / {_num(LARGEST_MEMORY_GIB)} GiB"
    )


def check(pod: Pod, ctx: RuleContext) -> RuleResult:
    warnings: tuple[str, ...] = ()
    try:
        try:
            size = pod_size(pod)
        except SizeAnnotationError as exc:
            warnings = (f"{exc}; size computed from the containers",)
            size = pod_size(pod, honour_annotations=False)
    except QuantityError as exc:
        return RuleResult(NAME, Code.ERROR, REASON_INVALID_QUANTITY, f"container resources: {exc}", warnings)
    if size.spec is None:
        return RuleResult(NAME, Code.NEVER_POSSIBLE, REASON, message(size), warnings)
    return allowed(NAME, f"instance {size.spec}", warnings)


RULE = Rule(NAME, REASON, check, (REASON_INVALID_QUANTITY,))
