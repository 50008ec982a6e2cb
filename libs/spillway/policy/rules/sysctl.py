"""A `net.ipv4.ip_local_port_range` sysctl overlapping 61000-65534 is refused: the cloud
instance reserves those ports, so the pod's ephemeral ports would collide with them."""

from __future__ import annotations

import re

from spillway.model.kube import Pod
from spillway.policy.rules.base import Rule, RuleContext, show_range
from spillway.policy.status import Code, RuleResult, allowed

NAME = "sysctl-port-range"
REASON = "SysctlPortRangeConflict"
SYSCTL = "net.ipv4.ip_local_port_range"
_RANGE = re.compile(r"\s*([0-9]{1,20})\s+([0-9]{1,20})\s*")
"""Bounded digit counts: a port needs 5, and a 5,000-digit value must not reach int()."""


def message(value: str, reserved: tuple[int, int]) -> str:
    return f"sysctl {SYSCTL}={value!r} overlaps the ports {show_range(reserved)} reserved on super nodes"


def parse_range(value: str) -> tuple[int, int] | None:
    """"low high" (blank-separated, as the kernel takes it) → (low, high); None when malformed."""
    found = _RANGE.fullmatch(value)
    if found is None:
        return None
    low, high = int(found.group(1)), int(found.group(2))
    return (low, high) if low <= high else None


def check(pod: Pod, ctx: RuleContext) -> RuleResult:
    security = pod.spec.security_context
    reserved = ctx.options.reserved_ports
    for sysctl in security.sysctls if security else ():
        if sysctl.name != SYSCTL:
            continue
        port_range = parse_range(sysctl.value)
        if port_range is None:
            return RuleResult(
                NAME, Code.ERROR, REASON, f"sysctl {SYSCTL}={sysctl.value!r} is not a port range 'low high'"
            )
        if port_range[0] <= reserved[1] and reserved[0] <= port_range[1]:
            return RuleResult(NAME, Code.NEVER_POSSIBLE, REASON, message(sysctl.value, reserved))
    return allowed(NAME)


RULE = Rule(NAME, REASON, check)
