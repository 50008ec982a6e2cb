"""The admission webhook over HTTPS: gate or not per table, warnings, the switch from the bus, TLS,
and registration in the sandbox."""

from __future__ import annotations

import base64
import io
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from services.admission.main import AdmissionState, build_service
from services.admission.registration import register_webhook, webhook_configuration
from services.admission.tls import ensure_certificate
from services.admission.webhook import respond
from spillway.bus import Bus
from spillway.kube import KubeClient
from spillway.kube.client import object_path
from spillway.model import messages as m
from spillway.policy import PolicyOptions
from tests.fixtures.eventually import eventually
from tests.services.conftest import ServiceEnv, pod_body, run_service

GATE_PATCH = [{"op": "add", "path": "/spec/schedulingGates", "value": [{"name": "spillway.io/placement"}]}]


def review(pod: dict[str, Any], *, namespace: str = "default", operation: str = "CREATE", kind: str = "Pod",
           uid: str = "req-1") -> bytes:
    return msgspec.json.encode({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": kind},
                    "resource": {"group": "", "version": "v1", "resource": "pods"},
                    "namespace": namespace, "operation": operation, "object": pod},
    })


def ca_of(state: AdmissionState) -> bytes:
    """The running webhook's CA bundle (its certificate is made or loaded at startup)."""
    assert state.cert is not None, "admission has not started"
    return state.cert.ca_bundle


def decoded(body: bytes) -> dict[str, Any]:
    response: dict[str, Any] = msgspec.json.decode(body)["response"]
    if "patch" in response:
        response["patch"] = msgspec.json.decode(base64.b64decode(response["patch"]))
    return response


CASES = [
    # (id, global switch, annotations, namespace, extra, gated, warnings contain)
    ("local-replicas-set", None, {"LOCAL_REPLICAS": "2"}, "default", {}, True, ""),
    ("no-local-replicas", None, {}, "default", {}, False, ""),
    ("global-off", "false", {"LOCAL_REPLICAS": "2"}, "default", {}, False, ""),
    ("global-off-workload-on", "false", {"LOCAL_REPLICAS": "2", "AUTO_SCALE_EKS": "true"}, "default", {}, True, ""),
    ("global-on-workload-off", "true", {"LOCAL_REPLICAS": "0", "AUTO_SCALE_EKS": "false"}, "default", {}, True, ""),
    ("excluded-namespace", None, {"LOCAL_REPLICAS": "2"}, "kube-system", {}, False, ""),
    ("already-bound", None, {"LOCAL_REPLICAS": "2"}, "default", {"nodeName": "n1"}, False, ""),
    ("daemonset", None, {"LOCAL_REPLICAS": "2"}, "default", {"owner": ("DaemonSet", "agent")}, False, ""),
    ("malformed-local-replicas", None, {"LOCAL_REPLICAS": "two"}, "default", {}, True, "LOCAL_REPLICAS"),
    ("malformed-switch", None, {"LOCAL_REPLICAS": "1", "AUTO_SCALE_EKS": "yes"}, "default", {}, True,
     "AUTO_SCALE_EKS"),
    ("malformed-cpu", None, {"eks.tke.cloud.tencent.com/cpu": "lots"}, "default", {}, False, "cpu"),
]


@pytest.mark.parametrize(("global_switch", "annotations", "namespace", "extra", "gated", "warning"),
                         [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_review_table(global_switch: str | None, annotations: dict[str, str], namespace: str,
                      extra: dict[str, Any], gated: bool, warning: str) -> None:
    owner = extra.get("owner")
    spec = {k: v for k, v in extra.items() if k != "owner"}
    pod = pod_body("p", namespace, annotations=annotations, owner=owner, **spec)
    del pod["metadata"]["namespace"]  # controllers' pods often have none yet: the request's is used
    status, body = respond(review(pod, namespace=namespace), global_switch, PolicyOptions())
    response = decoded(body)
    assert status == 200 and response["uid"] == "req-1" and response["allowed"] is True
    assert response.get("patch") == (GATE_PATCH if gated else None)
    assert ("patchType" in response) is gated
    if warning:
        assert any(warning in w for w in response["warnings"])
    else:
        assert "warnings" not in response


@pytest.mark.parametrize(("body", "status"), [
    pytest.param(review(pod_body("p", annotations={"LOCAL_REPLICAS": "1"}), operation="UPDATE"), 200, id="update"),
    pytest.param(review({"metadata": {"name": "cm"}}, kind="ConfigMap"), 200, id="not-a-pod"),
    pytest.param(b"{", 400, id="not-json"),
])
def test_never_patches_what_it_should_not_touch(body: bytes, status: int) -> None:
    got_status, got = respond(body, None, PolicyOptions())
    assert got_status == status
    if status == 200:
        assert decoded(got) == {"uid": "req-1", "allowed": True}


def client_context(ca: bytes) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca.decode())
    return ctx


async def post(port: int, body: bytes, ca: bytes, host: str = "127.0.0.1") -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.post(
        f"https://{host}:{port}/mutate", data=io.BytesIO(body), ssl=client_context(ca),
        headers={"Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 200
        return decoded(await resp.read())


async def test_webhook_over_tls_follows_the_switch_from_the_bus(nats_server: str, bus: Bus, tmp_path: Path) -> None:
    async with run_service(build_service, nats_url=nats_server, tmp_path=tmp_path) as svc:
        state = svc.service.state
        ca = ca_of(state)
        pod = pod_body("p", annotations={"LOCAL_REPLICAS": "1"})
        assert (await post(state.port, review(pod), ca))["patch"] == GATE_PATCH
        assert (await post(state.port, review(pod), ca, host="localhost"))["patch"] == GATE_PATCH
        config = m.ConfigEvent(data={"AUTO_SCALE_EKS": "false"}, resource_version="5")
        await (await bus.kv(m.KV_CONFIG)).put(m.CONFIG_KEY_EKS, m.encode(config))
        await eventually(lambda: state.global_switch == "false", what="switch followed from the bus")
        assert "patch" not in await post(state.port, review(pod), ca)
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await post(state.port, review(pod), ensure_certificate(tmp_path / "o.crt", tmp_path / "o.key").ca_bundle)


async def test_certificate_from_files_is_used(nats_server: str, tmp_path: Path) -> None:
    cert = ensure_certificate(tmp_path / "tls" / "tls.crt", tmp_path / "tls" / "tls.key")
    config = {"admission": {"tls": {"certFile": str(cert.cert_file), "keyFile": str(cert.key_file)}}}
    async with run_service(build_service, nats_url=nats_server, tmp_path=tmp_path, config=config) as svc:
        state = svc.service.state
        assert ca_of(state) == cert.ca_bundle
        response = await post(state.port, review(pod_body("p")), cert.ca_bundle)
        assert response == {"uid": "req-1", "allowed": True}


async def test_register_webhook_in_the_sandbox(services_env: ServiceEnv) -> None:
    cert = ensure_certificate(services_env.tmp_path / "c.crt", services_env.tmp_path / "c.key")
    async with await KubeClient.connect(str(services_env.kubeconfig)) as client:
        await register_webhook(client, "https://127.0.0.1:1/mutate", cert.ca_bundle)
        await register_webhook(client, "https://127.0.0.1:2/mutate", cert.ca_bundle)  # replaces
        got = await client.get_as(object_path("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations",
                                              "spillway-admission"), dict[str, Any])
    hook = got["webhooks"][0]
    assert hook["clientConfig"]["url"] == "https://127.0.0.1:2/mutate"
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == cert.ca_bundle
    assert hook["failurePolicy"] == "Ignore"
    assert "kube-system" in hook["namespaceSelector"]["matchExpressions"][0]["values"]
    assert webhook_configuration("u", b"x")["webhooks"][0]["rules"][0]["operations"] == ["CREATE"]


# ---- one bad pod is still answered 200, allowed, with the gate when the policy says so ----------

NUMERIC_CPU = [{"name": "app", "image": "nginx", "resources": {"requests": {"cpu": 1}, "limits": {"cpu": 0.5}}}]


@pytest.mark.parametrize(("pod", "patch"), [
    pytest.param(pod_body("p", annotations={"LOCAL_REPLICAS": "1"}, containers=NUMERIC_CPU), GATE_PATCH,
                 id="numeric-quantity-gated"),
    pytest.param(pod_body("p", annotations={"LOCAL_REPLICAS": "1"}, containers=NUMERIC_CPU, gates=["other"]),
                 [{"op": "add", "path": "/spec/schedulingGates/-", "value": {"name": "spillway.io/placement"}}],
                 id="appended-after-a-foreign-gate"),
    pytest.param({**pod_body("p", annotations={"LOCAL_REPLICAS": "1"}, containers=NUMERIC_CPU),
                  "spec": {"containers": NUMERIC_CPU, "schedulingGates": [{"name": 5}]}},
                 [{"op": "add", "path": "/spec/schedulingGates/-", "value": {"name": "spillway.io/placement"}}],
                 id="an-unreadable-gate-is-kept"),
    pytest.param(pod_body("p", annotations={"LOCAL_REPLICAS": "1"}, containers=NUMERIC_CPU,
                          gates=["spillway.io/placement"]), None, id="already-gated"),
    pytest.param(pod_body("p", containers=NUMERIC_CPU), None, id="no-local-replicas-not-gated"),
    pytest.param(pod_body("p", annotations={"LOCAL_REPLICAS": "1"}, containers=NUMERIC_CPU, nodeName="n1"), None,
                 id="bound-not-gated"),
    pytest.param({"metadata": {"name": "p", "annotations": {"LOCAL_REPLICAS": "1", "bad": 3}},
                  "spec": {"containers": "nope"}}, GATE_PATCH, id="annotations-partly-readable"),
])
def test_an_undecodable_pod_is_reviewed_on_its_metadata(pod: dict[str, Any], patch: Any) -> None:
    status, body = respond(review(pod), None, PolicyOptions())
    response = decoded(body)
    assert status == 200 and response["allowed"] is True and response["uid"] == "req-1"
    assert response.get("patch") == patch
    assert any("could not be read" in w for w in response["warnings"])
    assert all(len(w) <= 250 for w in response["warnings"])


def test_an_object_that_is_not_an_object_is_admitted_and_said() -> None:
    status, body = respond(review([1, 2, 3]), None, PolicyOptions())  # type: ignore[arg-type]  # deliberately a list
    response = decoded(body)
    assert status == 200 and response["allowed"] is True and "patch" not in response
    assert any("without Spillway's placement gate" in w for w in response["warnings"])


def test_a_policy_failure_still_gates_the_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the policy raises (an overflow on a hostile annotation…), the pod keeps its gate:
    a 500 would admit it without one (failurePolicy Ignore)."""
    import services.admission.webhook as webhook

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OverflowError("integer string conversion")

    monkeypatch.setattr(webhook, "review", broken)
    status, body = respond(review(pod_body("p", annotations={"LOCAL_REPLICAS": "1"})), None, PolicyOptions())
    response = decoded(body)
    assert status == 200 and response["allowed"] is True
    assert response["patch"] == GATE_PATCH
    assert any("OverflowError" in w for w in response["warnings"])


async def test_a_review_as_big_as_kube_apiserver_sends_is_answered(nats_server: str, tmp_path: Path) -> None:
    """object and oldObject of ~1.5 MiB each: aiohttp's default 1 MiB limit answered 413, and with
    failurePolicy Ignore the pod went in without the gate."""
    args = ["x" * 1000] * 1500
    pod = pod_body("big", annotations={"LOCAL_REPLICAS": "1"},
                   containers=[{"name": "app", "image": "nginx", "args": args}])
    body = msgspec.json.decode(review(pod))
    body["request"]["oldObject"] = pod
    raw = msgspec.json.encode(body)
    assert len(raw) > 2.8 * 2**20  # over twice what aiohttp took by default
    async with run_service(build_service, nats_url=nats_server, tmp_path=tmp_path) as svc:
        state = svc.service.state
        response = await post(state.port, raw, ca_of(state))
        assert response["patch"] == GATE_PATCH
