"""One Kubernetes container → the API's Container.

Everything the API's Container can hold is filled: image, command → Commands, args → Args
(both `$(VAR)`-expanded like a kubelet does), resolved environment, working dir, mounts of
volumes that map, liveness/readiness probes and capabilities. Per-container Cpu/Memory are
left out: in the API they are hard caps (not requests) and optional, so containers share the
instance, which is itself sized from the pod's requests. What cannot be expressed — startup
probes, privileged, runAsUser, runAsNonRoot, readOnlyRootFilesystem — is reported. The API has
no port field; ports only matter for resolving named probe ports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spillway.model.kube import Container, Pod
from spillway.translate.env import EnvSources, expand, resolve_env
from spillway.translate.errors import InvalidPod
from spillway.translate.probes import translate_probe
from spillway.translate.volumes import VolumePlan

_UNEXPRESSED_SECURITY = (
    ("privileged", "privileged"),
    ("run_as_user", "runAsUser"),
    ("run_as_non_root", "runAsNonRoot"),
    ("read_only_root_filesystem", "readOnlyRootFilesystem"),
)


@dataclass(frozen=True, slots=True)
class TranslatedContainer:
    """The API Container, and which of its values carry secret material (for redaction)."""

    body: dict[str, Any]
    sensitive_env: frozenset[str]
    sensitive_args: bool


def translate_container(
    pod: Pod, container: Container, src: EnvSources, volumes: VolumePlan, warnings: list[str]
) -> TranslatedContainer:
    if not container.name:
        raise InvalidPod("a container has no name")
    if not container.image:
        raise InvalidPod(f"container {container.name}: no image")
    env = resolve_env(pod, container, src, warnings)
    lookup = env.as_mapping()
    used: set[str] = set()
    body: dict[str, Any] = {"Name": container.name, "Image": container.image}
    if container.command:
        body["Commands"] = [expand(part, lookup, used) for part in container.command]
    if container.args:
        body["Args"] = [expand(part, lookup, used) for part in container.args]
    if env.pairs:
        body["EnvironmentVars"] = [{"Name": name, "Value": value} for name, value in env.pairs]
    if container.working_dir:
        body["WorkingDir"] = container.working_dir
    mounts = _mounts(container, volumes)
    if mounts:
        body["VolumeMounts"] = mounts
    for key, kind, probe in (
        ("LivenessProbe", "liveness", container.liveness_probe),
        ("ReadinessProbe", "readiness", container.readiness_probe),
    ):
        translated = translate_probe(container, probe, kind, warnings)
        if translated is not None:
            body[key] = translated
    if container.startup_probe is not None:
        warnings.append(f"container {container.name}: startup probes are not expressible by the API; dropped")
    security = _security_context(container, warnings)
    if security is not None:
        body["SecurityContext"] = security
    return TranslatedContainer(body, frozenset(env.sensitive), bool(used & env.sensitive))


def _mounts(container: Container, volumes: VolumePlan) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for mount in container.volume_mounts:
        if mount.name in volumes.dropped:
            continue
        if mount.name not in volumes.mountable:
            raise InvalidPod(f"container {container.name}: mount of undeclared volume {mount.name!r}")
        if not mount.mount_path:
            raise InvalidPod(f"container {container.name}: mount of {mount.name!r} has no mountPath")
        item: dict[str, Any] = {"Name": mount.name, "MountPath": mount.mount_path}
        if mount.read_only or mount.name in volumes.read_only:
            item["ReadOnly"] = True
        if mount.sub_path:
            item["SubPath"] = mount.sub_path
        if mount.sub_path_expr:
            item["SubPathExpr"] = mount.sub_path_expr
        if mount.mount_propagation:
            item["MountPropagation"] = mount.mount_propagation
        out.append(item)
    return out


def _security_context(container: Container, warnings: list[str]) -> dict[str, Any] | None:
    context = container.security_context
    if context is None:
        return None
    ignored = [label for attr, label in _UNEXPRESSED_SECURITY if getattr(context, attr) is not None]
    if ignored:
        warnings.append(f"container {container.name}: securityContext {', '.join(ignored)} not expressible; ignored")
    caps = context.capabilities
    if caps is None or not (caps.add or caps.drop):
        return None
    capabilities: dict[str, list[str]] = {}
    if caps.add:
        capabilities["Add"] = sorted(set(caps.add))
    if caps.drop:
        capabilities["Drop"] = sorted(set(caps.drop))
    return {"Capabilities": capabilities}
