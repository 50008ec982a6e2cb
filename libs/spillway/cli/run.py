"""`spillway run <service> --config FILE`: run one service until SIGTERM.

Exit status 2 with one line on stderr for a missing or invalid config (no traceback): the line
names the file and the key. Service names use dashes on the command line (cloud-provisioner →
`services.cloud_provisioner.main`), whose module attribute `service` is a `spillway.runtime.Service`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from spillway.config import ConfigError, load_config
from spillway.runtime import Service, run_service

SERVICES = ("watcher", "placement", "cloud-provisioner", "node-status", "admission")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spillway run", description="Run one Spillway service until SIGTERM.")
    parser.add_argument("service", choices=SERVICES, help="which service to run")
    parser.add_argument("--config", required=True, metavar="FILE", help="YAML configuration (the chart's keys)")
    parser.add_argument("--nats", metavar="URL", help="NATS URL (default: nats.url from the config, or $NATS_URL)")
    parser.add_argument("--health-port", type=int, metavar="P",
                        help="port for /healthz, /readyz, /metrics (default: telemetry.healthPort)")
    parser.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                        help="how long in-flight handlers may finish after SIGTERM (default 10)")
    return parser


def load_service(name: str) -> Service:
    module = importlib.import_module(f"services.{name.replace('-', '_')}.main")
    service = getattr(module, "service", None)
    if not isinstance(service, Service):
        raise TypeError(f"services.{name.replace('-', '_')}.main has no `service = Service(...)`")
    return service


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"spillway run: {exc}", file=sys.stderr)
        return 2
    service = load_service(args.service)
    try:
        return run_service(service, config, nats_url=args.nats or os.environ.get("NATS_URL"),
                           health_port=args.health_port, grace=args.grace)
    except ConfigError as exc:  # a service's setup may `require()` keys
        print(f"spillway run: {exc}", file=sys.stderr)
        return 2
