"""`spillway sandbox`: serve the Kubernetes API sandbox until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from pathlib import Path

from spillway.sandbox import topology
from spillway.sandbox.scheduler import DEFAULT_SCHEDULER_NAMES
from spillway.sandbox.server import Sandbox, SandboxOptions
from spillway.sandbox.topology import LocalNode


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
    cluster = p.add_argument_group("cluster behaviour", "the loops a real cluster runs around its API server")
    cluster.add_argument("--nodes", type=int, default=1, help="local nodes node-1..node-N (default 1)")
    cluster.add_argument("--node-cpu", default="2", help="cpu of each local node (default 2)")
    cluster.add_argument("--node-memory", default="4Gi", help="memory of each local node (default 4Gi)")
    cluster.add_argument("--node-pods", type=int, default=110, help="pod capacity of each local node (default 110)")
    cluster.add_argument("--topology", type=Path,
                         help="YAML list of nodes {name, cpu, memory, pods, labels, taints} (overrides --nodes)")
    cluster.add_argument("--no-controllers", action="store_true",
                         help="no Deployment/ReplicaSet/StatefulSet/Job/DaemonSet controllers")
    cluster.add_argument("--no-scheduler", action="store_true", help="no default-scheduler simulation")
    cluster.add_argument("--scheduler-names", default=",".join(DEFAULT_SCHEDULER_NAMES),
                         help="schedulerName values the simulation serves (comma-separated)")
    cluster.add_argument("--no-kubelet", action="store_true", help="no fake kubelet for the local nodes")
    cluster.add_argument("--kubelet-delay", type=float, default=0.5,
                         help="seconds before a pod bound to a local node runs, or a deletion finishes")
    cluster.add_argument("--kubelet-job-duration", type=float, default=1.0,
                         help="seconds a Job pod runs before it succeeds")
    cluster.add_argument("--lease-interval", type=float, default=10.0, help="seconds between node lease renewals")
    cluster.add_argument("--no-webhooks", action="store_true", help="do not call mutating admission webhooks")
    return p


def nodes_from(args: argparse.Namespace) -> list[LocalNode]:
    if args.topology:
        return topology.load(args.topology)
    return topology.uniform(args.nodes, args.node_cpu, args.node_memory, args.node_pods)


def options_from(args: argparse.Namespace) -> SandboxOptions:
    return SandboxOptions(host=args.host, port=args.port, kubeconfig=args.kubeconfig, data_dir=args.data_dir,
                          watch_history=args.watch_history, rbac=args.rbac, tls=args.tls, tokens_dir=args.tokens_dir,
                          bookmark_interval=args.bookmark_interval, nodes=nodes_from(args),
                          workload_controllers=not args.no_controllers, scheduler=not args.no_scheduler,
                          scheduler_names=tuple(n.strip() for n in args.scheduler_names.split(",") if n.strip()),
                          kubelet=not args.no_kubelet, kubelet_delay=args.kubelet_delay,
                          kubelet_job_duration=args.kubelet_job_duration, kubelet_lease_interval=args.lease_interval,
                          webhooks=not args.no_webhooks)


async def serve(options: SandboxOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Sandbox(options) as sb:
        gc.freeze()  # imports and start-up state live forever: keep them out of full collections
        gc.set_threshold(10_000, 20, 1_000)  # the store is acyclic and long-lived: full scans free nothing
        print(f"sandbox: serving on {sb.url}, kubeconfig {sb.kubeconfig_path}", flush=True)
        await stop.wait()
        print("sandbox: stopping", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(serve(options_from(args)))
    except (OSError, ValueError) as exc:
        print(f"spillway sandbox: {exc}", file=sys.stderr)
        return 1
    return 0
