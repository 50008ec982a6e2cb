"""Mutating admission webhooks through the API: a real HTTPS webhook (self-signed CA in the
caBundle) that labels pods and warns; failurePolicy, selectors, rules, service references."""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes_asyncio import client

from spillway.sandbox import Sandbox
from spillway.sandbox.errors import ApiError
from spillway.sandbox.webhooks import WEBHOOK_CONNECTIONS
from tests.fixtures.sandbox import KUBECTL, api_client_for, needs_kubectl
from tests.sandbox.helpers import pod


def self_signed(directory: Path) -> tuple[Path, Path, str]:
    """A certificate for 127.0.0.1 and hook.default.svc; returns (cert, key, caBundle)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-webhook")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("hook.default.svc")]), critical=False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / "hook.crt", directory / "hook.key"
    cert_path.write_bytes(pem)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, base64.b64encode(pem).decode()


@dataclass
class Hook:
    url: str
    port: int
    ca_bundle: str
    reviews: list[dict[str, Any]] = field(default_factory=list)
    callers: set[Any] = field(default_factory=set)  # the sandbox's (address, port) of each connection
    delay: float = 0.0


@pytest.fixture
async def hook(tmp_path: Path) -> AsyncIterator[Hook]:
    cert, key, bundle = self_signed(tmp_path)
    state = Hook("", 0, bundle)

    async def mutate(request: web.Request) -> web.Response:
        review = await request.json()
        state.reviews.append(review["request"])
        if request.transport is not None:
            state.callers.add(request.transport.get_extra_info("peername"))
        await asyncio.sleep(state.delay)
        uid = review["request"]["uid"]
        ops: list[dict[str, Any]]
        if request.path == "/gate":
            ops = [{"op": "add", "path": "/spec/schedulingGates", "value": [{"name": "spillway.io/placement"}]}]
            response: dict[str, Any] = {"uid": uid, "allowed": True, "patchType": "JSONPatch",
                                        "patch": base64.b64encode(json.dumps(ops).encode()).decode()}
        elif request.path == "/deny":
            response = {"uid": uid, "allowed": False, "status": {"code": 403, "message": "no pods named deny-me"}}
        else:
            labels_exist = bool(review["request"]["object"]["metadata"].get("labels"))
            ops = [{"op": "add", "path": "/metadata/labels", "value": {}}] if not labels_exist else []
            ops.append({"op": "add", "path": "/metadata/labels/mutated", "value": "yes"})
            response = {"uid": uid, "allowed": True, "patchType": "JSONPatch",
                        "patch": base64.b64encode(json.dumps(ops).encode()).decode(),
                        "warnings": ["spillway test: LOCAL_REPLICAS is not a number"]}
        return web.json_response({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                  "response": response})

    app = web.Application()
    app.router.add_post("/{tail:.*}", mutate)
    runner = web.AppRunner(app)
    await runner.setup()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    state.port = runner.addresses[0][1]  # (host, port) of the one bound socket
    state.url = f"https://127.0.0.1:{state.port}/mutate"
    try:
        yield state
    finally:
        await runner.cleanup()


def config(name: str, client_config: dict[str, Any], *, policy: str = "Fail", **extra: Any) -> dict[str, Any]:
    webhook = {"name": f"{name}.spillway.io", "clientConfig": client_config, "failurePolicy": policy,
               "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 5,
               "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                          "resources": ["pods"]}]}
    webhook.update(extra)
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name}, "webhooks": [webhook]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_label_applied_and_warning_returned(cluster: Sandbox, hook: Hook) -> None:
    await cluster.store.create("mutatingwebhookconfigurations", config("label", {"url": hook.url,
                                                                                 "caBundle": hook.ca_bundle}))
    api = await api_client_for(cluster.kubeconfig_path)
    try:
        core = client.CoreV1Api(api)
        created, status, headers = await core.create_namespaced_pod_with_http_info("default", pod("p"))  # type: ignore[arg-type]  # dict body
    finally:
        await api.close()
    assert status == 201 and created.metadata.labels == {"mutated": "yes"}
    assert headers.getall("Warning") == ['299 - "spillway test: LOCAL_REPLICAS is not a number"']
    review = hook.reviews[-1]
    assert (review["operation"], review["kind"], review["resource"], review["namespace"], review["name"]) == (
        "CREATE", {"group": "", "version": "v1", "kind": "Pod"}, {"group": "", "version": "v1", "resource": "pods"},
        "default", "p")
    assert review["object"]["metadata"]["name"] == "p" and review["oldObject"] is None
    assert review["userInfo"]["username"] and review["dryRun"] is False


async def test_a_burst_of_creates_shares_a_few_connections_to_the_webhook(cluster: Sandbox, hook: Hook) -> None:
    """As kube-apiserver's calls share its HTTP/2 connection: not one TLS handshake per pod."""
    await cluster.store.create("mutatingwebhookconfigurations", config("label", {"url": hook.url,
                                                                                 "caBundle": hook.ca_bundle}))
    hook.delay = 0.05  # the calls overlap
    created = await asyncio.gather(*(cluster.store.create("pods", pod(f"p{i}"), namespace="default")
                                     for i in range(3 * WEBHOOK_CONNECTIONS)))
    assert {obj["metadata"]["labels"]["mutated"] for obj in created} == {"yes"}
    assert 1 <= len(hook.callers) <= WEBHOOK_CONNECTIONS


async def test_a_gate_added_by_a_webhook_is_in_the_created_pods_condition(cluster: Sandbox, hook: Hook) -> None:
    """Mutating admission runs before the create strategy, which sets PodScheduled=SchedulingGated."""
    await cluster.store.create("mutatingwebhookconfigurations", config("gate", {
        "url": hook.url.replace("/mutate", "/gate"), "caBundle": hook.ca_bundle}))
    created = await cluster.store.create("pods", pod("p"), namespace="default")
    assert created["spec"]["schedulingGates"] == [{"name": "spillway.io/placement"}]
    assert [(c["type"], c["status"], c["reason"]) for c in created["status"]["conditions"]] == [
        ("PodScheduled", "False", "SchedulingGated")]


async def test_controller_created_pods_go_through_webhooks(cluster: Sandbox, hook: Hook) -> None:
    from tests.fixtures.eventually import eventually
    from tests.sandbox.test_cluster import deployment

    await cluster.store.create("mutatingwebhookconfigurations", config("label", {"url": hook.url,
                                                                                 "caBundle": hook.ca_bundle}))
    await cluster.store.create("deployments", deployment("hooked", 20, cpu="1m"), namespace="default")

    def hooked() -> list[dict[str, Any]] | None:
        pods = cluster.store.list("pods", "default", "app=hooked")[0]
        return pods if len(pods) == 20 else None

    pods = await eventually(hooked, what="20 hooked pods")
    assert {p["metadata"]["labels"]["mutated"] for p in pods} == {"yes"}


@needs_kubectl
async def test_kubectl_prints_the_warning(cluster: Sandbox, hook: Hook, tmp_path: Path) -> None:

    await cluster.store.create("mutatingwebhookconfigurations", config("label", {"url": hook.url,
                                                                                 "caBundle": hook.ca_bundle}))
    proc = await asyncio.create_subprocess_exec(
        KUBECTL or "kubectl", "--kubeconfig", str(cluster.kubeconfig_path), "--cache-dir", str(tmp_path / "cache"),
        "run", "web", "--image=nginx", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "Warning: spillway test: LOCAL_REPLICAS is not a number" in err.decode()
    assert cluster.store.get("pods", "default", "web")["metadata"]["labels"]["mutated"] == "yes"


@pytest.mark.parametrize(("policy", "created"), [("Ignore", True), ("Fail", False)])
async def test_webhook_down(cluster: Sandbox, hook: Hook, policy: str, created: bool) -> None:
    url = f"https://127.0.0.1:{free_port()}/mutate"
    await cluster.store.create("mutatingwebhookconfigurations", config("down", {"url": url,
                                                                                "caBundle": hook.ca_bundle},
                                                                       policy=policy))
    if created:
        obj = await cluster.store.create("pods", pod("p"), namespace="default")
        assert "mutated" not in (obj["metadata"].get("labels") or {})
        return
    with pytest.raises(ApiError) as info:
        await cluster.store.create("pods", pod("p"), namespace="default")
    assert info.value.code == 500
    assert info.value.message.startswith('Internal error occurred: failed calling webhook "down.spillway.io": '
                                         f'failed to call webhook: Post "{url}"')
    assert cluster.store.try_get("pods", "default", "p") is None


async def test_denial_and_untrusted_certificate(cluster: Sandbox, hook: Hook) -> None:
    await cluster.store.create("mutatingwebhookconfigurations", config(
        "deny", {"url": hook.url.replace("/mutate", "/deny"), "caBundle": hook.ca_bundle},
        objectSelector={"matchLabels": {"deny": "me"}}))
    await cluster.store.create("mutatingwebhookconfigurations", config(
        "untrusted", {"url": hook.url}, policy="Fail", objectSelector={"matchLabels": {"untrusted": "yes"}}))
    with pytest.raises(ApiError) as info:
        await cluster.store.create("pods", pod("p", labels={"deny": "me"}), namespace="default")
    assert (info.value.code, info.value.message) == (
        403, 'admission webhook "deny.spillway.io" denied the request: no pods named deny-me')
    with pytest.raises(ApiError) as info:
        await cluster.store.create("pods", pod("q", labels={"untrusted": "yes"}), namespace="default")
    assert "certificate verify failed" in info.value.message


SELECTOR_CASES = [
    ("namespace selector by metadata.name", {"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "team"}}}, "team", {}, True),
    ("namespace selector excludes default", {"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "team"}}}, "default", {}, False),
    ("namespace selector NotIn", {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["team"]}]}}, "team", {}, False),
    ("object selector matches", {"objectSelector": {"matchLabels": {"app": "x"}}}, "default", {"app": "x"}, True),
    ("object selector misses", {"objectSelector": {"matchLabels": {"app": "x"}}}, "default", {"app": "y"}, False),
    ("rule for other resources", {"rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                             "resources": ["configmaps"]}]}, "default", {}, False),
    ("rule for UPDATE only", {"rules": [{"operations": ["UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                         "resources": ["pods"]}]}, "default", {}, False),
    ("wildcard rule", {"rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"],
                                  "resources": ["*"], "scope": "Namespaced"}]}, "default", {}, True),
    ("cluster scope rule", {"rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"],
                                       "resources": ["*"], "scope": "Cluster"}]}, "default", {}, False),
    ("status subresource only", {"rules": [{"operations": ["*"], "apiGroups": [""], "apiVersions": ["v1"],
                                            "resources": ["pods/status"]}]}, "default", {}, False),
]


@pytest.mark.parametrize(("extra", "namespace", "labels", "mutated"), [c[1:] for c in SELECTOR_CASES],
                         ids=[c[0] for c in SELECTOR_CASES])
async def test_selectors_and_rules(sandbox: Sandbox, hook: Hook, extra: dict[str, Any], namespace: str,
                                   labels: dict[str, str], mutated: bool) -> None:
    from spillway.sandbox.webhooks import WebhookDispatcher

    dispatcher = WebhookDispatcher(sandbox.store)
    sandbox.store.admission_hooks.append(dispatcher)
    try:
        await sandbox.store.create("namespaces", {"metadata": {"name": "team"}})
        await sandbox.store.create("mutatingwebhookconfigurations", config(
            "sel", {"url": hook.url, "caBundle": hook.ca_bundle}, **extra))
        created = await sandbox.store.create("pods", pod("p", labels=labels), namespace=namespace)
    finally:
        await dispatcher.close()
    assert (created["metadata"]["labels"].get("mutated") == "yes") is mutated


async def test_service_reference_resolved_through_annotation(cluster: Sandbox, hook: Hook) -> None:
    await cluster.store.create("services", {"metadata": {"name": "hook", "annotations": {
        "sandbox.spillway.io/webhook-address": f"127.0.0.1:{hook.port}"}}, "spec": {"ports": [{"port": 443}]}},
        namespace="default")
    await cluster.store.create("mutatingwebhookconfigurations", config("svc", {
        "service": {"namespace": "default", "name": "hook", "path": "/mutate"}, "caBundle": hook.ca_bundle}))
    created = await cluster.store.create("pods", pod("p"), namespace="default")
    assert created["metadata"]["labels"] == {"mutated": "yes"}
