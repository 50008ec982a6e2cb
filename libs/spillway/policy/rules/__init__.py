"""The restriction rules, one module each, and the registry that runs them all.

Why a registry: kube-scheduler style filter plugins. The engine, `spillway explain` and the
reference-doc test iterate this dict; the order is the order results are reported in, and the
first failing rule names the Warning event's reason.
"""

from __future__ import annotations

from spillway.model.kube import Pod
from spillway.policy.rules import (
    affinity,
    backoff,
    cloud_instance,
    daemonset,
    fixed_ip,
    namespace,
    ports,
    probes,
    size,
    sysctl,
    volumes,
)
from spillway.policy.rules.base import PVCLookup, PVLookup, Rule, RuleContext, no_pv, no_pvc
from spillway.policy.status import RuleResult

REGISTRY: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        daemonset.RULE,
        namespace.RULE,
        fixed_ip.RULE,
        sysctl.RULE,
        ports.RULE,
        probes.RULE,
        cloud_instance.RULE,
        volumes.RULE,
        size.RULE,
        affinity.RULE,
        backoff.RULE,
    )
}


SUPER_NODE_ADMISSION = ("namespace", "fixed-ip", "sysctl-port-range", "container-ports", "probe-ports")
"""The rules that hold however a pod reached a super node (a scheduler honouring a copied
toleration and pin, a user's nodeName): what the super node itself refuses to run, as a kubelet
refuses a pod it cannot admit. The rest judge whether placement should choose the cloud."""


def super_node_admission(pod: Pod, ctx: RuleContext) -> RuleResult | None:
    """The first of `SUPER_NODE_ADMISSION` that refuses the pod, or None."""
    return first_failure(tuple(REGISTRY[name].check(pod, ctx) for name in SUPER_NODE_ADMISSION))


def evaluate_rules(pod: Pod, ctx: RuleContext, registry: dict[str, Rule] | None = None) -> tuple[RuleResult, ...]:
    """Every rule's verdict, in registry order (never stops at the first failure)."""
    return tuple(rule.check(pod, ctx) for rule in (registry or REGISTRY).values())


def first_failure(results: tuple[RuleResult, ...]) -> RuleResult | None:
    return next((r for r in results if not r.allowed), None)


def rule_reason_codes(registry: dict[str, Rule] | None = None) -> frozenset[str]:
    """Every reason code any registered rule may return."""
    return frozenset(code for rule in (registry or REGISTRY).values() for code in rule.reasons)


__all__ = [
    "REGISTRY",
    "SUPER_NODE_ADMISSION",
    "PVCLookup",
    "PVLookup",
    "Rule",
    "RuleContext",
    "evaluate_rules",
    "first_failure",
    "no_pv",
    "no_pvc",
    "rule_reason_codes",
    "super_node_admission",
]
