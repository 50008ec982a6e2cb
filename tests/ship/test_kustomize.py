"""Every kustomization renders and validates against the Kubernetes 1.32 schemas, and the
security invariants hold in every render: hardened service pods, no RBAC wildcards, a webhook
that can never block the cluster, and secrets that never leak into ConfigMaps."""

from __future__ import annotations

import base64
import json
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.ship.render import KUBECTL, SERVICES, TARGETS, of_kind, render, service_deployments

pytestmark = [pytest.mark.kubectl, pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")]

K8S_VERSION = "1.32.0"  # kubectl 1.32 here; kubernetes-validate ships 1.25 … 1.37
# Custom resources have no schema in kubernetes-validate; their objects are skipped, by name.
NO_SCHEMA = {("cert-manager.io/v1", "Issuer"), ("cert-manager.io/v1", "Certificate"),
             ("monitoring.coreos.com/v1", "PodMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}
DOC_SECRET_ENV = {"SPILLWAY_SECRET_ID": "secretID", "SPILLWAY_SECRET_KEY": "secretKey"}


def _name(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{obj['kind']}/{meta.get('namespace', '-')}/{meta['name']}"


@pytest.mark.parametrize("target", TARGETS)
def test_renders_and_validates_strictly(target: str) -> None:
    objs = render(target)
    assert objs, f"{target} rendered nothing"
    for obj in objs:
        if (obj["apiVersion"], obj["kind"]) in NO_SCHEMA:
            continue  # no schema shipped for this custom resource (see NO_SCHEMA)
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{target}: {_name(obj)} invalid: {exc.message} at {list(exc.path)}")


def test_no_schema_list_is_only_for_objects_that_really_lack_one() -> None:
    for api_version, kind in NO_SCHEMA:
        obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}
        with pytest.raises(kubernetes_validate.SchemaNotFoundError):
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.mark.parametrize("target", TARGETS)
def test_every_service_pod_is_hardened(target: str) -> None:
    deployments = service_deployments(render(target))
    assert sorted(deployments) == sorted(SERVICES)
    for service, dep in deployments.items():
        pod = dep["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, service
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", service
        (container,) = pod["containers"]
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True, service
        assert sc["allowPrivilegeEscalation"] is False, service
        assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"], service
        assert sc["seccompProfile"]["type"] == "RuntimeDefault", service
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", service
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", service
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert container["readinessProbe"]["httpGet"]["port"] == "health" and ports["health"] == 8080
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}, (service, kind)
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], service
        assert container["command"][:3] == ["spillway", "run", service], service
        assert container["command"][3:5] == ["--config", "/etc/spillway/config.yaml"], service
        assert pod["serviceAccountName"] == f"spillway-{service}", service


@pytest.mark.parametrize("target", TARGETS)
def test_cloud_keys_come_from_the_secret_and_only_where_needed(target: str) -> None:
    for service, dep in service_deployments(render(target)).items():
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container.get("env", [])}
        has_keys = {name for name in DOC_SECRET_ENV if name in env}
        expected = set(DOC_SECRET_ENV) if service in ("cloud-provisioner", "node-status") else set()
        assert has_keys == expected, service
        for name in has_keys:
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "spillway-cloud-credentials", "key": DOC_SECRET_ENV[name]}
        assert not any("secret" in arg.lower() for arg in container["command"]), service


def test_admission_has_no_token_and_serves_tls_from_the_secret() -> None:
    objs = render("base")
    pod = service_deployments(objs)["admission"]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    (sa,) = [o for o in of_kind(objs, "ServiceAccount") if o["metadata"]["name"] == "spillway-admission"]
    assert sa["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert {"name": "webhook", "containerPort": 8443, "protocol": "TCP"} in container["ports"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/etc/spillway/tls"]]["secret"]["secretName"] == "spillway-admission-tls"
    (svc,) = [o for o in of_kind(objs, "Service") if o["metadata"]["name"] == "spillway-admission"]
    assert svc["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "webhook", "protocol": "TCP"}]


@pytest.mark.parametrize(
    ("target", "replicas"),
    [("base", 2), ("overlays/production", 2), ("overlays/sandbox", 1)],
)
def test_replicas_and_disruption_budgets(target: str, replicas: int) -> None:
    objs = render(target)
    for service, dep in service_deployments(objs).items():
        assert dep["spec"]["replicas"] == replicas, service
    budgets = {
        p["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/component")
        for p in of_kind(objs, "PodDisruptionBudget")
    }
    assert set(SERVICES) <= budgets


@pytest.mark.parametrize("target", TARGETS)
def test_no_rbac_wildcards(target: str) -> None:
    for role in of_kind(render(target), "ClusterRole") + of_kind(render(target), "Role"):
        for rule in role.get("rules", []):
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                assert not any("*" in v for v in rule.get(field, [])), (_name(role), rule)


@pytest.mark.parametrize("target", TARGETS)
def test_webhook_cannot_block_the_cluster(target: str) -> None:
    (config,) = of_kind(render(target), "MutatingWebhookConfiguration")
    (hook,) = config["webhooks"]
    assert hook["failurePolicy"] == "Ignore"
    assert hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["timeoutSeconds"] == 5
    (rule,) = hook["rules"]
    assert rule["operations"] == ["CREATE"] and rule["apiGroups"] == [""] and rule["resources"] == ["pods"]
    (expr,) = hook["namespaceSelector"]["matchExpressions"]
    assert expr["key"] == "kubernetes.io/metadata.name" and expr["operator"] == "NotIn"
    assert {"kube-system", "tke-eni-ip-webhook", "spillway"} <= set(expr["values"])
    service = hook["clientConfig"]["service"]
    assert service == {"name": "spillway-admission", "namespace": "spillway", "path": "/mutate", "port": 443}


def _secret_values(objs: tuple[dict[str, Any], ...]) -> set[str]:
    values = set()
    for secret in of_kind(objs, "Secret"):
        values |= set(secret.get("stringData", {}).values())
        values |= {base64.b64decode(v).decode() for v in secret.get("data", {}).values()}
    return values


@pytest.mark.parametrize("target", TARGETS)
def test_secrets_never_appear_in_configmaps(target: str) -> None:
    objs = render(target)
    secrets = _secret_values(objs)
    for cm in of_kind(objs, "ConfigMap"):
        text = json.dumps(cm.get("data", {}))
        assert not [s for s in secrets if s in text], _name(cm)
        if "config.yaml" in cm.get("data", {}):
            cloud = yaml.safe_load(cm["data"]["config.yaml"])["cloud"]
            assert "secretID" not in cloud and "secretKey" not in cloud, _name(cm)


def test_production_ships_no_placeholder_secret_and_a_pinned_image() -> None:
    objs = render("overlays/production")
    assert of_kind(objs, "Secret") == []
    for dep in service_deployments(objs).values():
        image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.rsplit(":", 1)[1] not in ("latest", "dev"), image
    assert any(o["kind"] == "StatefulSet" and o["metadata"]["name"] == "spillway-nats" for o in objs)


def test_base_placeholders_are_marked() -> None:
    objs = render("base")
    secrets = of_kind(objs, "Secret")
    assert {s["metadata"]["name"] for s in secrets} == {"spillway-cloud-credentials", "spillway-nats-credentials"}
    assert all("PLACEHOLDER" in v for secret in secrets for v in secret["stringData"].values())
    (eks_config,) = [o for o in of_kind(objs, "ConfigMap") if o["metadata"]["name"] == "eks-config"]
    assert eks_config["metadata"]["namespace"] == "kube-system"
    assert eks_config["data"] == {"AUTO_SCALE_EKS": "true"}


def test_sandbox_points_at_the_bundled_sandbox_and_emulator() -> None:
    objs = render("overlays/sandbox")
    (cm,) = [o for o in of_kind(objs, "ConfigMap") if o["metadata"]["name"].startswith("spillway-config-")]
    config = yaml.safe_load(cm["data"]["config.yaml"])
    services = {o["metadata"]["name"]: o for o in of_kind(objs, "Service")}
    host, port = config["cloud"]["apiEndpoint"].removeprefix("http://").split(":")
    assert host.split(".")[0] in services and int(port) == services[host.split(".")[0]]["spec"]["ports"][0]["port"]
    (kubeconfig,) = [o for o in of_kind(objs, "ConfigMap") if o["metadata"]["name"].startswith("spillway-sandbox-kube")]
    server = yaml.safe_load(kubeconfig["data"]["kubeconfig"])["clusters"][0]["cluster"]["server"]
    assert server.startswith("http://spillway-sandbox.")
    for service, dep in service_deployments(objs).items():
        mounts = {m["mountPath"] for m in dep["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
        wants = service != "admission"
        assert (config["kubernetes"]["kubeconfig"].rsplit("/", 1)[0] in mounts) is wants, service
    names = {o["metadata"]["name"] for o in of_kind(objs, "Deployment")}
    assert {"spillway-sandbox", "spillway-emulator", "spillway-jaeger"} <= names


def test_tke_scheduler_is_a_stock_scheduler_with_its_own_lease() -> None:
    objs = render("component/tke-scheduler")
    (dep,) = [o for o in of_kind(objs, "Deployment") if o["metadata"]["name"] == "tke-scheduler"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].startswith("registry.k8s.io/kube-scheduler:")
    (cm,) = [o for o in of_kind(objs, "ConfigMap") if o["metadata"]["name"].startswith("tke-scheduler-config")]
    config = yaml.safe_load(cm["data"]["scheduler-config.yaml"])
    assert [p["schedulerName"] for p in config["profiles"]] == ["tke-scheduler"]
    assert config["leaderElection"]["resourceName"] == "tke-scheduler"
    bound = {b["roleRef"]["name"] for b in of_kind(objs, "ClusterRoleBinding") + of_kind(objs, "RoleBinding")
             if any(s["name"] == "tke-scheduler" for s in b["subjects"])}
    assert bound == {"system:kube-scheduler", "system:volume-scheduler",
                     "extension-apiserver-authentication-reader", "tke-scheduler-leader-election"}


def test_nats_component_is_a_three_server_jetstream_cluster() -> None:
    objs = render("component/nats")
    (sts,) = of_kind(objs, "StatefulSet")
    assert sts["spec"]["replicas"] == 3 and sts["spec"]["volumeClaimTemplates"]
    assert sts["spec"]["serviceName"] == "spillway-nats-headless"
    (cm,) = [o for o in of_kind(objs, "ConfigMap") if o["metadata"]["name"].startswith("spillway-nats-config")]
    conf = cm["data"]["nats.conf"]
    assert "jetstream" in conf and conf.count("spillway-nats-headless.spillway.svc:6222") == 3
    (env,) = [o for o in of_kind(objs, "ConfigMap") if o["metadata"]["name"].startswith("spillway-env-")]
    host_port = env["data"]["NATS_URL"].removeprefix("tls://")
    services = {o["metadata"]["name"]: o for o in of_kind(objs, "Service")}
    client = services[host_port.split(".")[0]]
    assert client["spec"].get("clusterIP") != "None"
    assert int(host_port.rsplit(":", 1)[1]) in [p["port"] for p in client["spec"]["ports"]]


def test_cert_manager_component_injects_the_ca() -> None:
    objs = render("component/cert-manager")
    (config,) = of_kind(objs, "MutatingWebhookConfiguration")
    assert config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "spillway/spillway-admission"
    certs = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Certificate"}
    assert certs["spillway-admission"]["spec"]["secretName"] == "spillway-admission-tls"
    assert "spillway-admission.spillway.svc" in certs["spillway-admission"]["spec"]["dnsNames"]
    bus = certs["spillway-nats"]["spec"]
    assert bus["secretName"] == "spillway-nats-tls"  # what NATS, the services and the set-up Job mount
    assert {"spillway-nats.spillway.svc", "*.spillway-nats-headless.spillway.svc"} <= set(bus["dnsNames"])
