"""pods/log is proxied to the node's kubelet endpoint over HTTPS with the sandbox's client cert."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes_asyncio import client

from spillway.sandbox import Sandbox
from tests.sandbox.helpers import node, pod


def _serving_context(sb: Sandbox, tmp_path: Path) -> ssl.SSLContext:
    """A kubelet-like TLS server: its own self-signed cert, client certs verified by the sandbox CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubelet")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256()))
    (tmp_path / "kubelet.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "kubelet.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(sb.pki.ca_path))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(tmp_path / "kubelet.crt"), str(tmp_path / "kubelet.key"))
    return ctx


@pytest.fixture
async def kubelet(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[tuple[int, list[str]]]:
    seen: list[str] = []

    async def logs(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        subject = dict(x[0] for x in (peer or {}).get("subject", ()))
        seen.append(f"{request.path}?{request.query_string} cn={subject.get('commonName')}")
        return web.Response(text="line 1\nline 2\n")

    app = web.Application()
    app.router.add_get("/containerLogs/{ns}/{pod}/{container}", logs)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=_serving_context(sandbox, tmp_path))
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield port, seen
    finally:
        await runner.cleanup()


async def test_logs_are_proxied_with_the_client_certificate(sandbox: Sandbox, kube_api: client.ApiClient,
                                                            kubelet: tuple[int, list[str]]) -> None:
    port, seen = kubelet
    await sandbox.store.create("nodes", node("eklet-subnet-1", kubelet_port=port))
    await sandbox.store.create("pods", pod("p", node="eklet-subnet-1"), namespace="default")
    text = await client.CoreV1Api(kube_api).read_namespaced_pod_log("p", "default", tail_lines=5, timestamps=True)
    assert text == "line 1\nline 2\n"
    assert seen == ["/containerLogs/default/p/app?tailLines=5&timestamps=True cn=kube-apiserver-kubelet-client"]
