"""Kubernetes scheduling predicates: taints vs tolerations, nodeSelector, required node affinity.

Why our own and general: the placement policy needs them to pick a super node, and the sandbox's
scheduler simulation needs the very same semantics for local nodes, so they follow the upstream
helpers exactly (k8s.io/api/core/v1 `Toleration.ToleratesTaint`, component-helpers
`nodeaffinity`), including their corner cases: an empty term matches nothing, an empty
toleration key with Exists matches every taint, Gt/Lt compare integers.
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


def tolerates_all(
    tolerations: Sequence[Toleration], taints: Iterable[Taint], effects: frozenset[str] = SCHEDULING_EFFECTS
) -> bool:
    return not untolerated_taints(tolerations, taints, effects)


# ---- selectors and affinity ---------------------------------------------------------------

def node_selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """pod.spec.nodeSelector: every key present with exactly that value."""
    return all(labels.get(k) == v for k, v in selector.items())


_INT = re.compile(r"[+-]?[0-9]+")


def _as_int(text: str) -> int | None:
    """Go's strconv.ParseInt(text, 10, 64): an optional sign and decimal digits, within int64
    (a longer text is refused before any conversion, so it costs nothing)."""
    if len(text) > 64 or not _INT.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def requirement_matches(req: NodeSelectorRequirement, labels: Mapping[str, str]) -> bool:
    """One matchExpressions requirement against a label set (unknown operators match nothing)."""
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
        case "Gt" | "Lt":
            if not present or len(req.values) != 1:
                return False
            have, want = _as_int(value), _as_int(req.values[0])
            if have is None or want is None:
                return False
            return have > want if req.operator == "Gt" else have < want
        case _:
            return False


def field_requirement_matches(req: NodeSelectorRequirement, node: Node) -> bool:
    """One matchFields requirement: only `metadata.name` with In/NotIn is supported upstream."""
    if req.key != FIELD_NODE_NAME:
        return False
    if req.operator == "In":
        return node.metadata.name in req.values
    if req.operator == "NotIn":
        return node.metadata.name not in req.values
    return False


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
