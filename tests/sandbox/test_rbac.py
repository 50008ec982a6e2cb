"""RBAC: service-account tokens, Role/ClusterRole bindings, 403 message shape, the audit trail."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from spillway.sandbox import Sandbox, SandboxOptions
from tests.fixtures.sandbox import api_client_for
from tests.sandbox.helpers import Raw, pod

SA = "system:serviceaccount:spillway:placement"


@pytest.fixture
async def rbac_sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(SandboxOptions(kubeconfig=tmp_path / "kc", rbac=True, tokens_dir=tmp_path / "tokens")) as sb:
        store = sb.store
        await store.create("namespaces", {"metadata": {"name": "spillway"}})
        await store.create("clusterroles", {"metadata": {"name": "placement"}, "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": [""], "resources": ["pods/binding"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["eks-config"]},
        ]})
        await store.create("clusterrolebindings", {"metadata": {"name": "placement"},
                                                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                               "kind": "ClusterRole", "name": "placement"},
                                                   "subjects": [{"kind": "ServiceAccount", "name": "placement",
                                                                 "namespace": "spillway"}]})
        await store.create("roles", {"metadata": {"name": "leases"}, "rules": [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]}]}, namespace="spillway")
        await store.create("rolebindings", {"metadata": {"name": "leases"},
                                            "roleRef": {"kind": "Role", "name": "leases"},
                                            "subjects": [{"kind": "ServiceAccount", "name": "placement"}]},
                           namespace="spillway")
        await store.create("pods", pod("p"), namespace="default")
        yield sb


CASES: list[tuple[str, str, str, Any, int, str]] = [
    ("list-pods", "GET", "/api/v1/pods", None, 200, ""),
    ("patch-pod", "PATCH", "/api/v1/namespaces/default/pods/p", {"metadata": {"labels": {"a": "b"}}}, 200, ""),
    ("bind", "POST", "/api/v1/namespaces/default/pods/p/binding",
     {"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n"}}, 201, ""),
    ("delete-pod", "DELETE", "/api/v1/namespaces/default/pods/p", None, 403,
     'pods "p" is forbidden: User "system:serviceaccount:spillway:placement" cannot delete resource "pods" in API '
     'group "" in the namespace "default"'),
    ("pod-status", "PATCH", "/api/v1/namespaces/default/pods/p/status", {"status": {}}, 403,
     'pods "p" is forbidden: User "system:serviceaccount:spillway:placement" cannot patch resource "pods/status" '
     'in API group "" in the namespace "default"'),
    ("named-configmap", "GET", "/api/v1/namespaces/kube-system/configmaps/eks-config", None, 404, ""),
    ("other-configmap", "GET", "/api/v1/namespaces/kube-system/configmaps/other", None, 403,
     'configmaps "other" is forbidden: User "system:serviceaccount:spillway:placement" cannot get resource '
     '"configmaps" in API group "" in the namespace "kube-system"'),
    ("list-nodes", "GET", "/api/v1/nodes", None, 403,
     'nodes is forbidden: User "system:serviceaccount:spillway:placement" cannot list resource "nodes" in API '
     'group "" at the cluster scope'),
    ("lease-in-own-namespace", "GET", "/apis/coordination.k8s.io/v1/namespaces/spillway/leases", None, 200, ""),
    ("lease-elsewhere", "GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases", None, 403,
     'leases.coordination.k8s.io is forbidden: User "system:serviceaccount:spillway:placement" cannot list '
     'resource "leases" in API group "coordination.k8s.io" in the namespace "default"'),
]


@pytest.mark.parametrize(("method", "path", "body", "code", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
async def test_service_account_permissions(rbac_sandbox: Sandbox, method: str, path: str, body: Any, code: int,
                                           message: str) -> None:
    token = rbac_sandbox.token_for("spillway", "placement")
    status, got, _ = await Raw(rbac_sandbox, token).request(method, path, body,
                                                            content_type="application/merge-patch+json"
                                                            if method == "PATCH" else "application/json")
    assert status == code
    if message:
        assert (got["reason"], got["message"]) == ("Forbidden", message)
    record = rbac_sandbox.audit[-1]
    assert (record.user, record.allowed) == (SA, code != 403)


async def test_unknown_token_is_401_and_admin_is_always_allowed(rbac_sandbox: Sandbox) -> None:
    status, got, _ = await Raw(rbac_sandbox, "nope").request("GET", "/api/v1/pods")
    assert (status, got["reason"]) == (401, "Unauthorized")
    status, _, _ = await Raw(rbac_sandbox).request("DELETE", "/api/v1/namespaces/default/pods/p")
    assert status == 200


async def test_kubernetes_asyncio_with_a_token_kubeconfig(rbac_sandbox: Sandbox, tmp_path: Path) -> None:
    path = rbac_sandbox.write_kubeconfig(tmp_path / "sa.kc", rbac_sandbox.token_for("spillway", "placement"), "sa")
    api = await api_client_for(path)
    try:
        core = client.CoreV1Api(api)
        assert [p.metadata.name for p in (await core.list_pod_for_all_namespaces()).items] == ["p"]
        with pytest.raises(ApiException) as err:
            await core.delete_namespaced_pod("p", "default")
        assert err.value.body is not None
        assert err.value.status == 403 and json.loads(err.value.body)["reason"] == "Forbidden"
    finally:
        await api.close()
    assert (tmp_path / "tokens" / "spillway.placement.token").exists()
    status, audit, _ = await Raw(rbac_sandbox).request("GET", "/debug/spillway/audit")
    assert status == 200
    assert {"user": SA, "verb": "delete", "group": "", "resource": "pods", "subresource": "", "namespace": "default",
            "name": "p", "allowed": False} in audit


@pytest.mark.kubectl
async def test_kubectl_over_tls_with_admin_and_service_account(rbac_sandbox: Sandbox, tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not on PATH")
    sa_config = rbac_sandbox.write_kubeconfig(tmp_path / "sa.kc", rbac_sandbox.token_for("spillway", "placement"),
                                              "placement")

    async def run(config: Path, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(kubectl, "--kubeconfig", str(config), "--cache-dir",
                                                    str(tmp_path / "cache"), *args,
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        return proc.returncode or 0, out.decode(), err.decode()

    assert rbac_sandbox.url.startswith("https://")
    code, out, err = await run(rbac_sandbox.kubeconfig_path, "get", "nodes")
    assert code == 0, err
    code, out, err = await run(sa_config, "get", "pods", "-A")
    assert code == 0 and "p" in out, err
    code, out, err = await run(sa_config, "delete", "pod", "p")
    assert code != 0
    assert ('pods "p" is forbidden: User "system:serviceaccount:spillway:placement" cannot delete resource "pods" '
            'in API group "" in the namespace "default"') in err
