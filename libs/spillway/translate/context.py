"""What the caller resolves before translating, and what it gets back.

The translation is pure: everything that needs I/O (Secrets, ConfigMaps, PersistentVolumes,
the node's annotations, configuration) is looked up by the cloud-provisioner and handed in
through `TranslationContext`. `TranslationResult` carries the request exactly as the API wants
it; because that request holds registry passwords and secret-derived environment values, its
repr never shows the request, and `redacted_request()` is what may be logged.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spillway.model.kube import PersistentVolume
from spillway.model.specs import InstanceSpec

REDACTED = "<redacted>"


@dataclass(frozen=True, slots=True)
class TranslationContext:
    """Inputs resolved by the caller (cloud-provisioner); everything in the pod's namespace."""

    instance_name: str
    """The deterministic EksCiName (derived from the cluster id and pod uid elsewhere)."""
    subnet_id: str
    vpc_id: str
    security_group_ids: tuple[str, ...]
    """Default from configuration; the pod annotation `…/security-group-id` overrides it."""
    node_name: str
    """The super node the pod is bound to (`spec.nodeName` when the pod does not carry it yet)."""
    pod_used_apiserver: str | None = None
    """`host:port` of the IDC API server as reachable from the VPC (`eklet.podUsedApiserver`)."""
    node_resolv_conf: str | None = None
    """The super node's `eks.tke.cloud.tencent.com/resolv-conf` annotation text."""
    secrets: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)
    """Secret name → decoded data, for env, envFrom and imagePullSecrets."""
    config_maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """ConfigMap name → data, for env and envFrom."""
    persistent_volumes: Mapping[str, PersistentVolume] = field(default_factory=dict)
    """PVC claim name → the bound PersistentVolume (nfs, qcloudCbs or the CBS CSI driver)."""
    host_ip: str | None = None
    """Value for `status.hostIP` field refs; unknown (empty, with a warning) when None."""

    def __repr__(self) -> str:
        return (
            f"TranslationContext(instance_name={self.instance_name!r}, subnet_id={self.subnet_id!r}, "
            f"vpc_id={self.vpc_id!r}, node_name={self.node_name!r}, secrets={sorted(self.secrets)!r}, "
            f"config_maps={sorted(self.config_maps)!r}, persistent_volumes={sorted(self.persistent_volumes)!r})"
        )


@dataclass(frozen=True, slots=True)
class TranslationResult:
    """A `CreateEKSContainerInstances` request (API field names), the spec chosen, and what was
    dropped or defaulted on the way (one line each, for a Warning event)."""

    request: dict[str, Any]
    spec: InstanceSpec
    warnings: tuple[str, ...] = ()
    sensitive_env: frozenset[tuple[str, str]] = frozenset()
    """(container name, env name) pairs whose value came from a Secret (directly or by expansion)."""
    sensitive_args: frozenset[str] = frozenset()
    """Container names whose Commands/Args expand a secret-derived variable."""

    def redacted_request(self) -> dict[str, Any]:
        """The request with registry passwords and secret-derived values replaced: safe to log."""
        out = copy.deepcopy(self.request)
        for cred in out.get("ImageRegistryCredentials", []):
            cred["Password"] = REDACTED
        for key in ("Containers", "InitContainers"):
            for container in out.get(key, []):
                name = container["Name"]
                for var in container.get("EnvironmentVars", []):
                    if (name, var["Name"]) in self.sensitive_env:
                        var["Value"] = REDACTED
                if name in self.sensitive_args:
                    for part in ("Commands", "Args"):
                        if part in container:
                            container[part] = [REDACTED]
        return out

    def __repr__(self) -> str:
        names = [c["Name"] for c in self.request.get("Containers", [])]
        return (
            f"TranslationResult(name={self.request.get('EksCiName')!r}, spec={self.spec}, "
            f"containers={names!r}, warnings={list(self.warnings)!r})"
        )

    __str__ = __repr__
