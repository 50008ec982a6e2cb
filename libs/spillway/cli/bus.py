"""`spillway bus setup|authorization|credentials`: the admin's side of the bus.

- `setup` connects as the admin user and creates or updates the streams and KV buckets (the
  services may not: each runs on its own least-privilege user and waits for them);
- `authorization` prints the nats-server `authorization` block of `spillway.bus.permissions`,
  each password a `$SPILLWAY_NATS_PASSWORD_<USER>` variable the server reads from its environment;
- `credentials` prints the Secret `spillway-nats-credentials` with a new random password for every
  bus user (`spillway bus credentials | kubectl apply -f -`; the passwords go nowhere else).

Credentials of every bus tool (`setup`, `events`, `explain`): `--user` (env SPILLWAY_NATS_USER) and
the password from env SPILLWAY_NATS_PASSWORD only, never the command line (ps would show it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys

import nats.errors

from spillway.bus import Bus
from spillway.bus.permissions import ADMIN, USERS, password_variable, render_authorization
from spillway.config.secret import Secret

DEFAULT_URL = "nats://127.0.0.1:4222"
CREDENTIALS_SECRET = "spillway-nats-credentials"


def add_connection_args(parser: argparse.ArgumentParser, default_user: str = "") -> None:
    """`--nats URL` and `--user NAME`, with their environment defaults."""
    parser.add_argument("--nats", metavar="URL", default=os.environ.get("NATS_URL", DEFAULT_URL),
                        help=f"NATS URL (env NATS_URL; default {DEFAULT_URL})")
    parser.add_argument("--user", metavar="NAME", default=os.environ.get("SPILLWAY_NATS_USER", default_user),
                        help="bus user (env SPILLWAY_NATS_USER); its password comes from env SPILLWAY_NATS_PASSWORD")
    parser.add_argument("--nats-ca", metavar="FILE", default=os.environ.get("SPILLWAY_NATS_CA_FILE", ""),
                        help="CA of the server's TLS certificate (env SPILLWAY_NATS_CA_FILE): connect over TLS")


def password_from_env() -> Secret | None:
    value = os.environ.get("SPILLWAY_NATS_PASSWORD", "")
    return Secret(value) if value else None


async def setup(url: str, user: str, password: Secret | None, ca_file: str = "") -> None:
    bus = await Bus.connect(url, service="setup", user=user, password=password, max_reconnect_attempts=3,
                            ca_file=ca_file)
    try:
        if not bus.sets_up:
            raise PermissionError(f"bus user {user!r} may not create streams; use {ADMIN!r}")
        await bus.ensure()
    finally:
        await bus.close(drain=False)


def credentials_secret(namespace: str) -> str:
    """The Secret the k8s manifests read every bus user's password from, with new random passwords."""
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {CREDENTIALS_SECRET}",
             f"  namespace: {namespace}", "  labels: {app.kubernetes.io/part-of: spillway, "
             "app.kubernetes.io/component: nats}", "type: Opaque", "stringData:"]
    lines += [f"  {u.name}: {json.dumps(secrets.token_urlsafe(32))}" for u in USERS]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="spillway bus", description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="action", required=True)
    setup_parser = sub.add_parser("setup", help="create or update the streams and KV buckets (as the admin)")
    add_connection_args(setup_parser, default_user=ADMIN)
    sub.add_parser("authorization", help="print the nats-server authorization block")
    credentials_parser = sub.add_parser("credentials", help="print a Secret with a new password for every bus user")
    credentials_parser.add_argument("--namespace", default="spillway", help="the Secret's namespace (default spillway)")
    args = parser.parse_args(argv)
    if args.action == "authorization":
        print(render_authorization({u.name: "$" + password_variable(u.name) for u in USERS}), end="")
        return 0
    if args.action == "credentials":
        print(credentials_secret(args.namespace), end="")
        return 0
    try:
        asyncio.run(asyncio.wait_for(setup(args.nats, args.user, password_from_env(), args.nats_ca), 60))
    except (OSError, TimeoutError, PermissionError, nats.errors.Error) as exc:
        print(f"spillway bus setup: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"bus set up on {args.nats}")
    return 0
