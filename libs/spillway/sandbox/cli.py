"""`spillway sandbox`: serve the Kubernetes API sandbox until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from spillway.sandbox.server import Sandbox, SandboxOptions


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spillway sandbox", description="Serve an in-memory Kubernetes API server "
                                "that kubectl and kubernetes_asyncio take for a real one.")
    p.add_argument("--port", type=int, default=6443, help="TCP port (0 picks a free one and prints it)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--kubeconfig", type=Path, required=True, help="where to write the kubeconfig for this server")
    p.add_argument("--data-dir", type=Path, help="keep state here across restarts")
    p.add_argument("--watch-history", type=int, default=10_000,
                   help="watch events kept per resource for resume; older resourceVersions get 410 Expired")
    p.add_argument("--rbac", action="store_true",
                   help="authorise requests with RBAC (implies --tls; the kubeconfig is admin)")
    p.add_argument("--tls", action=argparse.BooleanOptionalAction, default=None,
                   help="serve HTTPS with a sandbox CA (default: on with --rbac, since kubectl sends tokens "
                        "only over HTTPS)")
    p.add_argument("--tokens-dir", type=Path, help="write service-account tokens (<ns>.<sa>.token) here")
    p.add_argument("--bookmark-interval", type=float, default=5.0, help="seconds between watch BOOKMARK events")
    return p


def options_from(args: argparse.Namespace) -> SandboxOptions:
    return SandboxOptions(host=args.host, port=args.port, kubeconfig=args.kubeconfig, data_dir=args.data_dir,
                          watch_history=args.watch_history, rbac=args.rbac, tls=args.tls, tokens_dir=args.tokens_dir,
                          bookmark_interval=args.bookmark_interval)


async def serve(options: SandboxOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Sandbox(options) as sb:
        print(f"sandbox: serving on {sb.url}, kubeconfig {sb.kubeconfig_path}", flush=True)
        await stop.wait()
        print("sandbox: stopping", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(serve(options_from(args)))
    except OSError as exc:
        print(f"spillway sandbox: {exc}", file=sys.stderr)
        return 1
    return 0
