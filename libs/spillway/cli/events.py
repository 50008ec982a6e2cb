"""`spillway events [SUBJECT]`: tail the bus, one readable line per message.

Live by default (a core subscription sees every publish). `--since 5m` replays from the stream
first (an ordered ephemeral consumer delivering by start time), then keeps following. `--json`
prints each payload as it is on the wire (one JSON object per line). On a bus with authorisation,
connect as the read-only user: `--user reader` (or env SPILLWAY_NATS_USER), password in env
SPILLWAY_NATS_PASSWORD (`source .spillway/env` after `spillway up` sets both).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import re
import signal
import sys
from typing import Any

import msgspec
import nats
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from spillway.bus.client import connect_options
from spillway.cli.bus import add_connection_args, password_from_env
from spillway.model import messages as m

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """`90s`, `5m`, `2h`, `1d`, `1h30m` or plain seconds → seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 30s, 5m, 2h, 1d)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def summary(msg: m.Message) -> str:
    """The key fields of a message, for one line."""
    match msg:
        case m.PodEvent(change=change, pod=pod):
            return f"{pod.key} {change} node={pod.spec.node_name or '-'} uid={pod.metadata.uid}"
        case m.NodeEvent(change=change, node=node):
            return f"{node.metadata.name} {change} ready={node.is_ready()}"
        case m.ConfigEvent(data=data, deleted=deleted):
            return "deleted" if deleted else " ".join(f"{k}={v}" for k, v in sorted(data.items()))
        case m.PlacementDecision():
            where = f" node={msg.node}" if msg.node else ""
            return f"{msg.namespace}/{msg.name} {msg.outcome}{where} reason={msg.reason or '-'} {msg.message}".rstrip()
        case m.InstanceEvent():
            extra = f" reason={msg.reason}" if msg.reason else ""
            ids = f"id={msg.eks_ci_id or '-'} req={msg.request_id or '-'}"
            return f"{msg.namespace}/{msg.name} {msg.status} {ids}{extra}"
        case m.ZoneCooldown(zone=zone, until=until, reason=reason):
            return f"{zone} until={dt.datetime.fromtimestamp(until, dt.UTC):%H:%M:%S} {reason}".rstrip()
        case m.DeadLetter():
            return f"{msg.consumer or msg.service} seq={msg.stream_seq} {msg.subject}: {msg.error}"
    return repr(msg)


def format_line(subject: str, data: bytes, when: dt.datetime) -> str:
    try:
        text = summary(m.decode(subject, data))
    except (KeyError, msgspec.DecodeError, msgspec.ValidationError):
        raw = data.decode("utf-8", errors="replace")
        text = f"(undecodable) {raw[:200]}"
    return f"{when.astimezone():%H:%M:%S.%f}"[:-3] + f" {subject} {text}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spillway events", description="Tail the Spillway bus in readable form.")
    parser.add_argument("subject", nargs="?", default=f"{m.SUBJECT_ROOT}.>", help="subject filter (default spillway.>)")
    parser.add_argument("--json", action="store_true", help="print each payload as raw JSON, one per line")
    parser.add_argument("--since", type=parse_duration, metavar="DURATION",
                        help="replay stored messages from this long ago (e.g. 5m), then follow")
    add_connection_args(parser)
    parser.add_argument("--count", type=int, default=0, metavar="N", help="exit after N messages (default: never)")
    return parser


async def tail(args: argparse.Namespace) -> int:
    nc = await nats.connect(args.nats, name="spillway-events", max_reconnect_attempts=-1, connect_timeout=2,
                            **connect_options(args.user, password_from_env(), args.nats_ca))
    done = asyncio.Event()
    seen = 0

    async def show(msg: Msg) -> None:
        nonlocal seen
        when = msg.metadata.timestamp if args.since is not None else dt.datetime.now(dt.UTC)
        line = msg.data.decode("utf-8", errors="replace") if args.json else format_line(msg.subject, msg.data, when)
        print(line, flush=True)
        seen += 1
        if args.count and seen >= args.count:
            done.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, done.set)
    sub: Any
    if args.since is None:
        sub = await nc.subscribe(args.subject, cb=show)
    else:
        start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=args.since)
        sub = await nc.jetstream().subscribe(
            args.subject, cb=show, stream=m.STREAM, ordered_consumer=True, deliver_policy=DeliverPolicy.BY_START_TIME,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start),
        )
    await nc.flush()
    print(f"listening on {args.subject} at {args.nats}", file=sys.stderr, flush=True)
    try:
        await done.wait()
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        await nc.close()
    return 0


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(tail(args))
    except (OSError, nats.errors.Error) as exc:
        print(f"spillway events: {args.nats}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
