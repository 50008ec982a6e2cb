"""policy/v1 PodDisruptionBudgets as kube-apiserver serves them: validation and which pods a
budget selects (docs/kubernetes-api.md, "PodDisruptionBudgets and eviction", records the upstream
sources). The status arithmetic is the disruption controller's (`controllers/disruption.py`), the
eviction check the eviction subresource's (`eviction.py`).

- Validation (pkg/apis/policy/validation `ValidatePodDisruptionBudgetSpec`): `minAvailable` and
  `maxUnavailable` are not both set; each is a non-negative integer or a percent string
  `[0-9]+%` of at most 100%; the selector is a valid label selector; `unhealthyPodEvictionPolicy`
  is IfHealthyBudget or AlwaysAllow. The status written through `/status` has no negative count
  (`ValidatePodDisruptionBudgetStatusUpdate`). Spec updates are allowed (since 1.15) and bump
  `metadata.generation`; the status keeps its `observedGeneration` until the controller catches up.
- Selection is asymmetric upstream, and kept so: the disruption controller counts the pods a
  selector matches (a null selector matches none, `{}` every pod of the namespace), while the
  eviction handler ignores a budget whose selector is null or empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from spillway.sandbox import errors
from spillway.sandbox.selectors import LabelSelector
from spillway.sandbox.validation import invalid_value, is_qualified_name, is_valid_label_value

Obj = dict[str, Any]
KIND, GROUP = "PodDisruptionBudget", "policy"
MAX_DISRUPTED_PODS = 2000
"""Above this many unconfirmed evictions the eviction handler refuses (403) until the controller catches up."""
POLICIES = ("AlwaysAllow", "IfHealthyBudget")
_PERCENT = re.compile(r"^[0-9]+%$")
PERCENT_MESSAGE = ("a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or "
                   "'93%', regex used for validation is '[0-9]+%')")
OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}


# ---- validation ---------------------------------------------------------------------------------

def _int_or_percent(value: Any, path: str) -> list[tuple[str, str, str]]:
    """ValidatePositiveIntOrPercent + IsNotMoreThan100Percent."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return [(path, "FieldValueInvalid", invalid_value(str(value), "must be an integer or percentage (e.g '5%')"))]
    if isinstance(value, int):
        if value < 0:
            return [(path, "FieldValueInvalid", invalid_value(value, "must be greater than or equal to 0"))]
        return []
    if not _PERCENT.match(value):
        return [(path, "FieldValueInvalid", invalid_value(value, PERCENT_MESSAGE))]
    if int(value[:-1]) > 100:
        return [(path, "FieldValueInvalid", invalid_value(value, "must not be greater than 100%"))]
    return []


def _selector_causes(selector: Any, path: str) -> list[tuple[str, str, str]]:
    """metav1 ValidateLabelSelector: label keys and values, operators and how many values each takes."""
    if selector is None:
        return []
    if not isinstance(selector, dict):
        return [(path, "FieldValueInvalid", "Invalid value: a label selector must be an object")]
    causes: list[tuple[str, str, str]] = []
    for key, value in sorted((selector.get("matchLabels") or {}).items()):
        causes += [(f"{path}.matchLabels", "FieldValueInvalid", invalid_value(str(key), m))
                   for m in is_qualified_name(str(key))]
        causes += [(f"{path}.matchLabels", "FieldValueInvalid", invalid_value(str(value), m))
                   for m in is_valid_label_value(str(value))]
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        where = f"{path}.matchExpressions[{i}]"
        if not isinstance(expr, dict):
            causes.append((where, "FieldValueInvalid", "Invalid value: must be an object"))
            continue
        operator, values = expr.get("operator"), expr.get("values") or []
        if operator not in OPERATORS:
            causes.append((f"{where}.operator", "FieldValueInvalid",
                           invalid_value(str(operator), "not a valid selector operator")))
        elif operator in ("In", "NotIn") and not values:
            causes.append((f"{where}.values", "FieldValueRequired",
                           "Required value: must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist") and values:
            causes.append((f"{where}.values", "FieldValueForbidden",
                           "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        causes += [(f"{where}.key", "FieldValueInvalid", invalid_value(str(expr.get("key")), m))
                   for m in is_qualified_name(str(expr.get("key") or ""))]
    return causes


def validate(obj: Obj) -> None:
    """422 Invalid with every finding, as the real server answers a bad budget."""
    spec: Obj = obj["spec"] if isinstance(obj.get("spec"), dict) else {}
    status: Obj = obj["status"] if isinstance(obj.get("status"), dict) else {}
    causes: list[tuple[str, str, str]] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        causes.append(("spec", "FieldValueInvalid", "Invalid value: minAvailable and maxUnavailable cannot be both "
                       "set"))
    for key in ("minAvailable", "maxUnavailable"):
        if spec.get(key) is not None:
            causes += _int_or_percent(spec[key], f"spec.{key}")
    causes += _selector_causes(spec.get("selector"), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in POLICIES:
        causes.append(("spec.unhealthyPodEvictionPolicy", "FieldValueNotSupported",
                       f'Unsupported value: {errors.go_quote(str(policy))}: supported values: "AlwaysAllow", '
                       '"IfHealthyBudget"'))
    for key in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
        value = status.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            causes.append((f"status.{key}", "FieldValueInvalid",
                           invalid_value(value if isinstance(value, int) else str(value),
                                         "must be greater than or equal to 0")))
    if causes:
        raise errors.invalid(KIND, GROUP, str((obj.get("metadata") or {}).get("name", "")), causes)


INITIAL_STATUS: Obj = {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}
"""What the API shows of a new budget's status (the counts are not omitempty in policy/v1)."""


# ---- selection -----------------------------------------------------------------------------------

def counted_pods(pdb: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """The pods the disruption controller counts: those of the budget's namespace its selector
    matches (null selector: none; `{}`: all)."""
    selector = (pdb.get("spec") or {}).get("selector")
    if selector is None:
        return []
    match = LabelSelector.from_label_selector(selector)
    namespace = pdb["metadata"].get("namespace")
    return [p for p in pods
            if p["metadata"].get("namespace") == namespace and match.matches(p["metadata"].get("labels"))]


def guards(pdb: Obj, pod: Obj) -> bool:
    """The eviction handler's test: same namespace, and a selector that is neither null nor empty
    and matches the pod's labels."""
    selector = (pdb.get("spec") or {}).get("selector")
    if not selector or pdb["metadata"].get("namespace") != pod["metadata"].get("namespace"):
        return False
    match = LabelSelector.from_label_selector(selector)
    return not match.empty and match.matches(pod["metadata"].get("labels"))
