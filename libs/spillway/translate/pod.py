"""The pod → CreateEKSContainerInstances translation (docs/design.md §6): one pure function.

Same pod and context → the same request, byte for byte once JSON-encoded (lists whose order
means nothing are sorted), so a retried create is identical to the first. What no instance can
run is refused first, by the same `cloud_refusals` the placement policy asks. Sidecar init
containers (`restartPolicy: Always`) cannot be sidecars in the API — its InitContainers must
finish before the app starts — so they run as regular containers beside the app (reported).
"""

from __future__ import annotations

from typing import Any

from spillway.model.kube import ANNOTATION_SECURITY_GROUPS, Pod
from spillway.model.sizing import PodSize, SizeAnnotationError, pod_size
from spillway.model.specs import LARGEST_CPU, LARGEST_MEMORY_GIB, QuantityError
from spillway.translate.containers import TranslatedContainer, translate_container
from spillway.translate.context import TranslationContext, TranslationResult
from spillway.translate.credentials import registry_credentials
from spillway.translate.dns import choose_dns
from spillway.translate.eligibility import cloud_refusals
from spillway.translate.env import EnvSources, apiserver_env
from spillway.translate.errors import InvalidContext, InvalidPod, NotEligible
from spillway.translate.volumes import plan_volumes

ANNOTATION_CPU_TYPE = "eks.tke.cloud.tencent.com/cpu-type"
ANNOTATION_ROLE_NAME = "eks.tke.cloud.tencent.com/role-name"
RESTART_POLICIES = ("Always", "OnFailure", "Never")
_CPU_TYPES = frozenset({"intel", "amd"})


def translate_pod(pod: Pod, ctx: TranslationContext) -> TranslationResult:
    """The create request for `pod` behind the context's super node, or a TranslationError."""
    warnings: list[str] = []
    for field, value in (("instance_name", ctx.instance_name), ("subnet_id", ctx.subnet_id), ("vpc_id", ctx.vpc_id)):
        if not value:
            raise InvalidContext(f"context {field} is empty")
    for refusal in cloud_refusals(pod, ctx.persistent_volumes):
        raise refusal.error()
    size = _size(pod, warnings)
    spec = size.spec
    if spec is None:
        raise NotEligible(
            f"pod needs {float(size.cpu):g} cores / {float(size.memory_gib):g} GiB, "
            f"above the largest spec {LARGEST_CPU}C/{LARGEST_MEMORY_GIB}G"
        )
    groups = security_groups(pod, ctx.security_group_ids, warnings)
    if ctx.pod_used_apiserver:
        api_env = apiserver_env(ctx.pod_used_apiserver)
    else:
        api_env = ()
        warnings.append("podUsedApiserver is not configured: in-cluster clients cannot reach the API server")
    volumes = plan_volumes(pod, ctx.persistent_volumes, warnings)
    src = EnvSources(ctx.secrets, ctx.config_maps, ctx.node_name, ctx.host_ip, spec, api_env)

    init: list[TranslatedContainer] = []
    sidecars: list[TranslatedContainer] = []
    for container in pod.spec.init_containers:
        translated = translate_container(pod, container, src, volumes, warnings)
        if container.restart_policy == "Always":
            warnings.append(
                f"init container {container.name} is a sidecar (restartPolicy Always): "
                "runs as a regular container, started with the app containers rather than before them"
            )
            sidecars.append(translated)
        else:
            init.append(translated)
    app = sidecars + [translate_container(pod, c, src, volumes, warnings) for c in pod.spec.containers]

    request: dict[str, Any] = {
        "EksCiName": ctx.instance_name,
        "SubnetId": ctx.subnet_id,
        "VpcId": ctx.vpc_id,
        "SecurityGroupIds": groups,
        "Cpu": spec.cpu_float,
        "Memory": spec.memory_float,
        "RestartPolicy": _restart_policy(pod, warnings),
        "Containers": [c.body for c in app],
    }
    if init:
        request["InitContainers"] = [c.body for c in init]
    eks_volume = volumes.to_api()
    if eks_volume is not None:
        request["EksCiVolume"] = eks_volume
    credentials = registry_credentials(pod, ctx.secrets, warnings)
    if credentials:
        request["ImageRegistryCredentials"] = credentials
    dns = choose_dns(pod, ctx.node_resolv_conf, warnings)
    if dns is not None and dns.to_api():
        request["DnsConfig"] = dns.to_api()
    _optional_annotations(pod, request, warnings)
    _pod_level_warnings(pod, warnings)

    every = init + app
    return TranslationResult(
        request=request,
        spec=spec,
        warnings=tuple(warnings),
        sensitive_env=frozenset((c.body["Name"], n) for c in every for n in c.sensitive_env),
        sensitive_args=frozenset(c.body["Name"] for c in every if c.sensitive_args),
    )


def _size(pod: Pod, warnings: list[str]) -> PodSize:
    try:
        try:
            return pod_size(pod)
        except SizeAnnotationError as exc:
            warnings.append(f"{exc}; the size computed from the containers is used")
            return pod_size(pod, honour_annotations=False)
    except QuantityError as exc:
        raise InvalidPod(f"container resources: {exc}") from None


def security_groups(pod: Pod, default: tuple[str, ...], warnings: list[str]) -> list[str]:
    """The annotation "sg-a,sg-b" wins over the configured default; sorted, de-duplicated."""
    text = pod.metadata.annotations.get(ANNOTATION_SECURITY_GROUPS)
    if text is not None:
        groups = sorted({g.strip() for g in text.split(",") if g.strip()})
        if groups:
            return groups
        warnings.append(f"annotation {ANNOTATION_SECURITY_GROUPS} is empty; the configured security groups are used")
    groups = sorted({g for g in default if g})
    if not groups:
        raise InvalidContext("no security group: none configured and no pod annotation")
    return groups


def _restart_policy(pod: Pod, warnings: list[str]) -> str:
    policy = pod.spec.restart_policy or "Always"
    if policy not in RESTART_POLICIES:
        warnings.append(f"restartPolicy {policy!r} is not Always, OnFailure or Never; Always is used")
        return "Always"
    return policy


def _optional_annotations(pod: Pod, request: dict[str, Any], warnings: list[str]) -> None:
    annotations = pod.metadata.annotations
    cpu_type = annotations.get(ANNOTATION_CPU_TYPE)
    if cpu_type is not None:
        kinds = [k.strip() for k in cpu_type.split(",")]
        if kinds and all(k in _CPU_TYPES for k in kinds):
            request["CpuType"] = ",".join(sorted(set(kinds)))
        else:
            warnings.append(f"annotation {ANNOTATION_CPU_TYPE} {cpu_type!r} is not intel, amd or amd,intel; ignored")
    role = annotations.get(ANNOTATION_ROLE_NAME)
    if role:
        request["CamRoleName"] = role


def _pod_level_warnings(pod: Pod, warnings: list[str]) -> None:
    context = pod.spec.security_context
    if context is not None:
        ignored = [label for label, value in (
            ("sysctls", context.sysctls), ("runAsUser", context.run_as_user),
            ("runAsNonRoot", context.run_as_non_root), ("fsGroup", context.fs_group),
        ) if value]
        if ignored:
            warnings.append(f"pod securityContext {', '.join(ignored)} not expressible; ignored")
    if pod.spec.host_network:
        warnings.append("hostNetwork is not expressible; the instance has its own VPC address")
    if pod.spec.host_aliases:
        names = sorted({name for alias in pod.spec.host_aliases for name in alias.hostnames})
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        warnings.append(f"hostAliases are not expressible; /etc/hosts will not resolve {shown or 'them'}")
    if pod.spec.share_process_namespace:
        warnings.append("shareProcessNamespace is not expressible; each container sees only its own processes")
