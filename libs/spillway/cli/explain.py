"""`spillway explain NAMESPACE/POD [--json] [--nats URL]`: why a pod went where it went.

Reads placement's decision record from the `decisions` KV bucket (kept for an hour after the last
decision) and prints it in plain words: the decision and node, the reason, the switch values, the
LOCAL_REPLICAS quota against the local count, every restriction rule's verdict, and the trace id to
look the decision up in Jaeger. `--json` prints the record as stored. Exit 1 when there is none.
On a bus with authorisation it reads as the read-only user (`--user reader`, or env
SPILLWAY_NATS_USER; password in env SPILLWAY_NATS_PASSWORD).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

import msgspec
import nats.errors

from spillway.bus import Bus
from spillway.cli.bus import add_connection_args, password_from_env
from spillway.config import Secret
from spillway.model import messages as m
from spillway.policy.returns import RETURN_PATH

OUTCOME_TEXT = {
    "cloud": "burst to the cloud",
    "local": "kept local (released to the local scheduler)",
    "refused": "stays pending (not allowed to burst)",
}
RETURNED = "returned to the IDC (evicted from its super node; its replacement is placed locally)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spillway explain",
                                     description="Explain the placement decision of NAMESPACE/POD.")
    parser.add_argument("pod", metavar="NAMESPACE/POD", help="the pod, e.g. default/web-7d9c-abcde")
    parser.add_argument("--json", action="store_true", help="print the decision record as JSON")
    add_connection_args(parser)
    return parser


def _switch(value: str | None) -> str:
    return "unset" if value is None else repr(value)


def render(record: m.PlacementDecision) -> str:
    """The record in plain words, one fact per line."""
    when = datetime.fromtimestamp(record.decided_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") \
        if record.decided_at else "unknown"
    lines = [
        f"Pod:        {record.namespace}/{record.name} (uid {record.uid})",
        f"Workload:   {record.workload}",
        f"Decision:   {RETURNED if record.trigger == RETURN_PATH else OUTCOME_TEXT.get(record.outcome, record.outcome)}"
        + (f" → node {record.node}" if record.node else ""),
        f"Reason:     {record.reason}: {record.message}",
        f"Path:       {record.trigger or 'unknown'}"
        + (" (gated at creation, decided before any scheduler)" if record.trigger == "gated" else
           " (the scheduler found no room locally)" if record.trigger == "unschedulable" else
           " (sent home from the cloud once local room freed)" if record.trigger == RETURN_PATH else ""),
        f"Switches:   global AUTO_SCALE_EKS {_switch(record.global_switch)}, workload AUTO_SCALE_EKS "
        f"{_switch(record.workload_switch)} → bursting "
        f"{'allowed' if record.switch_allowed else 'refused'} ({record.switch_reason})",
        "Quota:      " + (f"LOCAL_REPLICAS={record.local_replicas}, {record.local_count} replica(s) already local"
                          if record.local_replicas is not None else
                          f"LOCAL_REPLICAS unset, {record.local_count} replica(s) local"),
        "Rules:",
    ]
    for rule in record.rules:
        verdict = "ok" if rule.code == "Allowed" else f"{rule.code}: {rule.reason}: {rule.message}"
        lines.append(f"  {rule.rule:<20} {verdict}")
    if not record.rules:
        lines.append("  (none evaluated)")
    for warning in record.warnings:
        lines.append(f"Warning:    {warning}")
    lines.append(f"Decided:    {when}")
    lines.append(f"Trace:      {record.trace_id or 'none'}")
    return "\n".join(lines)


async def fetch(nats_url: str, namespace: str, name: str, user: str = "",
                password: Secret | None = None, ca_file: str = "") -> m.PlacementDecision | None:
    bus = await Bus.connect(nats_url, service="explain", max_reconnect_attempts=1, connect_timeout=2.0,
                            user=user, password=password, ca_file=ca_file)
    try:
        decisions = await bus.typed_kv(m.KV_DECISIONS, m.PlacementDecision)
        return await decisions.get(m.kv_key(namespace, name))
    finally:
        await bus.close(drain=False)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    namespace, _, name = args.pod.partition("/")
    if not namespace or not name or "/" in name:
        print(f"spillway explain: expected NAMESPACE/POD, got {args.pod!r}", file=sys.stderr)
        return 2
    url = args.nats
    try:
        reading = fetch(url, namespace, name, args.user, password_from_env(), args.nats_ca)
        record = asyncio.run(asyncio.wait_for(reading, 15))
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        print(f"spillway explain: cannot read decisions from {url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"spillway explain: {exc}", file=sys.stderr)
        return 2
    if record is None:
        print(f"spillway explain: no placement decision recorded for {namespace}/{name} "
              f"(never pending, not decided yet, or older than an hour)", file=sys.stderr)
        return 1
    if args.json:
        print(msgspec.json.format(m.encode(record), indent=2).decode())
    else:
        print(render(record))
    return 0
