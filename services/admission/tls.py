"""The webhook's TLS: a certificate from files (production: mounted from a Secret), or a
self-signed one generated for the sandbox and development.

Why self-signed is enough there: the API server trusts exactly the `caBundle` of the webhook
registration, and `register_webhook` passes this certificate as that bundle.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from spillway.runtime import tls as runtime_tls

log = logging.getLogger("spillway.admission")
SERVICE_DNS_NAMES = ("spillway-admission", "spillway-admission.spillway", "spillway-admission.spillway.svc",
                     "spillway-admission.spillway.svc.cluster.local")
DEFAULT_HOSTS = ("127.0.0.1", "localhost", *SERVICE_DNS_NAMES)


@dataclass(frozen=True)
class ServingCert:
    cert_file: Path
    key_file: Path

    @property
    def ca_bundle(self) -> bytes:
        """PEM the API server should trust (the self-signed certificate itself, or the file's chain)."""
        return self.cert_file.read_bytes()

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx


def self_signed(hosts: tuple[str, ...] = DEFAULT_HOSTS, days: int = 365) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) of the webhook, valid for `hosts` (IPs and DNS names)."""
    return runtime_tls.self_signed("spillway-admission", hosts, days)


def ensure_certificate(cert_file: Path, key_file: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> ServingCert:
    """Use the files when both exist; otherwise generate a self-signed pair there (dev/sandbox:
    `spillway up` picks the paths, starts admission, and registers the certificate as caBundle)."""
    if not (cert_file.exists() and key_file.exists()):
        cert, key = self_signed(hosts)
        cert_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.touch(mode=0o600)
        key_file.write_bytes(key)
        cert_file.write_bytes(cert)
        log.info("generated a self-signed webhook certificate", extra={"cert_file": str(cert_file)})
    return ServingCert(cert_file, key_file)
