"""Container and init-container ports (containerPort, hostPort) in 61000-65534 are refused:
the cloud instance reserves that range."""

from __future__ import annotations

from spillway.model.kube import Pod
from spillway.policy.rules.base import Rule, RuleContext, in_range, show_range
from spillway.policy.status import Code, RuleResult, allowed

NAME = "container-ports"
REASON = "ReservedContainerPort"


def message(found: list[str], reserved: tuple[int, int]) -> str:
    return f"ports in the range {show_range(reserved)} reserved on super nodes: {', '.join(found)}"


def check(pod: Pod, ctx: RuleContext) -> RuleResult:
    reserved = ctx.options.reserved_ports
    found: list[str] = []
    for kind, containers in (("container", pod.spec.containers), ("init container", pod.spec.init_containers)):
        for container in containers:
            for port in container.ports:
                if in_range(port.container_port, reserved):
                    found.append(f"{kind} {container.name!r} containerPort {port.container_port}")
                if port.host_port is not None and in_range(port.host_port, reserved):
                    found.append(f"{kind} {container.name!r} hostPort {port.host_port}")
    if found:
        return RuleResult(NAME, Code.NEVER_POSSIBLE, REASON, message(found, reserved))
    return allowed(NAME)


RULE = Rule(NAME, REASON, check)
