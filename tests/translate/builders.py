"""Pods as API JSON dicts (decoded through the real view) and a default context."""

from __future__ import annotations

import dataclasses
from typing import Any

from spillway.model.kube import Pod, from_builtins
from spillway.translate import TranslationContext

APISERVER_ENV = [
    {"Name": "KUBERNETES_SERVICE_HOST", "Value": "10.0.0.1"},
    {"Name": "KUBERNETES_SERVICE_PORT", "Value": "6443"},
    {"Name": "KUBERNETES_SERVICE_PORT_HTTPS", "Value": "6443"},
    {"Name": "KUBERNETES_PORT", "Value": "tcp://10.0.0.1:6443"},
    {"Name": "KUBERNETES_PORT_6443_TCP", "Value": "tcp://10.0.0.1:6443"},
    {"Name": "KUBERNETES_PORT_6443_TCP_PROTO", "Value": "tcp"},
    {"Name": "KUBERNETES_PORT_6443_TCP_PORT", "Value": "6443"},
    {"Name": "KUBERNETES_PORT_6443_TCP_ADDR", "Value": "10.0.0.1"},
]


def container(name: str = "app", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": f"registry.example/{name}:1", **fields}


def pod(
    *containers: dict[str, Any],
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> Pod:
    body = {
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "uid": "uid-1",
            "labels": labels or {},
            "annotations": annotations or {},
        },
        "spec": {"containers": list(containers) or [container()], **spec},
    }
    return from_builtins(body, Pod)


BASE_CONTEXT = TranslationContext(
    instance_name="spw-abc",
    subnet_id="subnet-1",
    vpc_id="vpc-1",
    security_group_ids=("sg-default",),
    node_name="eklet-subnet-1",
    pod_used_apiserver="10.0.0.1:6443",
)


def ctx(**changes: Any) -> TranslationContext:
    return dataclasses.replace(BASE_CONTEXT, **changes)


def user_env(body: dict[str, Any]) -> list[dict[str, str]]:
    """A container's EnvironmentVars without the injected apiserver variables."""
    injected = {v["Name"] for v in APISERVER_ENV}
    return [v for v in body.get("EnvironmentVars", []) if v["Name"] not in injected]
