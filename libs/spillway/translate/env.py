"""Container environment the way the kubelet builds it, resolved up front.

The instance has no kubelet of ours inside, so every value is final in the request: Secret and
ConfigMap keys, downward-API field refs (from the pod itself), resource field refs (from the
container's resources; unset limits fall back to the instance size, as a kubelet falls back to
node allocatable) and `$(VAR)` expansion with the kubelet's exact rules. The IDC API server's
address replaces the in-cluster `kubernetes` service variables.

`status.podIP`/`status.podIPs` are unknown before the instance starts: they resolve to "" and
are reported in a warning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

from spillway.model.kube import Container, EnvVar, FieldRef, KeyRef, LocalRef, Pod, ResourceFieldRef
from spillway.model.specs import InstanceSpec, QuantityError, parse_quantity
from spillway.translate.errors import InvalidContext, InvalidPod, InvalidReference, MissingReference
from spillway.translate.refusal import REASON_INVALID_POD_SPEC, CloudRefusal

V = TypeVar("V")

_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
_INVALID_ENV_NAME = re.compile(r"[=\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class EnvSources:
    """What env resolution reads besides the pod: resolved objects and the instance facts."""

    secrets: Mapping[str, Mapping[str, bytes]]
    config_maps: Mapping[str, Mapping[str, str]]
    node_name: str
    host_ip: str | None
    spec: InstanceSpec
    apiserver_env: tuple[tuple[str, str], ...]


@dataclass(slots=True)
class ResolvedEnv:
    """Final (name, value) pairs in kubelet order, and which of them carry secret material."""

    pairs: list[tuple[str, str]]
    sensitive: set[str]

    def as_mapping(self) -> dict[str, str]:
        return dict(self.pairs)


def apiserver_env(address: str) -> tuple[tuple[str, str], ...]:
    """The `kubernetes` service variables a kubelet injects, pointing at `host:port`."""
    host, port = _split_host_port(address)
    url = f"tcp://{_bracket(host)}:{port}"
    prefix = f"KUBERNETES_PORT_{port}_TCP"
    return (
        ("KUBERNETES_SERVICE_HOST", host),
        ("KUBERNETES_SERVICE_PORT", str(port)),
        ("KUBERNETES_SERVICE_PORT_HTTPS", str(port)),
        ("KUBERNETES_PORT", url),
        (prefix, url),
        (f"{prefix}_PROTO", "tcp"),
        (f"{prefix}_PORT", str(port)),
        (f"{prefix}_ADDR", host),
    )


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _split_host_port(address: str) -> tuple[str, int]:
    text = address.strip()
    for scheme in ("https://", "http://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    text = text.rstrip("/")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    try:
        port = int(port_text) if port_text else 443
    except ValueError:
        port = 0
    if not host or not 0 < port < 65536:
        raise InvalidContext(f"podUsedApiserver {address!r} is not host:port")
    return host, port


# ---- $(VAR) expansion (k8s.io/kubernetes/third_party/forked/golang/expansion) ------------------

def expand(text: str, lookup: Mapping[str, str], used: set[str] | None = None) -> str:
    """Expand `$(NAME)` from `lookup`; unknown names stay literal, `$$` escapes `$`."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            nxt = text[cursor + 1]
            advance = 1
            if nxt == "$":
                out.append("$")
            elif nxt == "(":
                close = text.find(")", cursor + 2)
                if close == -1:
                    out.append("$(")
                else:
                    name = text[cursor + 2:close]
                    if name in lookup:
                        out.append(lookup[name])
                        if used is not None:
                            used.add(name)
                    else:
                        out.append(f"$({name})")
                    advance = close - cursor
            else:
                out.append("$" + nxt)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


# ---- sources ----------------------------------------------------------------------------------

def resolve_env(pod: Pod, container: Container, src: EnvSources, warnings: list[str]) -> ResolvedEnv:
    """envFrom, then env (later wins), over the apiserver variables, as the kubelet orders them."""
    values: dict[str, str] = dict(src.apiserver_env)
    sensitive: set[str] = set()

    def put(name: str, value: str, secret: bool) -> None:
        values.pop(name, None)  # a redefinition moves to its new position, like the kubelet's list
        values[name] = value
        if secret:
            sensitive.add(name)
        else:
            sensitive.discard(name)

    for source in container.env_from:
        prefix = source.prefix or ""
        data, secret = _env_from_data(source.config_map_ref, source.secret_ref, src, container.name)
        for key in sorted(data):
            name = prefix + key
            if not name or _INVALID_ENV_NAME.search(name):
                warnings.append(
                    f"container {container.name}: envFrom key {key!r} is not a valid variable name; skipped"
                )
                continue
            put(name, data[key], secret)

    for var in container.env:
        if not var.name:
            raise InvalidPod(f"container {container.name}: env entry without a name")
        if var.value_from is None:
            used: set[str] = set()
            put(var.name, expand(var.value or "", values, used), bool(used & sensitive))
            continue
        resolved = _value_from(pod, container, var, src, warnings)
        if resolved is not None:
            put(var.name, resolved[0], resolved[1])
    return ResolvedEnv(list(values.items()), sensitive)


def _env_from_data(
    config_map_ref: LocalRef | None, secret_ref: LocalRef | None, src: EnvSources, container: str
) -> tuple[dict[str, str], bool]:
    if secret_ref is not None:
        secret = src.secrets.get(secret_ref.name)
        if secret is None:
            if secret_ref.optional:
                return {}, True
            raise MissingReference(f"container {container}: envFrom secret {secret_ref.name!r} not found")
        return {k: _text(v, f"secret {secret_ref.name!r} key {k!r}") for k, v in secret.items()}, True
    if config_map_ref is not None:
        cm = src.config_maps.get(config_map_ref.name)
        if cm is None:
            if config_map_ref.optional:
                return {}, False
            raise MissingReference(f"container {container}: envFrom configMap {config_map_ref.name!r} not found")
        return dict(cm), False
    return {}, False


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidReference(f"{what} is not UTF-8 text and cannot be an environment value") from None



def _keyed(kind: str, sources: Mapping[str, Mapping[str, V]], key_ref: KeyRef, where: str) -> V | None:
    """One key of a Secret or ConfigMap; None when an optional reference is absent."""
    found = sources.get(key_ref.name)
    if found is None or key_ref.key not in found:
        if key_ref.optional:
            return None
        missing = f"{kind} {key_ref.name!r}"
        if found is not None:
            missing = f"key {key_ref.key!r} in {missing}"
        raise MissingReference(f"{where}: {missing} not found")
    return found[key_ref.key]


def _value_from(
    pod: Pod, container: Container, var: EnvVar, src: EnvSources, warnings: list[str]
) -> tuple[str, bool] | None:
    """(value, is_secret), or None when an optional reference is absent (the variable is unset)."""
    ref = var.value_from
    assert ref is not None
    where = f"container {container.name}: env {var.name}"
    if ref.secret_key_ref is not None:
        key_ref = ref.secret_key_ref
        raw = _keyed("secret", src.secrets, key_ref, where)
        if raw is None:
            return None
        return _text(raw, f"{where}: secret {key_ref.name!r} key {key_ref.key!r}"), True
    if ref.config_map_key_ref is not None:
        value = _keyed("configMap", src.config_maps, ref.config_map_key_ref, where)
        return None if value is None else (value, False)
    if ref.field_ref is not None:
        return field_value(pod, ref.field_ref, src, where, warnings), False
    if ref.resource_field_ref is not None:
        return resource_value(pod, container, ref.resource_field_ref, src.spec, where), False
    raise InvalidPod(f"{where}: valueFrom has no source")


_FIELD_PATHS = frozenset({
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
    "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
})
_RESOURCE_KINDS = ("limits", "requests")
_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def env_refusals(pod: Pod, container: Container) -> list[CloudRefusal]:
    """Env entries no instance can be given as written, whatever Secrets and ConfigMaps exist:
    the checks `resolve_env` makes on the pod alone."""
    out: list[CloudRefusal] = []
    for var in container.env:
        where = f"container {container.name}: env {var.name}"
        ref = var.value_from
        problem: str | None = None
        if not var.name:
            problem = f"container {container.name}: env entry without a name"
        elif ref is None or ref.secret_key_ref is not None or ref.config_map_key_ref is not None:
            continue
        elif ref.field_ref is not None:
            if not _field_path_supported(ref.field_ref.field_path):
                problem = f"{where}: unsupported fieldRef {ref.field_ref.field_path!r}"
        elif ref.resource_field_ref is not None:
            problem = _resource_ref_problem(pod, container, ref.resource_field_ref, where)
        else:
            problem = f"{where}: valueFrom has no source"
        if problem is not None:
            out.append(CloudRefusal(REASON_INVALID_POD_SPEC, problem))
    return out


def _field_path_supported(path: str) -> bool:
    return path in _FIELD_PATHS or _LABEL_REF.match(path) is not None


def field_value(pod: Pod, ref: FieldRef, src: EnvSources, where: str, warnings: list[str]) -> str:
    """A downward-API field, read from the pod (and the context for where it will run)."""
    path = ref.field_path
    meta = pod.metadata
    simple = {
        "metadata.name": meta.name,
        "metadata.namespace": meta.namespace,
        "metadata.uid": meta.uid,
        "spec.nodeName": pod.spec.node_name or src.node_name,
        "spec.serviceAccountName": pod.spec.service_account_name or "default",
    }
    if path in simple:
        return simple[path]
    if path in ("status.hostIP", "status.hostIPs"):
        if src.host_ip is None:
            warnings.append(f"{where}: {path} is unknown for a cloud instance; set to empty")
            return ""
        return src.host_ip
    if path in ("status.podIP", "status.podIPs"):
        warnings.append(f"{where}: {path} is only known after the instance starts; set to empty")
        return ""
    match = _LABEL_REF.match(path)
    if match:
        table = meta.labels if match.group(1) == "labels" else meta.annotations
        return table.get(match.group(2), "")
    raise InvalidPod(f"{where}: unsupported fieldRef {path!r}")


def _resource_target(pod: Pod, container: Container, ref: ResourceFieldRef) -> Container | None:
    if not ref.container_name:
        return container
    return next((c for c in (*pod.spec.containers, *pod.spec.init_containers) if c.name == ref.container_name), None)


def _resource_text(target: Container, kind: str, resource: str) -> str | None:
    """The quantity text a resourceFieldRef reads; None for an unset limit (the instance's amount)."""
    limit = target.resources.limits.get(resource)
    if kind == "limits":
        return limit
    request = target.resources.requests.get(resource)
    return request if request is not None else limit


def _resource_ref_problem(pod: Pod, container: Container, ref: ResourceFieldRef, where: str) -> str | None:
    target = _resource_target(pod, container, ref)
    if target is None:
        return f"{where}: resourceFieldRef names unknown container {ref.container_name!r}"
    kind, _, resource = ref.resource.partition(".")
    if kind not in _RESOURCE_KINDS or resource not in _RESOURCES:
        return f"{where}: unsupported resourceFieldRef {ref.resource!r}"
    text = _resource_text(target, kind, resource)
    try:
        divisor = parse_quantity(ref.divisor or "1")
        if text is not None:
            parse_quantity(text)
    except QuantityError as exc:
        return f"{where}: {exc}"
    if divisor == 0:
        return f"{where}: resourceFieldRef divisor is zero"
    return None


def resource_value(pod: Pod, container: Container, ref: ResourceFieldRef, spec: InstanceSpec, where: str) -> str:
    """limits/requests of cpu, memory or ephemeral-storage divided by `divisor`, rounded up."""
    problem = _resource_ref_problem(pod, container, ref, where)
    target = _resource_target(pod, container, ref)
    if problem is not None or target is None:  # env_refusals refused it already
        raise InvalidPod(problem or f"{where}: resourceFieldRef names unknown container {ref.container_name!r}")
    kind, _, resource = ref.resource.partition(".")
    text = _resource_text(target, kind, resource)
    amount = parse_quantity(text) if text is not None else (
        _instance_amount(resource, spec) if kind == "limits" else Fraction(0))
    return str(math.ceil(amount / parse_quantity(ref.divisor or "1")))


def _instance_amount(resource: str, spec: InstanceSpec) -> Fraction:
    """An unset limit means "what the node has": for a cloud pod, the instance."""
    if resource == "cpu":
        return spec.cpu
    if resource == "memory":
        return spec.memory_gib * 2**30
    return Fraction(0)
