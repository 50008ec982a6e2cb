"""Container and init-container ports (containerPort, hostPort) in 61000-65534 are refused:
the cloud instance reserves that range. So are lifecycle hooks (postStart, preStop; httpGet,
tcpSocket) aimed at a port in that range, named ports resolved against the container's own
ports: the instance drops hooks with a warning, but on a super node such a hook could never
have worked, and a pod written to need one must not silently lose it there."""

from __future__ import annotations

from spillway.model.kube import Container, Pod
from spillway.policy.rules.base import Rule, RuleContext, in_range, show_range
from spillway.policy.status import Code, RuleResult, allowed
from spillway.translate import port_number

NAME = "container-ports"
REASON = "ReservedContainerPort"


def message(found: list[str], reserved: tuple[int, int]) -> str:
    return f"ports in the range {show_range(reserved)} reserved on super nodes: {', '.join(found)}"


def hook_ports(container: Container) -> list[tuple[str, int]]:
    """(hook name, port) of the container's httpGet/tcpSocket lifecycle hooks whose port resolves."""
    lifecycle = container.lifecycle
    if lifecycle is None:
        return []
    out: list[tuple[str, int]] = []
    for name, hook in (("postStart", lifecycle.post_start), ("preStop", lifecycle.pre_stop)):
        if hook is None:
            continue
        for action in (hook.http_get, hook.tcp_socket):
            number = port_number(container, action.port) if action is not None else None
            if number is not None:
                out.append((name, number))
    return out


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
            for hook, number in hook_ports(container):
                if in_range(number, reserved):
                    found.append(f"{kind} {container.name!r} {hook} hook port {number}")
    if found:
        return RuleResult(NAME, Code.NEVER_POSSIBLE, REASON, message(found, reserved))
    return allowed(NAME)


RULE = Rule(NAME, REASON, check)
