"""TLS for the kubelet log endpoint: serve with a certificate, accept only the API server.

Like a kubelet started with `--client-ca-file`: the client must present a certificate signed by
the cluster CA (the API server's kubelet-client certificate). The serving certificate comes from
`nodeStatus.certFile/keyFile`; without one a self-signed certificate for the node address is
generated at startup — the API server does not verify kubelet serving certificates unless told
to (`--kubelet-certificate-authority`), and neither does the sandbox.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from spillway.runtime import tls as runtime_tls


def self_signed(directory: Path, hosts: list[str]) -> tuple[Path, Path]:
    """Write a self-signed serving certificate for `hosts` (IPs or DNS names); returns (cert, key) paths."""
    cert_pem, key_pem = runtime_tls.self_signed("spillway-node-status", hosts)
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "node-status.crt", directory / "node-status.key"
    cert_path.write_bytes(cert_pem)
    key_path.touch(mode=0o600)
    key_path.write_bytes(key_pem)
    return cert_path, key_path


def server_context(cert_file: Path, key_file: Path, client_ca_file: Path) -> ssl.SSLContext:
    """Serve with the certificate; require a client certificate signed by `client_ca_file`."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(client_ca_file))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx
