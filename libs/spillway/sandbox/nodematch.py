"""Which nodes a pod may go to, as kube-scheduler and the DaemonSet controller decide it, over
the API's JSON: taints against tolerations (core/v1 `Toleration.ToleratesTaint` as of 1.32),
`nodeSelector` and required node affinity (component-helpers `nodeaffinity`, apimachinery
`labels.NewRequirement` and `Requirement.Matches`).

The sandbox keeps its own copy, written from the upstream semantics, rather than borrowing the
placement policy's: a test double that asks the product's code could never show a bug in it.

Upstream corner cases kept:
- a requirement that does not parse (a key that is no qualified name, a value that is no label
  value, the wrong number of values, an unknown operator, Gt/Lt with no int64) makes its term
  match nothing, while the other terms still count;
- matchFields knows In and NotIn with exactly one value; the node's only field is
  `metadata.name`, any other field reads as "" (so `spec.x NotIn [a]` matches);
- a term with neither expressions nor fields matches nothing, and so does a required affinity
  without terms; `nodeSelector` is plain equality, never validated;
- an empty toleration effect matches every effect, an empty key every key, no operator means
  Equal; any other operator tolerates nothing (Gt/Lt tolerations came after 1.32).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spillway.sandbox.validation import is_qualified_name, is_valid_label_value

NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "NoExecute"
FILTERED_EFFECTS = frozenset({NO_SCHEDULE, NO_EXECUTE})
"""The effects the scheduler's TaintToleration filter and the DaemonSet controller look at
(PreferNoSchedule only lowers a score, which is not simulated)."""

_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


# ---- taints and tolerations ---------------------------------------------------------------

def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != (taint.get("effect") or ""):
        return False
    key = toleration.get("key") or ""
    if key and key != (taint.get("key") or ""):
        return False
    operator = toleration.get("operator") or ""
    if operator in ("", "Equal"):
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return operator == "Exists"


def first_untolerated(tolerations: Sequence[Mapping[str, Any]] | None, taints: Iterable[Mapping[str, Any]] | None,
                      effects: frozenset[str] = FILTERED_EFFECTS) -> Mapping[str, Any] | None:
    """The first taint with one of `effects` that no toleration tolerates (FindMatchingUntoleratedTaint)."""
    for taint in taints or ():
        if taint.get("effect") in effects and not any(tolerates(t, taint) for t in tolerations or ()):
            return taint
    return None


# ---- nodeSelector and required node affinity ----------------------------------------------

def parse_int64(text: Any) -> int | None:
    """Go's strconv.ParseInt(text, 10, 64): a sign, decimal digits (leading zeros allowed), in range."""
    if not isinstance(text, str) or not _INT.fullmatch(text):
        return None
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > 19:  # beyond int64 whatever the digits; never build a huge int
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def _values(req: Mapping[str, Any]) -> list[Any]:
    return list(req.get("values") or [])


def _label_requirement_parses(req: Mapping[str, Any]) -> bool:
    key, operator, values = req.get("key"), req.get("operator"), _values(req)
    if not isinstance(key, str) or is_qualified_name(key):
        return False
    if operator in ("In", "NotIn"):
        counted = bool(values)
    elif operator in ("Exists", "DoesNotExist"):
        counted = not values
    elif operator in ("Gt", "Lt"):
        counted = len(values) == 1 and parse_int64(values[0]) is not None
    else:
        return False
    return counted and all(isinstance(v, str) and not is_valid_label_value(v) for v in values)


def _label_requirement_matches(req: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator, values = req["key"], req["operator"], _values(req)
    present = key in labels
    match operator:
        case "In":
            return present and labels[key] in values
        case "NotIn":
            return not present or labels[key] not in values
        case "Exists":
            return present
        case "DoesNotExist":
            return not present
        case _:  # Gt, Lt: the label must hold an int64 too
            have, want = parse_int64(labels.get(key)) if present else None, parse_int64(values[0])
            if have is None or want is None:
                return False
            return have > want if operator == "Gt" else have < want


def _field_requirement_parses(req: Mapping[str, Any]) -> bool:
    values = _values(req)
    return req.get("operator") in ("In", "NotIn") and len(values) == 1 and isinstance(values[0], str)


def _field_requirement_matches(req: Mapping[str, Any], fields: Mapping[str, str]) -> bool:
    equal = fields.get(str(req.get("key")), "") == _values(req)[0]
    return equal if req["operator"] == "In" else not equal


def term_matches(term: Mapping[str, Any], labels: Mapping[str, str], fields: Mapping[str, str]) -> bool:
    """Expressions and fields ANDed; an empty or unparsable term matches nothing."""
    expressions = list(term.get("matchExpressions") or [])
    field_reqs = list(term.get("matchFields") or [])
    if not expressions and not field_reqs:
        return False
    if not all(_label_requirement_parses(r) for r in expressions) or \
            not all(_field_requirement_parses(r) for r in field_reqs):
        return False
    if not all(_label_requirement_matches(r, labels) for r in expressions):
        return False
    # upstream skips the fields of a node without a name (it has no fields at all)
    return not fields or all(_field_requirement_matches(r, fields) for r in field_reqs)


def node_selector_matches(selector: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """A v1.NodeSelector: its terms ORed; no terms match nothing."""
    meta = node.get("metadata") or {}
    labels = meta.get("labels") or {}
    fields = {"metadata.name": meta["name"]} if meta.get("name") else {}
    return any(term_matches(term, labels, fields) for term in selector.get("nodeSelectorTerms") or [])


def required_affinity(pod_spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    node_affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required: Mapping[str, Any] | None = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    return required


def named_nodes(pod_spec: Mapping[str, Any]) -> frozenset[str] | None:
    """The only nodes the required node affinity can admit, when every term names its nodes with a
    `metadata.name In` field requirement (NodeAffinity's PreFilter); None when any node might fit.
    A superset is always safe: the filter still runs on each node named."""
    required = required_affinity(pod_spec)
    terms = required.get("nodeSelectorTerms") if isinstance(required, Mapping) else None
    if not isinstance(terms, list) or not terms:
        return None
    names: set[str] = set()
    for term in terms:
        fields = term.get("matchFields") if isinstance(term, Mapping) else None
        in_term: set[str] | None = None
        for req in fields if isinstance(fields, list) else ():
            if isinstance(req, Mapping) and req.get("key") == "metadata.name" and req.get("operator") == "In":
                values = {v for v in _values(req) if isinstance(v, str)}
                in_term = values if in_term is None else in_term & values
        if in_term is None:  # this term does not name its nodes; the terms are ORed
            return None
        names |= in_term
    return frozenset(names)


def fits_node_selection(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """`GetRequiredNodeAffinity(pod).Match(node)`: nodeSelector AND required node affinity."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if key not in labels or labels[key] != value:
            return False
    required = required_affinity(pod_spec)
    return required is None or node_selector_matches(required, node)
