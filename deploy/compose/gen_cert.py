"""Write a self-signed serving certificate for the admission webhook of the compose stack.

Compose has no cert-manager; this one-shot (run from the Spillway image, which ships
`cryptography`) fills the shared volume with tls.crt/tls.key once, and keeps them on reruns.
Real clusters use cert-manager or k8s/scripts/webhook-cert.sh instead (docs/install.md).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from spillway.runtime import tls as runtime_tls


def self_signed(names: list[str], days: int) -> tuple[bytes, bytes]:
    """A P-256 key and a certificate valid for `names` (DNS names or IP addresses)."""
    return runtime_tls.self_signed(names[0], names, days)


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
