"""Everything `translate_pod` needs that lives in the API: Secrets, ConfigMaps, PVC → PV, the node.

Why a module of its own: this is the only I/O before a create, and it must keep secrets secret —
values are decoded from base64 into bytes here and handed straight to the translation context,
never logged. Missing objects are simply left out: the translation knows which references are
optional and raises MissingReference for the others. An object that does not decode (a shape the
API server never gives) is that pod's failure alone: `InvalidReference`, naming the object and the
field, never a value.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import msgspec

from spillway.config import Config, Subnet
from spillway.kube import KubeClient, NotFound, node_path, object_path
from spillway.model.kube import (
    ANNOTATION_RESOLV_CONF,
    ANNOTATION_SUBNET_ID,
    LABEL_ZONE_NAME,
    ConfigMap,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    Secret,
)
from spillway.translate import TranslationContext
from spillway.translate.errors import InvalidReference

T = TypeVar("T")
NodeLookup = Callable[[str], Awaitable[Node | None]]


@dataclass(frozen=True)
class Placement:
    """Where the instance goes: the super node's subnet and zone."""

    node: str
    subnet_id: str
    zone: str
    resolv_conf: str | None
    host_ip: str | None


def referenced_names(pod: Pod) -> tuple[set[str], set[str], set[str]]:
    """(secrets, configMaps, PVC claim names) the pod refers to from env, envFrom, pull secrets, volumes."""
    secrets = {ref.name for ref in pod.spec.image_pull_secrets if ref.name}
    config_maps: set[str] = set()
    for container in (*pod.spec.init_containers, *pod.spec.containers):
        for var in container.env:
            source = var.value_from
            if source is None:
                continue
            if source.secret_key_ref is not None and source.secret_key_ref.name:
                secrets.add(source.secret_key_ref.name)
            if source.config_map_key_ref is not None and source.config_map_key_ref.name:
                config_maps.add(source.config_map_key_ref.name)
        for env_from in container.env_from:
            if env_from.secret_ref is not None and env_from.secret_ref.name:
                secrets.add(env_from.secret_ref.name)
            if env_from.config_map_ref is not None and env_from.config_map_ref.name:
                config_maps.add(env_from.config_map_ref.name)
    claims = {v.persistent_volume_claim.claim_name for v in pod.spec.volumes
              if v.persistent_volume_claim is not None and v.persistent_volume_claim.claim_name}
    return secrets, config_maps, claims


def decode_secret(secret: Secret) -> dict[str, bytes]:
    """base64 data → bytes; an undecodable value is dropped (the translation reports the missing key)."""
    out: dict[str, bytes] = {}
    for key, value in secret.data.items():
        try:
            out[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
    return out


class Resolver:
    """Builds a TranslationContext for a bound pod through the API (and the node view from the bus)."""

    def __init__(self, client: KubeClient, config: Config, subnets: dict[str, Subnet],
                 node_lookup: NodeLookup | None = None) -> None:
        self.client = client
        self.config = config
        self.subnets = subnets
        self.node_lookup = node_lookup

    async def _get(self, path: str, type_: type[T]) -> T | None:
        try:
            return await self.client.get_as(path, type_)
        except NotFound:
            return None
        except msgspec.DecodeError as exc:  # msgspec names the field at fault, never its value
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise InvalidReference(f"{path.removeprefix('/api/v1/')} cannot be read: {detail}") from None

    async def node(self, name: str) -> Node | None:
        """The node view from the bus (KV_NODES) when there, else from the API."""
        if self.node_lookup is not None:
            found = await self.node_lookup(name)
            if found is not None:
                return found
        return await self._get(node_path(name), Node)

    async def placement(self, node_name: str) -> Placement:
        subnet = self.subnets[node_name]
        node = await self.node(node_name)
        annotations = node.metadata.annotations if node else {}
        labels = node.metadata.labels if node else {}
        host_ip = None
        if node is not None:
            host_ip = next((a.address for a in node.status.addresses if a.type == "InternalIP"), None)
        return Placement(
            node=node_name, subnet_id=annotations.get(ANNOTATION_SUBNET_ID) or subnet.id,
            zone=labels.get(LABEL_ZONE_NAME) or subnet.zone,
            resolv_conf=annotations.get(ANNOTATION_RESOLV_CONF), host_ip=host_ip,
        )

    async def context(self, pod: Pod, instance_name: str, placement: Placement) -> TranslationContext:
        namespace = pod.metadata.namespace
        secret_names, cm_names, claim_names = referenced_names(pod)

        async def secret(name: str) -> tuple[str, dict[str, bytes] | None]:
            found = await self._get(object_path("v1", "secrets", name, namespace), Secret)
            return name, None if found is None else decode_secret(found)

        async def config_map(name: str) -> tuple[str, dict[str, str] | None]:
            found = await self._get(object_path("v1", "configmaps", name, namespace), ConfigMap)
            return name, None if found is None else dict(found.data)

        async def volume(claim: str) -> tuple[str, PersistentVolume | None]:
            pvc = await self._get(object_path("v1", "persistentvolumeclaims", claim, namespace),
                                  PersistentVolumeClaim)
            if pvc is None or not pvc.spec.volume_name:
                return claim, None
            return claim, await self._get(object_path("v1", "persistentvolumes", pvc.spec.volume_name),
                                          PersistentVolume)

        secrets, config_maps, volumes = await asyncio.gather(
            asyncio.gather(*(secret(n) for n in sorted(secret_names))),
            asyncio.gather(*(config_map(n) for n in sorted(cm_names))),
            asyncio.gather(*(volume(c) for c in sorted(claim_names))),
        )
        return TranslationContext(
            instance_name=instance_name, subnet_id=placement.subnet_id, vpc_id=self.config.cloud.vpc_id,
            security_group_ids=tuple(self.config.cloud.security_group_ids), node_name=placement.node,
            pod_used_apiserver=self.config.eklet.pod_used_apiserver or None,
            node_resolv_conf=placement.resolv_conf,
            secrets={n: d for n, d in secrets if d is not None},
            config_maps={n: d for n, d in config_maps if d is not None},
            persistent_volumes={c: pv for c, pv in volumes if pv is not None},
            host_ip=placement.host_ip,
        )
