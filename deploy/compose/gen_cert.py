"""Write a self-signed serving certificate for the admission webhook of the compose stack.

Compose has no cert-manager; this one-shot (run from the Spillway image, which ships
`cryptography`) fills the shared volume with tls.crt/tls.key once, and keeps them on reruns.
Real clusters use cert-manager or k8s/scripts/webhook-cert.sh instead (docs/install.md).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import pathlib
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(names: list[str], days: int) -> tuple[bytes, bytes]:
    """A P-256 key and a certificate valid for `names` (DNS names or IP addresses)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, required=True, help="directory for tls.crt and tls.key")
    parser.add_argument("--name", action="append", required=True, help="DNS name or IP (repeatable)")
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    crt, key = args.out / "tls.crt", args.out / "tls.key"
    if crt.exists() and key.exists():
        print(f"keeping existing {crt}")
        return 0
    cert_pem, key_pem = self_signed(args.name, args.days)
    args.out.mkdir(parents=True, exist_ok=True)
    key.write_bytes(key_pem)
    key.chmod(0o600)
    crt.write_bytes(cert_pem)
    print(f"wrote {crt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
