"""The `spillway` command: one entry point, one subcommand per docs/design.md §8 line.

Each subcommand lives in its own module exposing `main(argv: list[str]) -> int` with its own
argparse parser (so `spillway X --help` is that module's help). Modules are imported only when
their subcommand runs, so `spillway --help` stays fast and one broken tool cannot break the rest.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Subcommand:
    name: str
    module: str
    summary: str


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("demo", "spillway.cli.demo", "the original's example end to end on this machine, then exit"),
    Subcommand("up", "spillway.cli.up", "the whole local stack (NATS, sandbox, emulator, services) until Ctrl-C"),
    Subcommand("sandbox", "spillway.sandbox.cli", "serve a Kubernetes API sandbox from memory"),
    Subcommand("cloud-emulator", "spillway.emulator.cli", "serve a TKE Serverless (API 3.0) emulator"),
    Subcommand("run", "spillway.cli.run", "run one service: watcher, placement, cloud-provisioner, ..."),
    Subcommand("explain", "spillway.cli.explain", "explain the placement decision of NAMESPACE/POD"),
    Subcommand("events", "spillway.cli.events", "tail the bus in readable form"),
    Subcommand("status", "spillway.cli.status", "super nodes, workloads, zones, failures and cost on one screen"),
    Subcommand("bench", "spillway.cli.bench", "run benchmark scenarios and print figures"),
    Subcommand("bus", "spillway.cli.bus", "the admin's side of the bus: set up the streams, print the users"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spillway",
        description="Burst an on-premises Kubernetes cluster into TKE Serverless container instances.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `spillway COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in SUBCOMMANDS:
        sub.add_parser(cmd.name, help=cmd.summary, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not args or args[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if args else 2
    if args[0] == "--version":
        from spillway import __version__

        print(f"spillway {__version__}")
        return 0
    by_name = {cmd.name: cmd for cmd in SUBCOMMANDS}
    cmd = by_name.get(args[0])
    if cmd is None:
        parser.print_usage(sys.stderr)
        print(f"spillway: unknown command {args[0]!r} (choose from {', '.join(by_name)})", file=sys.stderr)
        return 2
    module = importlib.import_module(cmd.module)
    code: int = module.main(args[1:])
    return code

