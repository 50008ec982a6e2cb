"""Probe ports (liveness, readiness, startup; httpGet, tcpSocket, grpc) in 61000-65534 are
refused: the cloud instance reserves that range, so such a probe could never succeed. Named ports are
resolved against the container's own ports, as the kubelet does (with the translation's own
resolver); a name that resolves to nothing cannot be in the range and passes here — the
`cloud-instance` rule refuses it (`InvalidProbe`), since the API has no port list to resolve it."""

from __future__ import annotations

from spillway.model.kube import Container, Pod, Probe
from spillway.policy.rules.base import Rule, RuleContext, in_range, show_range
from spillway.policy.status import Code, RuleResult, allowed
from spillway.translate import port_number

NAME = "probe-ports"
REASON = "ReservedProbePort"


def message(found: list[str], reserved: tuple[int, int]) -> str:
    return f"probes on ports in the range {show_range(reserved)} reserved on super nodes: {', '.join(found)}"


def probe_ports(probe: Probe, container: Container) -> list[int]:
    ports: list[int | str] = []
    if probe.http_get is not None:
        ports.append(probe.http_get.port)
    if probe.tcp_socket is not None:
        ports.append(probe.tcp_socket.port)
    if probe.grpc is not None:
        ports.append(probe.grpc.port)
    return [p for p in (port_number(container, port) for port in ports) if p is not None]


def check(pod: Pod, ctx: RuleContext) -> RuleResult:
    reserved = ctx.options.reserved_ports
    found: list[str] = []
    for kind, containers in (("container", pod.spec.containers), ("init container", pod.spec.init_containers)):
        for container in containers:
            for probe_kind, probe in (
                ("liveness", container.liveness_probe),
                ("readiness", container.readiness_probe),
                ("startup", container.startup_probe),
            ):
                if probe is None:
                    continue
                for port in probe_ports(probe, container):
                    if in_range(port, reserved):
                        found.append(f"{kind} {container.name!r} {probe_kind} probe port {port}")
    if found:
        return RuleResult(NAME, Code.NEVER_POSSIBLE, REASON, message(found, reserved))
    return allowed(NAME)


RULE = Rule(NAME, REASON, check)
