"""One Kubernetes container → the API's Container.

Everything the API's Container can hold is filled: image, command → Commands, args → Args
(both `$(VAR)`-expanded like a kubelet does), resolved environment, working dir, mounts of
volumes that map, liveness/readiness probes and capabilities. Per-container Cpu/Memory are
left out: in the API they are hard caps (not requests) and optional, so containers share the
instance, which is itself sized from the pod's requests. What cannot be expressed — startup
probes, lifecycle hooks (postStart, preStop), privileged, runAsUser, runAsNonRoot,
readOnlyRootFilesystem — is reported. What no instance could run as written is refused
(`container_refusals`, which the placement policy asks too). The API has
no port field; ports only matter for resolving named probe ports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spillway.model.kube import Container, Pod
from spillway.translate.env import EnvSources, env_refusals, expand, resolve_env
from spillway.translate.errors import InvalidPod
from spillway.translate.probes import probe_refusal, translate_probe, translated_probes
from spillway.translate.refusal import REASON_INVALID_POD_SPEC, CloudRefusal
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


def container_refusals(pod: Pod, container: Container) -> list[CloudRefusal]:
    """What in this container no instance can run as written (see `translate_container`)."""
    if not container.name:
        return [CloudRefusal(REASON_INVALID_POD_SPEC, "a container has no name")]
    out: list[CloudRefusal] = []
    if not container.image:
        out.append(CloudRefusal(REASON_INVALID_POD_SPEC, f"container {container.name}: no image"))
    declared = {volume.name for volume in pod.spec.volumes}
    for mount in container.volume_mounts:
        if mount.name not in declared:
            out.append(CloudRefusal(
                REASON_INVALID_POD_SPEC, f"container {container.name}: mount of undeclared volume {mount.name!r}"))
        elif not mount.mount_path:
            out.append(CloudRefusal(
                REASON_INVALID_POD_SPEC, f"container {container.name}: mount of {mount.name!r} has no mountPath"))
    out.extend(env_refusals(pod, container))
    for _, kind, probe in translated_probes(container):
        refusal = probe_refusal(container, probe, kind)
        if refusal is not None:
            out.append(refusal)
    return out


def translate_container(
    pod: Pod, container: Container, src: EnvSources, volumes: VolumePlan, warnings: list[str]
) -> TranslatedContainer:
    for refusal in container_refusals(pod, container):
        raise refusal.error()
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
    for key, kind, probe in translated_probes(container):
        translated = translate_probe(container, probe, kind, warnings)
        if translated is not None:
            body[key] = translated
    if container.startup_probe is not None:
        warnings.append(f"container {container.name}: startup probes are not expressible by the API; dropped")
    hooks = _lifecycle_hooks(container)
    if hooks:
        warnings.append(
            f"container {container.name}: lifecycle {' and '.join(hooks)} hooks are not expressible by the API; dropped"
        )
    security = _security_context(container, warnings)
    if security is not None:
        body["SecurityContext"] = security
    return TranslatedContainer(body, frozenset(env.sensitive), bool(used & env.sensitive))


def _mounts(container: Container, volumes: VolumePlan) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for mount in container.volume_mounts:
        if mount.name in volumes.dropped:
            continue
        if mount.name not in volumes.mountable:  # container_refusals refused it already
            raise InvalidPod(f"container {container.name}: mount of undeclared volume {mount.name!r}")
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


def _lifecycle_hooks(container: Container) -> list[str]:
    lifecycle = container.lifecycle
    if lifecycle is None:
        return []
    return [name for name, hook in (("postStart", lifecycle.post_start), ("preStop", lifecycle.pre_stop)) if hook]


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
