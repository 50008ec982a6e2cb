"""Register the webhook in a cluster: a MutatingWebhookConfiguration pointing at a URL.

Used by the tests and by `spillway demo` / `spillway up` against the sandbox (production uses the
k8s/ manifest with a Service reference and cert-manager). Same rules as the manifest: pod CREATE
only, failurePolicy Ignore (when Spillway is down pods schedule locally), kube-system and the other
excluded namespaces never sent.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from spillway.kube import KubeClient, NotFound
from spillway.kube.client import collection_path, object_path

GROUP_VERSION = "admissionregistration.k8s.io/v1"
PLURAL = "mutatingwebhookconfigurations"
DEFAULT_NAME = "spillway-admission"
WEBHOOK_NAME = "placement-gate.spillway.io"
EXCLUDED_NAMESPACES = ("kube-system", "tke-eni-ip-webhook", "spillway")


def webhook_configuration(url: str, ca_bundle: bytes, *, name: str = DEFAULT_NAME,
                          excluded_namespaces: Iterable[str] = EXCLUDED_NAMESPACES,
                          timeout_seconds: int = 5) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION, "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "spillway",
                                              "app.kubernetes.io/component": "admission"}},
        "webhooks": [{
            "name": WEBHOOK_NAME,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Ignore",
            "timeoutSeconds": timeout_seconds,
            "reinvocationPolicy": "Never",
            "matchPolicy": "Equivalent",
            "clientConfig": {"url": url, "caBundle": base64.b64encode(ca_bundle).decode()},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                       "scope": "Namespaced"}],
            "namespaceSelector": {"matchExpressions": [{
                "key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(excluded_namespaces),
            }]},
        }],
    }


async def register_webhook(client: KubeClient, url: str, ca_bundle: bytes, *, name: str = DEFAULT_NAME,
                           excluded_namespaces: Iterable[str] = EXCLUDED_NAMESPACES) -> None:
    """Create the configuration, or replace it (same name) with this URL and CA."""
    body = webhook_configuration(url, ca_bundle, name=name, excluded_namespaces=excluded_namespaces)
    path = object_path(GROUP_VERSION, PLURAL, name)
    try:
        current = await client.get_as(path, dict[str, Any])
    except NotFound:
        await client.request("POST", collection_path(GROUP_VERSION, PLURAL), body=body)
        return
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    await client.request("PUT", path, body=body)
