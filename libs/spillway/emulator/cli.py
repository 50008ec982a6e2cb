"""`spillway cloud-emulator`: serve the TKE Serverless emulator until interrupted.

The secret key is read from the flag or from `SPILLWAY_EMULATOR_SECRET_KEY` (better: it does
not show in `ps`); it is never printed or logged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import sys
from pathlib import Path

from spillway.emulator.faults import ErrorRule, Faults
from spillway.emulator.server import Emulator, EmulatorOptions

SECRET_KEY_ENV = "SPILLWAY_EMULATOR_SECRET_KEY"


def _subnet(text: str) -> tuple[str, str]:
    subnet, sep, zone = text.partition("=")
    if not sep or not subnet or not zone:
        raise argparse.ArgumentTypeError(f"expected SUBNET_ID=ZONE, got {text!r}")
    return subnet, zone


def _error_rule(text: str) -> ErrorRule:
    # CODE=RATE or CODE=RATE@Action
    code, _, rest = text.partition("=")
    rate, _, action = rest.partition("@")
    try:
        return ErrorRule(code=code, rate=float(rate), action=action or None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CODE=RATE[@Action], got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="spillway cloud-emulator",
        description="Serve a TencentCloud API 3.0 emulator for TKE Serverless container instances.")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = pick a free one)")
    p.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    p.add_argument("--secret-id", required=True, help="the SecretId clients sign with")
    p.add_argument("--secret-key", default=None,
                   help=f"the SecretKey (prefer the {SECRET_KEY_ENV} environment variable)")
    p.add_argument("--region", default="ap-guangzhou")
    p.add_argument("--start-delay", type=float, default=0.0, metavar="SECONDS", help="Pending → Running delay")
    p.add_argument("--data-dir", type=Path, default=None, help="persist state here (JSON snapshot)")
    p.add_argument("--quota", type=int, default=500, help="instances per region (default 500)")
    p.add_argument("--rate-limit", type=float, default=20.0, help="requests per second per action (0 = off)")
    p.add_argument("--subnet", type=_subnet, action="append", default=[], metavar="SUBNET_ID=ZONE",
                   help="zone of a subnet (repeatable); other subnets get <region>-1")
    p.add_argument("--error", type=_error_rule, action="append", default=[], metavar="CODE=RATE[@Action]",
                   help="inject an error for a fraction of calls, e.g. InternalError=0.1@CreateEKSContainerInstances")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added latency per call")
    p.add_argument("--sold-out-zone", action="append", default=[], metavar="ZONE", help="creates there fail")
    p.add_argument("--fail-fraction", type=float, default=0.0, help="fraction of instances that fail after starting")
    p.add_argument("--seed", type=int, default=None, help="seed of the fault dice and instance ids")
    return p


async def _serve(options: EmulatorOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with Emulator(options) as emu:
        gc.freeze()  # imports and start-up state live forever: keep them out of full collections
        gc.set_threshold(10_000, 20, 1_000)  # the store is acyclic and long-lived: full scans free nothing
        print(f"cloud-emulator ready: {emu.url} (region {options.region}, secret id {options.secret_id})", flush=True)
        await stop.wait()


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    secret_key = args.secret_key or os.environ.get(SECRET_KEY_ENV)
    if not secret_key:
        print(f"spillway cloud-emulator: give --secret-key or set {SECRET_KEY_ENV}", file=sys.stderr)
        return 2
    faults = Faults(errors=args.error, latency_ms=args.latency_ms, sold_out_zones=args.sold_out_zone)
    faults.fail_after_start.fraction = args.fail_fraction
    options = EmulatorOptions(
        secret_id=args.secret_id, secret_key=secret_key, region=args.region, host=args.host, port=args.port,
        start_delay=args.start_delay, data_dir=args.data_dir, quota=args.quota, rate_limit=args.rate_limit,
        subnets=dict(args.subnet), seed=args.seed, faults=faults,
    )
    asyncio.run(_serve(options))
    return 0
