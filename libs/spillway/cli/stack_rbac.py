"""The local stack's RBAC mode: every service on its own ServiceAccount token, bound to the
roles shipped in `k8s/base`, against the sandbox started with `--rbac`.

This is how the least-privilege claim of docs/rbac.md is checked for real: the same
ServiceAccounts, (Cluster)Roles and bindings a user applies with `kubectl apply -k k8s/base`
are read from the kustomization's resource files (no kubectl needed), applied to the sandbox,
and each service gets a kubeconfig holding only its own token. The sandbox audits every call,
so a test can compare what each account used with what its roles grant.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from spillway.kube import Conflict, KubeClient
from spillway.kube.client import collection_path, object_path

ACCOUNT_NAMESPACE = "spillway"
# What `kubectl apply` would send for each RBAC kind: (group/version, plural), in apply order.
RBAC_KINDS: dict[str, tuple[str, str]] = {
    "ServiceAccount": ("v1", "serviceaccounts"),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", "clusterroles"),
    "Role": ("rbac.authorization.k8s.io/v1", "roles"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", "clusterrolebindings"),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings"),
}


def default_manifests() -> Path:
    """`k8s/base` of the source tree this package runs from (an editable install)."""
    return Path(__file__).resolve().parents[3] / "k8s" / "base"


def service_account(service: str) -> str:
    return f"spillway-{service}"


def username(service: str) -> str:
    """The user the sandbox audits a service's calls under."""
    return f"system:serviceaccount:{ACCOUNT_NAMESPACE}:{service_account(service)}"


def load_rbac_objects(base: Path) -> list[dict[str, Any]]:
    """The ServiceAccounts, roles and bindings of a kustomization's resource files, in apply
    order. Only plain files are followed: the base lists no nested kustomizations for RBAC."""
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    found: list[dict[str, Any]] = []
    for resource in kustomization.get("resources") or []:
        path = base / resource
        if path.is_file():
            found.extend(doc for doc in yaml.safe_load_all(path.read_text())
                         if isinstance(doc, dict) and doc.get("kind") in RBAC_KINDS)
    order = list(RBAC_KINDS)
    return sorted(found, key=lambda obj: order.index(obj["kind"]))


def write_tokens(tokens_dir: Path, services: Iterable[str]) -> dict[str, str]:
    """One token file per service account, in the sandbox's `<ns>.<sa>.token` layout, written
    before the sandbox starts (it reads them once). Returns service → token."""
    tokens_dir.mkdir(parents=True, exist_ok=True)
    tokens: dict[str, str] = {}
    for service in services:
        path = tokens_dir / f"{ACCOUNT_NAMESPACE}.{service_account(service)}.token"
        if path.exists():
            tokens[service] = path.read_text().strip()
            continue
        tokens[service] = secrets.token_urlsafe(32)
        path.write_text(tokens[service] + "\n")
        path.chmod(0o600)
    return tokens


def write_service_kubeconfig(admin_kubeconfig: Path, service: str, token: str, path: Path) -> Path:
    """The admin kubeconfig's server and CA, with the service account's token instead of admin's."""
    config = yaml.safe_load(admin_kubeconfig.read_text())
    user = service_account(service)
    config["users"] = [{"name": user, "user": {"token": token}}]
    for context in config.get("contexts") or []:
        context["context"]["user"] = user
        context["context"]["namespace"] = ACCOUNT_NAMESPACE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


async def apply_objects(client: KubeClient, objects: Iterable[dict[str, Any]]) -> None:
    """Create each object, or replace it when it exists (a restarted stack on the same state)."""
    for obj in objects:
        group_version, plural = RBAC_KINDS[obj["kind"]]
        meta = obj["metadata"]
        namespace = meta.get("namespace")
        try:
            await client.request("POST", collection_path(group_version, plural, namespace), body=obj)
        except Conflict:
            with contextlib.suppress(Conflict):
                await client.request("PUT", object_path(group_version, plural, meta["name"], namespace), body=obj)
