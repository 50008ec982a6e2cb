"""Kubernetes probes → the API's LivenessOrReadinessProbe.

The API knows exec, httpGet (Path, Port, Scheme all required) and tcpSocket, for liveness and
readiness only. Named ports are resolved against the container's ports here, because the API
has no port list. Kubernetes' defaults are written out (timeout 1 s, period 10 s, thresholds
1/3) so the instance probes exactly as a kubelet would, whatever the cloud's defaults are.
What cannot be expressed (grpc probes, startup probes, a probe `host`) is dropped with a
warning; httpGet headers are not even in our pod view, so they are dropped silently.
`probe_refusal` says what the API cannot take at all; the placement policy asks it too.
"""

from __future__ import annotations

import re
from typing import Any

from spillway.model.kube import Container, Probe
from spillway.translate.errors import InvalidPod
from spillway.translate.refusal import REASON_INVALID_PROBE, CloudRefusal

_DEFAULTS = (
    ("InitialDelaySeconds", "initial_delay_seconds", 0),
    ("TimeoutSeconds", "timeout_seconds", 1),
    ("PeriodSeconds", "period_seconds", 10),
    ("SuccessThreshold", "success_threshold", 1),
    ("FailureThreshold", "failure_threshold", 3),
)
_DIGITS = re.compile(r"[0-9]+")


def port_number(container: Container, port: int | str) -> int | None:
    """An IntOrString port as a number: ints as they are, ASCII digit strings parsed, names looked
    up in the container's `ports`; None when a name matches no declared port. A digit string
    longer than any port is returned as 65536 (out of range) without parsing it."""
    if isinstance(port, int):
        return port
    if _DIGITS.fullmatch(port):
        return int(port) if len(port) <= 6 else 65536
    for declared in container.ports:
        if declared.name == port:
            return declared.container_port
    return None


def _port_refusal(container: Container, port: int | str, where: str) -> CloudRefusal | None:
    number = port_number(container, port)
    if number is None:
        return CloudRefusal(REASON_INVALID_PROBE, f"{where}: named port {port!r} is not declared by the container")
    if not 0 < number < 65536:
        return CloudRefusal(REASON_INVALID_PROBE, f"{where}: port {number} is out of range")
    return None


def probe_refusal(container: Container, probe: Probe | None, kind: str) -> CloudRefusal | None:
    """Why the API cannot take this probe as written, judging the handler `translate_probe` uses."""
    if probe is None:
        return None
    where = f"container {container.name}: {kind} probe"
    if probe.exec is not None:
        return None
    if probe.http_get is not None:
        scheme = (probe.http_get.scheme or "HTTP").upper()
        if scheme not in ("HTTP", "HTTPS"):
            return CloudRefusal(
                REASON_INVALID_PROBE, f"{where}: httpGet scheme {probe.http_get.scheme!r} is not HTTP or HTTPS"
            )
        return _port_refusal(container, probe.http_get.port, where)
    if probe.tcp_socket is not None:
        return _port_refusal(container, probe.tcp_socket.port, where)
    return None


def translated_probes(container: Container) -> tuple[tuple[str, str, Probe | None], ...]:
    """(API key, kind, probe) for the probes the API can hold: liveness and readiness."""
    return (
        ("LivenessProbe", "liveness", container.liveness_probe),
        ("ReadinessProbe", "readiness", container.readiness_probe),
    )


def translate_probe(container: Container, probe: Probe | None, kind: str, warnings: list[str]) -> dict[str, Any] | None:
    """One probe in API form, or None when there is none or it cannot be expressed."""
    if probe is None:
        return None
    refusal = probe_refusal(container, probe, kind)
    if refusal is not None:
        raise refusal.error()
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
        out["HttpGet"] = {
            "Path": action.path or "/",
            "Port": _resolved(container, action.port, where),
            "Scheme": (action.scheme or "HTTP").upper(),
        }
    elif probe.tcp_socket is not None:
        if probe.tcp_socket.host:
            warnings.append(f"{where}: tcpSocket host is not expressible; the instance's own address is probed")
        out["TcpSocket"] = {"Port": _resolved(container, probe.tcp_socket.port, where)}
    elif probe.grpc is not None:
        warnings.append(f"{where}: grpc probes are not expressible by the API; probe dropped")
        return None
    else:
        warnings.append(f"{where}: no handler (exec, httpGet or tcpSocket); probe dropped")
        return None
    return out


def _resolved(container: Container, port: int | str, where: str) -> int:
    number = port_number(container, port)
    if number is None:  # probe_refusal refused it already
        raise InvalidPod(f"{where}: named port {port!r} is not declared by the container")
    return number
