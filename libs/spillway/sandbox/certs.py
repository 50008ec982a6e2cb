"""The sandbox CA and the API server's kubelet-client certificate.

The API itself is served over HTTPS with a certificate from this CA when TLS is on (client-go,
hence kubectl, never sends a bearer token over plain HTTP, so RBAC needs TLS). A real API
server calls the kubelet over HTTPS with a client certificate the kubelet verifies
against the cluster CA. Node-status serves `kubectl logs` for cloud pods that way, so the
sandbox makes a CA and a client certificate (CN kube-apiserver-kubelet-client, O
system:masters) and exposes their PEM paths; node-status trusts `ca_path`.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class SandboxPki:
    ca_path: Path
    ca_key_path: Path
    client_cert_path: Path
    client_key_path: Path
    serving_cert_path: Path
    serving_key_path: Path


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def ensure_pki(directory: Path, extra_hosts: tuple[str, ...] = ()) -> SandboxPki:
    """Create (or reuse) the CA, the kubelet-client certificate and the API serving certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = SandboxPki(directory / "ca.crt", directory / "ca.key", directory / "apiserver-kubelet-client.crt",
                     directory / "apiserver-kubelet-client.key", directory / "apiserver.crt",
                     directory / "apiserver.key")
    if all(p.exists() for p in (pki.ca_path, pki.ca_key_path, pki.client_cert_path, pki.client_key_path,
                                pki.serving_cert_path, pki.serving_key_path)):
        return pki
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("spillway-sandbox-ca")
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = (
        x509.CertificateBuilder().subject_name(_name("kube-apiserver-kubelet-client", "system:masters"))
        .issuer_name(ca_name).public_key(client_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    serving_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName("kubernetes"),
                                     x509.DNSName("kubernetes.default.svc"),
                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                     x509.IPAddress(ipaddress.ip_address("::1"))]
    for host in extra_hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    serving = (
        x509.CertificateBuilder().subject_name(_name("kube-apiserver")).issuer_name(ca_name)
        .public_key(serving_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki.serving_cert_path.write_bytes(serving.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.serving_key_path, serving_key)
    pki.ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.ca_key_path, ca_key)
    pki.client_cert_path.write_bytes(client.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.client_key_path, client_key)
    return pki
