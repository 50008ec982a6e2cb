"""DaemonSet pods never go to a super node: a super node is not a machine to run a daemon on."""

from __future__ import annotations

from spillway.model.kube import Pod
from spillway.policy.rules.base import Rule, RuleContext
from spillway.policy.status import Code, RuleResult, allowed

NAME = "daemonset"
REASON = "DaemonsetForbidden"


def message(pod: Pod) -> str:
    return f"pod {pod.key} belongs to a DaemonSet; DaemonSet pods never run on super nodes"


def check(pod: Pod, ctx: RuleContext) -> RuleResult:
    if pod.is_daemonset_pod():
        return RuleResult(NAME, Code.NEVER_POSSIBLE, REASON, message(pod))
    return allowed(NAME)


RULE = Rule(NAME, REASON, check)
