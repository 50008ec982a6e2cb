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
    "PVCLookup",
    "PVLookup",
    "Rule",
    "RuleContext",
    "evaluate_rules",
    "first_failure",
    "no_pv",
    "no_pvc",
    "rule_reason_codes",
]
