"""Kubernetes scheduling predicates: taints vs tolerations, nodeSelector, required node affinity.

Why our own: the placement policy needs them to pick a super node, so they follow the upstream
helpers exactly (k8s.io/api/core/v1 `Toleration.ToleratesTaint`, component-helpers
`nodeaffinity`, apimachinery `labels.NewRequirement`), including their corner cases: an empty
term matches nothing, an empty toleration key with Exists matches every taint, Gt/Lt compare
integers, and a requirement that does not parse (a key that is no qualified name, a value that
is no label value, the wrong number of values, an unknown operator) sinks its term while the
other terms still count. The API server's validation lets some of these through (it never
checks the values as label values); a policy that let such a term match would pin the pod to a
super node kube-scheduler will never bind it to, leaving it Pending.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from spillway.model.kube import Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration

NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"
SCHEDULING_EFFECTS: frozenset[str] = frozenset({NO_SCHEDULE, NO_EXECUTE})
"""Effects that keep a pod off a node (PreferNoSchedule only lowers a node's score)."""

FIELD_NODE_NAME = "metadata.name"


# ---- taints and tolerations ---------------------------------------------------------------

def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Upstream `ToleratesTaint`: effects must match unless the toleration's is empty; keys must
    match unless the toleration's is empty; Exists matches any value, Equal (or no operator)
    needs equal values."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    operator = toleration.operator or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.value or "") == (taint.value or "")
    return False


def untolerated_taints(
    tolerations: Sequence[Toleration], taints: Iterable[Taint], effects: frozenset[str] = SCHEDULING_EFFECTS
) -> list[Taint]:
    """The taints with an effect in `effects` that no toleration tolerates (empty: the pod fits)."""
    return [t for t in taints if t.effect in effects and not any(tolerates(tol, t) for tol in tolerations)]


# ---- selectors and affinity ---------------------------------------------------------------

def node_selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """pod.spec.nodeSelector: every key present with exactly that value."""
    return all(labels.get(k) == v for k, v in selector.items())


_INT = re.compile(r"[+-]?[0-9]+")
_INT64_DIGITS = 19
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_NAME_MAX = 63
_SUBDOMAIN_MAX = 253


def _as_int(text: str) -> int | None:
    """Go's strconv.ParseInt(text, 10, 64): an optional sign and decimal digits (leading zeros
    allowed), within int64; more than 19 significant digits are refused before any conversion."""
    if not _INT.fullmatch(text) or len(text.lstrip("+-").lstrip("0")) > _INT64_DIGITS:
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def _is_label_key(key: str) -> bool:
    """apimachinery `IsQualifiedName`: a name of 1-63 characters, optionally after a DNS-1123
    subdomain prefix and a slash (lengths checked first, so a hostile key costs nothing)."""
    prefix, slash, name = key.rpartition("/")
    if slash and not (0 < len(prefix) <= _SUBDOMAIN_MAX and _DNS1123_SUBDOMAIN.fullmatch(prefix)):
        return False
    return 0 < len(name) <= _LABEL_NAME_MAX and _LABEL_NAME.fullmatch(name) is not None


def _is_label_value(value: str) -> bool:
    """apimachinery `IsValidLabelValue`: empty, or a name of at most 63 characters."""
    return not value or (len(value) <= _LABEL_NAME_MAX and _LABEL_NAME.fullmatch(value) is not None)


def _requirement_parses(req: NodeSelectorRequirement) -> bool:
    """`labels.NewRequirement` accepts it: a qualified key, values that are label values, and as
    many as the operator takes (In/NotIn some, Exists/DoesNotExist none, Gt/Lt one int64)."""
    if not _is_label_key(req.key):
        return False
    values = req.values
    match req.operator:
        case "In" | "NotIn":
            counted = bool(values)
        case "Exists" | "DoesNotExist":
            counted = not values
        case "Gt" | "Lt":
            counted = len(values) == 1 and _as_int(values[0]) is not None
        case _:
            return False
    return counted and all(_is_label_value(v) for v in values)


def requirement_matches(req: NodeSelectorRequirement, labels: Mapping[str, str]) -> bool:
    """One matchExpressions requirement against a label set; one that does not parse matches
    nothing (upstream drops its whole term, which comes to the same since a term ANDs)."""
    if not _requirement_parses(req):
        return False
    present = req.key in labels
    value = labels.get(req.key, "")
    match req.operator:
        case "In":
            return present and value in req.values
        case "NotIn":
            return not present or value not in req.values
        case "Exists":
            return present
        case "DoesNotExist":
            return not present
        case _:  # Gt, Lt: the label must hold an int64 too
            have, want = _as_int(value), _as_int(req.values[0])
            if not present or have is None or want is None:
                return False
            return have > want if req.operator == "Gt" else have < want


def field_requirement_matches(req: NodeSelectorRequirement, node: Node) -> bool:
    """One matchFields requirement, as upstream's field selector: In or NotIn with exactly one
    value, on any key. The node's only field is `metadata.name`; any other reads as "" (so
    `spec.x NotIn [a]` matches). A node without a name has no fields and upstream skips them."""
    if req.operator not in ("In", "NotIn") or len(req.values) != 1:
        return False
    name = node.metadata.name
    if not name:
        return True
    have = name if req.key == FIELD_NODE_NAME else ""
    return (have == req.values[0]) is (req.operator == "In")


def term_matches(term: NodeSelectorTerm, node: Node) -> bool:
    """A term ANDs its expressions and fields; a term with neither matches nothing."""
    if not term.match_expressions and not term.match_fields:
        return False
    labels = node.metadata.labels
    return all(requirement_matches(r, labels) for r in term.match_expressions) and all(
        field_requirement_matches(r, node) for r in term.match_fields
    )


def node_selector_terms_match(selector: NodeSelector, node: Node) -> bool:
    """Terms are ORed; a selector with no terms matches nothing."""
    return any(term_matches(term, node) for term in selector.node_selector_terms)


def required_affinity(pod: Pod) -> NodeSelector | None:
    affinity = pod.spec.affinity
    if affinity is None or affinity.node_affinity is None:
        return None
    return affinity.node_affinity.required_during_scheduling_ignored_during_execution


def pod_fits_node_selection(pod: Pod, node: Node) -> bool:
    """The NodeAffinity filter: nodeSelector AND required node affinity (when set)."""
    if not node_selector_matches(pod.spec.node_selector, node.metadata.labels):
        return False
    required = required_affinity(pod)
    return required is None or node_selector_terms_match(required, node)


def has_node_selection(pod: Pod) -> bool:
    """True when the pod constrains nodes at all (nodeSelector or required node affinity)."""
    return bool(pod.spec.node_selector) or required_affinity(pod) is not None
