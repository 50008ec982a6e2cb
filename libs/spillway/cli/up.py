"""`spillway up`: the whole local stack (NATS, sandbox, emulator, every service) until Ctrl-C.

Prints `kubeconfig: PATH`, `nats: URL`, `nats user: reader ...`, `otlp: URL` and then `ready`;
writes `DIR/env` so `source .spillway/env` points kubectl and `spillway explain/events` at it,
as the bus's read-only user (its password is in that file, readable by its owner only). Ctrl-C or SIGTERM
stops every child process.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from spillway.bus.permissions import READER
from spillway.cli.stack import LocalStack, StackError, StackOptions


async def serve(options: StackOptions) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def progress(message: str) -> None:
        print(f"... {message}", file=sys.stderr, flush=True)

    stack = LocalStack(options, progress=progress)
    try:
        await stack.start()
    except StackError as exc:
        await stack.stop()
        print(f"spillway up: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"kubeconfig: {stack.kubeconfig}", flush=True)
        print(f"nats: {stack.nats_address}", flush=True)
        print(f"nats user: {READER} (read-only; its password is in {stack.env_path})", flush=True)
        print(f"otlp: {stack.otlp_endpoint or 'none (set OTEL_EXPORTER_OTLP_ENDPOINT to export traces)'}", flush=True)
        print(f"env: source {stack.env_path}", flush=True)
        print("ready", flush=True)
        await stop.wait()
    finally:
        progress("stopping every process")
        await stack.stop()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="spillway up", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--state-dir", type=Path, default=Path(".spillway"), help="state, logs, kubeconfig, env")
    parser.add_argument("--nodes", type=int, default=1, help="local nodes in the sandbox")
    parser.add_argument("--node-cpu", default="2", help="cpu of each local node")
    parser.add_argument("--node-memory", default="4Gi", help="memory of each local node")
    parser.add_argument("--start-delay", type=float, default=1.0, help="seconds an instance stays Pending")
    args = parser.parse_args(argv)
    options = StackOptions(state_dir=args.state_dir, nodes=args.nodes, node_cpu=args.node_cpu,
                           node_memory=args.node_memory, start_delay=args.start_delay)
    return asyncio.run(serve(options))
