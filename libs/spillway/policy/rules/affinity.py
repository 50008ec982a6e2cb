"""A pod whose nodeSelector / required node affinity can never match a super node is refused.

Judged against every registered super node's labels and name, whatever its health (a NotReady
node may come back); with none registered, against the super nodes the configured subnets will
produce (`templates`). Taints are not judged here: placement adds the super-node toleration.
"""

from __future__ import annotations

from spillway.model.kube import Pod
from spillway.policy.matching import has_node_selection, pod_fits_node_selection
from spillway.policy.rules.base import Rule, RuleContext
from spillway.policy.status import Code, RuleResult, allowed
from spillway.policy.templates import template_super_nodes

NAME = "node-affinity"
REASON = "NodeAffinityMismatch"


def message(candidates: int, templates: bool) -> str:
    what = f"the {candidates} expected super node(s) (none registered yet)" if templates else (
        f"any of the {candidates} super node(s)"
    )
    return f"the pod's nodeSelector / required node affinity matches none of {what}"


def check(pod: Pod, ctx: RuleContext) -> RuleResult:
    if not has_node_selection(pod):
        return allowed(NAME)
    candidates = list(ctx.super_nodes) or template_super_nodes(ctx.options.subnets)
    if any(pod_fits_node_selection(pod, node) for node in candidates):
        return allowed(NAME)
    return RuleResult(NAME, Code.NEVER_POSSIBLE, REASON, message(len(candidates), not ctx.super_nodes))


RULE = Rule(NAME, REASON, check)
