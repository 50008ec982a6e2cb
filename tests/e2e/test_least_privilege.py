"""Least privilege, for real: the burst flow with the sandbox's `--rbac` on and every
service on its own ServiceAccount token, bound to the roles in k8s/base.

Two claims, both read from the sandbox's audit trail: no call by a Spillway service was denied,
and every rule its roles grant was used in the run, or is documented in docs/rbac.md (column
"E2E") with the reason it is kept. admission makes no API call at all.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from spillway.cli import stack_rbac
from spillway.cli.stack import SERVICES, LocalStack, StackOptions
from spillway.kube import Forbidden, KubeClient, KubeError, NotFound
from spillway.kube.client import MERGE_PATCH, collection_path, object_path
from spillway.model.kube import Pod, decode_pod
from spillway.sandbox import Sandbox, SandboxOptions
from tests.fixtures.eventually import eventually

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "rbac.md"
BASE = stack_rbac.default_manifests()
NS = "default"
CLOUD_PREFIX = "eklet-"
PATIENCE: dict[str, float] = {"seconds": 40.0, "interval": 0.2}  # a whole stack converging on shared cores

Rule = tuple[str, str, str, str, str, str]  # service, scope, group, resource, resourceName, verb

# ---- what the manifests grant, what the doc says, what the run used --------------------------


def granted_rules(objs: list[dict[str, Any]]) -> set[Rule]:
    """Rules reachable from each Spillway ServiceAccount through its bindings (docs/rbac.md keys)."""
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
             for o in objs if o["kind"] in ("ClusterRole", "Role")}
    accounts = {stack_rbac.service_account(s): s for s in SERVICES}
    rules: set[Rule] = set()
    for binding in (o for o in objs if o["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        ref, namespace = binding["roleRef"], binding["metadata"].get("namespace")
        role = roles[(ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"])]
        for subject in binding["subjects"]:
            service = accounts[subject["name"]]
            for rule in role["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        for name in rule.get("resourceNames", [""]):
                            for verb in rule["verbs"]:
                                rules.add((service, namespace or "cluster", group or "core", resource, name, verb))
    return rules


def documented_e2e(text: str) -> dict[Rule, str]:
    """docs/rbac.md rows → their E2E cell (`used`, or `kept: <reason>`)."""
    rows: dict[Rule, str] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[0] in SERVICES:
            service, scope, group, resource, name, verb, _why, e2e = cells
            rows[(service, scope, group, resource, name, verb)] = e2e
    return rows


def matches(rule: Rule, record: dict[str, Any]) -> bool:
    _, scope, group, resource, name, verb = rule
    called = f"{record['resource']}/{record['subresource']}" if record["subresource"] else record["resource"]
    return (verb == record["verb"] and group == (record["group"] or "core") and resource == called
            and scope in ("cluster", record["namespace"]) and name in ("", record["name"]))


def used_rules(granted: set[Rule], records: list[dict[str, Any]]) -> set[Rule]:
    by_user = {stack_rbac.username(s): s for s in SERVICES}
    used: set[Rule] = set()
    for record in records:
        service = by_user.get(record["user"])
        if service is not None and record["allowed"]:
            used |= {rule for rule in granted if rule[0] == service and matches(rule, record)}
    return used


def test_rule_helpers_see_scope_names_and_subresources() -> None:
    record = {"user": stack_rbac.username("watcher"), "verb": "list", "group": "", "resource": "configmaps",
              "subresource": "", "namespace": "kube-system", "name": "eks-config", "allowed": True}
    named = ("watcher", "kube-system", "core", "configmaps", "eks-config", "list")
    assert matches(named, record)
    assert not matches(("watcher", "kube-node-lease", "core", "configmaps", "eks-config", "list"), record)
    assert not matches(("watcher", "cluster", "core", "configmaps", "other", "list"), record)
    assert not matches(("watcher", "cluster", "core", "configmaps/status", "", "list"), record)
    assert used_rules({named}, [record]) == {named}
    assert used_rules({named}, [record | {"allowed": False}]) == set()


def test_doc_has_an_e2e_verdict_for_every_granted_rule() -> None:
    granted = granted_rules(stack_rbac.load_rbac_objects(BASE))
    rows = documented_e2e(DOC.read_text())
    assert granted - set(rows) == set(), "granted but without an E2E cell in docs/rbac.md"
    for rule, cell in rows.items():
        assert cell == "used" or (cell.startswith("kept: ") and len(cell) > len("kept: ") + 10), (rule, cell)


def test_stack_accounts_are_the_ones_the_deployments_run_as() -> None:
    for service in SERVICES:
        dep = yaml.safe_load((BASE / f"deployment-{service}.yaml").read_text())
        assert dep["spec"]["template"]["spec"]["serviceAccountName"] == stack_rbac.service_account(service)


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_parsed_rbac_objects_are_what_kustomize_renders() -> None:
    out = subprocess.run(["kubectl", "kustomize", str(BASE)], capture_output=True, text=True, timeout=60, check=True)
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d and d["kind"] in stack_rbac.RBAC_KINDS]

    def key(obj: dict[str, Any]) -> str:
        meta = {k: v for k, v in obj["metadata"].items() if k != "labels"}
        return json.dumps({k: v for k, v in obj.items() if k != "metadata"} | {"metadata": meta}, sort_keys=True)

    assert sorted(map(key, rendered)) == sorted(map(key, stack_rbac.load_rbac_objects(BASE)))


# ---- the run ---------------------------------------------------------------------------------

APP_SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app-secret", "namespace": NS},
              "data": {"password": base64.b64encode(b"not-a-real-password").decode()}}
APP_CONFIG = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config", "namespace": NS},
              "data": {"mode": "burst"}}
APP_PV = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "app-nfs"},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"],
                   "nfs": {"server": "10.0.0.10", "path": "/export/app"}}}
APP_PVC = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "app-data", "namespace": NS},
           "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": "app-nfs",
                    "resources": {"requests": {"storage": "1Gi"}}}}


# Tolerates every taint, so its controller puts a pod on each super node too; node-status fails those.
EVERYWHERE = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "everywhere", "namespace": NS},
              "spec": {"selector": {"matchLabels": {"app": "everywhere"}},
                       "template": {"metadata": {"labels": {"app": "everywhere"}},
                                    "spec": {"tolerations": [{"operator": "Exists"}],
                                             "containers": [{"name": "agent", "image": "busybox",
                                                             "resources": {"requests": {"cpu": "10m"}}}]}}}}


def deployment(name: str, replicas: int, cpu: str, annotations: dict[str, str], *, uses_refs: bool) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "nginx", "resources": {"requests": {"cpu": cpu,
                                                                                           "memory": "128Mi"}}}
    pod_spec: dict[str, Any] = {"containers": [container]}
    if uses_refs:  # what makes cloud-provisioner read a Secret, a ConfigMap, a PVC and its PV
        container["env"] = [
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "app-secret", "key": "password"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "mode"}}}]
        container["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        pod_spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "app-data"}}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}, "annotations": annotations},
                                  "spec": pod_spec}}}


async def pods_of(kube: KubeClient, app: str) -> list[Pod]:
    raw = await kube.get_as(collection_path("v1", "pods", NS), dict[str, Any], labelSelector=f"app={app}")
    return [p for p in (decode_pod(json.dumps(i)) for i in raw["items"]) if not p.is_terminating()]


def running(pods: list[Pod], expected: int) -> list[Pod] | None:
    ok = len(pods) == expected and all(p.status.phase == "Running" and p.status.pod_ip for p in pods)
    return pods if ok else None


async def sandbox_authorises_list_by_field_selector_name(tmp: Path) -> bool:
    """Real kube-apiserver authorises list/watch with `fieldSelector=metadata.name=X` as a request
    for object X, so a Role limited by resourceNames allows it (how the watcher reads eks-config)."""
    async with Sandbox(SandboxOptions(kubeconfig=tmp / "admin", rbac=True)) as sb:
        admin = await KubeClient.connect(str(sb.kubeconfig_path))
        try:
            namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "spillway"}}
            await admin.request("POST", collection_path("v1", "namespaces"), body=namespace)
            await stack_rbac.apply_objects(admin, stack_rbac.load_rbac_objects(BASE))
        finally:
            await admin.close()
        token = sb.token_for(stack_rbac.ACCOUNT_NAMESPACE, stack_rbac.service_account("watcher"))
        watcher = await KubeClient.connect(str(sb.write_kubeconfig(tmp / "watcher", token, "watcher")))
        try:
            await watcher.request("GET", collection_path("v1", "configmaps", "kube-system"),
                                  params={"fieldSelector": "metadata.name=eks-config"})
        except Forbidden:
            return False
        finally:
            await watcher.close()
    return True


@pytest.mark.slow
async def test_burst_flow_under_rbac_is_never_denied_and_uses_what_it_is_granted(tmp_path: Path) -> None:
    # a real kube-apiserver authorises list/watch with fieldSelector=metadata.name=X as a request
    # for X, which the watcher's eks-config Role (limited by resourceNames) relies on
    assert await sandbox_authorises_list_by_field_selector_name(tmp_path)
    options = StackOptions(
        state_dir=tmp_path / "stack", rbac=True, nodes=1, node_cpu="1", node_memory="2Gi", start_delay=0.0,
        config_overrides={"provisioner": {"gcIntervalSeconds": 1.0}})
    async with LocalStack(options) as stack:
        kube = await KubeClient.connect(str(stack.kubeconfig))
        try:
            for path, obj in ((collection_path("v1", "secrets", NS), APP_SECRET),
                              (collection_path("v1", "configmaps", NS), APP_CONFIG),
                              (collection_path("v1", "persistentvolumes"), APP_PV),
                              (collection_path("v1", "persistentvolumeclaims", NS), APP_PVC)):
                await kube.request("POST", path, body=obj)

            # (1) gated: LOCAL_REPLICAS=1 of 4, then scale to 3 (a cloud replica goes)
            gated = deployment("gated", 4, "250m", {"AUTO_SCALE_EKS": "true", "LOCAL_REPLICAS": "1"},
                               uses_refs=True)
            await kube.request("POST", collection_path("apps/v1", "deployments", NS), body=gated)
            before = await eventually(lambda: _running(kube, "gated", 4), what="4 gated pods running", **PATIENCE)
            cloud = [p for p in before if p.spec.node_name.startswith(CLOUD_PREFIX)]
            assert len(cloud) == 3, [p.spec.node_name for p in before]
            await kube.patch(object_path("apps/v1", "deployments", "gated", NS) + "/scale",
                             {"spec": {"replicas": 3}}, content_type=MERGE_PATCH)
            after = await eventually(lambda: _running(kube, "gated", 3), what="3 gated pods running", **PATIENCE)
            (removed,) = {p.metadata.name for p in before} - {p.metadata.name for p in after}
            assert removed in {p.metadata.name for p in cloud}
            await eventually(lambda: _gone(kube, removed), what=f"{removed} finished by node-status", **PATIENCE)

            # (2) unschedulable: 600m each; the 1-cpu node already runs a 250m replica, so one bursts
            big = deployment("unschedulable", 2, "600m", {"AUTO_SCALE_EKS": "true"}, uses_refs=False)
            await kube.request("POST", collection_path("apps/v1", "deployments", NS), body=big)
            pods = await eventually(lambda: _running(kube, "unschedulable", 2),
                                    what="2 unschedulable-path pods running", **PATIENCE)
            assert sum(p.spec.node_name.startswith(CLOUD_PREFIX) for p in pods) == 1

            # the rarer paths: `kubectl logs` of a cloud pod (node-status reads the pod), and DaemonSet
            # pods on super nodes (node-status fails them, with an Event)
            cloud_pod = next(p for p in pods if p.spec.node_name.startswith(CLOUD_PREFIX))
            with contextlib.suppress(KubeError):  # the log's content is not the point here
                await kube.request("GET", object_path("v1", "pods", cloud_pod.metadata.name, NS) + "/log")
            await kube.request("POST", collection_path("apps/v1", "daemonsets", NS), body=EVERYWHERE)
            await eventually(lambda: _warned(kube, "DaemonsetForbidden"),
                             what="a DaemonSet pod on a super node failed", **PATIENCE)
        finally:
            await kube.close()
            records = await stack.audit()
            (tmp_path / "audit.json").write_text(json.dumps(records, indent=1))  # for a failed run's post-mortem

    by_user = {stack_rbac.username(s): s for s in SERVICES}
    ours = [r for r in records if r["user"] in by_user]
    calls = Counter(by_user[r["user"]] for r in ours)
    print("API calls per service:", dict(calls))
    denied = [r for r in ours if not r["allowed"]]
    assert denied == [], "denied:\n" + "\n".join(json.dumps(r) for r in denied)
    assert calls["admission"] == 0

    granted = granted_rules(stack_rbac.load_rbac_objects(BASE))
    used = used_rules(granted, ours)
    rows = documented_e2e(DOC.read_text())
    unused = sorted(rule for rule in granted - used if not rows.get(rule, "").startswith("kept: "))
    print("granted and used:", *sorted(used), sep="\n  ")
    assert unused == [], "granted, not used in the run, and no `kept:` reason in docs/rbac.md (a `used` row must be)"


async def _running(kube: KubeClient, app: str, expected: int) -> list[Pod] | None:
    return running(await pods_of(kube, app), expected)


async def _warned(kube: KubeClient, reason: str) -> bool:
    raw = await kube.get_as(collection_path("v1", "events", NS), dict[str, Any])
    return any(e.get("reason") == reason for e in raw["items"])


async def _gone(kube: KubeClient, name: str) -> bool:
    try:
        await kube.request("GET", object_path("v1", "pods", name, NS))
    except NotFound:
        return True
    return False
