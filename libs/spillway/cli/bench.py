"""`spillway bench [SCENARIO] [--json]`: measure Spillway on this machine.

Each scenario boots the local stack with every service as its own process; figures are
percentiles and ratios, and every run states the core count. `bench/README.md` explains them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ALL = ("burst", "steady", "admission", "scaledown", "scheduler", "hostile", "return")
HEAVY = ("scale",)
"""Run only when named: minutes of the whole machine."""


def flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out.append((prefix, str(value)))


def print_table(results: dict[str, Any]) -> None:
    rows: list[tuple[str, str]] = []
    flatten("", results, rows)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


async def run(names: list[str], args: argparse.Namespace, as_json: bool) -> dict[str, Any]:
    from bench import scenarios

    def progress(message: str) -> None:
        print(f"... {message}", file=sys.stderr, flush=True)

    results: dict[str, Any] = scenarios.header()
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"spillway-bench-{name}-") as tmp:
            kwargs: dict[str, Any] = {}
            if name == "burst":
                kwargs = {"n": args.pods}
            elif name == "scale":
                kwargs = {"pods": args.pods}
            elif name == "steady":
                kwargs = {"rate": args.rate, "seconds": args.seconds}
            elif name == "admission":
                kwargs = {"rate": args.admission_rate}
            if name == "scheduler":  # the sandbox alone: its scheduler under 2,000 pending pods
                from bench import sandbox_scheduler

                progress("scheduler: 2000 pods that fit nowhere, API latency while the scheduler works")
                results[name] = await sandbox_scheduler.run()
                continue
            if name == "return":  # burst pods coming home once the IDC has room again
                from bench import returns

                progress(f"return: {args.return_pods} pods burst because the IDC was full, then room frees")
                results[name] = await returns.run(Path(tmp), progress, pods=args.return_pods,
                                                  workloads=args.return_workloads)
                continue
            if name == "hostile":  # no stack: the pure policy and translation, per call
                from bench import hostile

                progress(f"hostile: {args.hostile_pods} whole hostile pods through review, decide and translate")
                results[name] = hostile.run(args.hostile_pods)
                continue
            results[name] = await scenarios.SCENARIOS[name](Path(tmp), progress, **kwargs)
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="spillway bench", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("scenario", nargs="?", choices=(*ALL, *HEAVY, "all"), default="all")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--pods", type=int, default=2000, help="burst: pods to scale to; scale: pods the IDC runs")
    parser.add_argument("--rate", type=float, default=100.0, help="steady: pods per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="steady: duration")
    parser.add_argument("--hostile-pods", type=int, default=5000, help="hostile: pods to generate")
    parser.add_argument("--admission-rate", type=float, default=500.0, help="admission: requests per second")
    parser.add_argument("--return-pods", type=int, default=200, help="return: pods that burst and come home")
    parser.add_argument("--return-workloads", type=int, default=10,
                        help="return: Deployments they belong to (one PodDisruptionBudget each)")
    args = parser.parse_args(argv)
    names = list(ALL) if args.scenario == "all" else [args.scenario]
    results = asyncio.run(run(names, args, args.json))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)
    return 0
