"""Kubernetes probes → the API's LivenessOrReadinessProbe.

The API knows exec, httpGet (Path, Port, Scheme all required) and tcpSocket, for liveness and
readiness only. Named ports are resolved against the container's ports here, because the API
has no port list. Kubernetes' defaults are written out (timeout 1 s, period 10 s, thresholds
1/3) so the instance probes exactly as a kubelet would, whatever the cloud's defaults are.
What cannot be expressed (grpc probes, startup probes, a probe `host`) is dropped with a
warning; httpGet headers are not even in our pod view, so they are dropped silently.
"""

from __future__ import annotations

from typing import Any

from spillway.model.kube import Container, Probe
from spillway.translate.errors import InvalidPod

_DEFAULTS = (
    ("InitialDelaySeconds", "initial_delay_seconds", 0),
    ("TimeoutSeconds", "timeout_seconds", 1),
    ("PeriodSeconds", "period_seconds", 10),
    ("SuccessThreshold", "success_threshold", 1),
    ("FailureThreshold", "failure_threshold", 3),
)


def resolve_port(container: Container, port: int | str, where: str) -> int:
    """A probe port as a number: named ports come from the container's `ports`."""
    if isinstance(port, str) and not port.isdigit():
        for declared in container.ports:
            if declared.name == port:
                return declared.container_port
        raise InvalidPod(f"{where}: named port {port!r} is not declared by the container")
    number = int(port)
    if not 0 < number < 65536:
        raise InvalidPod(f"{where}: port {number} is out of range")
    return number


def translate_probe(container: Container, probe: Probe | None, kind: str, warnings: list[str]) -> dict[str, Any] | None:
    """One probe in API form, or None when there is none or it cannot be expressed."""
    if probe is None:
        return None
    where = f"container {container.name}: {kind} probe"
    timing = {api: getattr(probe, attr) if getattr(probe, attr) is not None else default
              for api, attr, default in _DEFAULTS}
    out: dict[str, Any] = {"Probe": timing}
    if probe.exec is not None:
        out["Exec"] = {"Commands": list(probe.exec.command)}
    elif probe.http_get is not None:
        action = probe.http_get
        if action.host:
            warnings.append(f"{where}: httpGet host is not expressible; the instance's own address is probed")
        scheme = (action.scheme or "HTTP").upper()
        if scheme not in ("HTTP", "HTTPS"):
            raise InvalidPod(f"{where}: httpGet scheme {action.scheme!r} is not HTTP or HTTPS")
        out["HttpGet"] = {
            "Path": action.path or "/",
            "Port": resolve_port(container, action.port, where),
            "Scheme": scheme,
        }
    elif probe.tcp_socket is not None:
        if probe.tcp_socket.host:
            warnings.append(f"{where}: tcpSocket host is not expressible; the instance's own address is probed")
        out["TcpSocket"] = {"Port": resolve_port(container, probe.tcp_socket.port, where)}
    elif probe.grpc is not None:
        warnings.append(f"{where}: grpc probes are not expressible by the API; probe dropped")
        return None
    else:
        warnings.append(f"{where}: no handler (exec, httpGet or tcpSocket); probe dropped")
        return None
    return out
