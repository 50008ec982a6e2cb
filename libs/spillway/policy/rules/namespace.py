"""Pods in excluded namespaces (default kube-system, tke-eni-ip-webhook) stay local: cluster
infrastructure must not depend on the private line to the cloud."""

from __future__ import annotations

from spillway.model.kube import Pod
from spillway.policy.rules.base import Rule, RuleContext
from spillway.policy.status import Code, RuleResult, allowed

NAME = "namespace"
REASON = "NamespaceExcluded"


def message(namespace: str) -> str:
    return f"namespace {namespace!r} is excluded from bursting (excludedNamespaces)"


def check(pod: Pod, ctx: RuleContext) -> RuleResult:
    namespace = pod.metadata.namespace
    if namespace in ctx.options.excluded_namespaces:
        return RuleResult(NAME, Code.NEVER_POSSIBLE, REASON, message(namespace))
    return allowed(NAME)


RULE = Rule(NAME, REASON, check)
