"""A list/watch narrowed by `fieldSelector=metadata.name=X` is authorised as a request for X,
as kube-apiserver does, so Roles limited by resourceNames allow it; anything broader is denied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spillway.kube import Forbidden, KubeClient
from spillway.kube.client import collection_path
from spillway.sandbox.api import selected_name


@pytest.mark.parametrize(("verb", "selector", "name"), [
    pytest.param("list", "metadata.name=eks-config", "eks-config", id="list by name"),
    pytest.param("watch", "metadata.name==eks-config", "eks-config", id="watch by name, =="),
    pytest.param("list", "metadata.namespace=x,metadata.name=a", "a", id="among other terms"),
    pytest.param("list", "metadata.name!=a", "", id="not-equal is not a name"),
    pytest.param("get", "metadata.name=a", "", id="only list and watch"),
    pytest.param("list", None, "", id="no selector"),
])
def test_selected_name(verb: str, selector: str | None, name: str) -> None:
    assert selected_name(verb, selector) == name


async def test_role_with_resource_names_allows_list_by_that_name_only(make_sandbox: Any, tmp_path: Path) -> None:
    sb = await make_sandbox(rbac=True)
    admin = await KubeClient.connect(str(sb.kubeconfig_path))
    try:
        await admin.request("POST", collection_path("rbac.authorization.k8s.io/v1", "roles", "kube-system"), body={
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "eks-config-reader", "namespace": "kube-system"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["eks-config"],
                       "verbs": ["list", "watch"]}]})
        await admin.request("POST", collection_path("rbac.authorization.k8s.io/v1", "rolebindings", "kube-system"),
                            body={"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                                  "metadata": {"name": "eks-config-reader", "namespace": "kube-system"},
                                  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                              "name": "eks-config-reader"},
                                  "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "spillway"}]})
    finally:
        await admin.close()
    reader = await KubeClient.connect(str(sb.write_kubeconfig(tmp_path / "reader", sb.token_for("spillway", "reader"),
                                                              "reader")))
    try:
        path = collection_path("v1", "configmaps", "kube-system")
        await reader.request("GET", path, params={"fieldSelector": "metadata.name=eks-config"})
        with pytest.raises(Forbidden):
            await reader.request("GET", path)
        with pytest.raises(Forbidden):
            await reader.request("GET", path, params={"fieldSelector": "metadata.name=other"})
    finally:
        await reader.close()
