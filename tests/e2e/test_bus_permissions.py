"""Least privilege on the bus, for real: the burst flow with every service on its own NATS user
(`spillway.bus.permissions`) and not one permission violation in the server's log; the read-only
user's tools (`spillway events`, `spillway explain`) work from the env file `spillway up` writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from spillway.bus.permissions import READER, inbox_prefix
from spillway.cli.demo import DEPLOYMENT, NAMESPACE, NGINX_DEPLOYMENT, Printer, all_running, wait_for, wait_until_gone
from spillway.cli.stack import LocalStack, StackOptions
from spillway.kube import KubeClient
from spillway.kube.client import MERGE_PATCH, collection_path, object_path
from spillway.model import messages
from tests.fixtures.eventually import eventually

pytestmark = pytest.mark.slow
VIOLATIONS = ("Permissions Violation", "Publish Violation", "Subscription Violation")
"""How nats-server logs a refused publish or subscription (the wording differs between versions)."""


def env_file(path: Path) -> dict[str, str]:
    """The `export NAME=value` lines of the stack's env file."""
    pairs = (line.removeprefix("export ").split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name: value for name, value in pairs}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spillway.cli", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env}, check=False)


async def test_burst_flow_runs_without_a_single_permission_violation(tmp_path: Path) -> None:
    printer = Printer(as_json=True)
    options = StackOptions(state_dir=tmp_path, nodes=1, node_cpu="1", node_memory="2Gi", start_delay=0.5)
    async with LocalStack(options, progress=printer.progress) as stack:
        kube = await KubeClient.connect(str(stack.kubeconfig))
        try:
            await kube.request("POST", collection_path("apps/v1", "deployments", NAMESPACE), body=NGINX_DEPLOYMENT)
            before = await wait_for(all_running(4), "4 running pods", 90, printer, kube)
            await kube.patch(object_path("apps/v1", "deployments", DEPLOYMENT, NAMESPACE) + "/scale",
                             {"spec": {"replicas": 3}}, content_type=MERGE_PATCH)
            after = await wait_for(all_running(3), "3 running pods", 90, printer, kube)
            removed = sorted({p.metadata.name for p in before} - {p.metadata.name for p in after})
            await wait_until_gone(kube, removed, printer, 90)
        finally:
            await kube.close()
        cloud = next(p for p in after if p.spec.node_name.startswith("eklet-"))

        env = env_file(stack.env_path)
        assert env["SPILLWAY_NATS_USER"] == READER and stack.env_path.stat().st_mode & 0o077 == 0
        explained = cli(env, "explain", f"{NAMESPACE}/{cloud.metadata.name}", "--json")
        assert explained.returncode == 0, explained.stderr
        assert cloud.metadata.uid in explained.stdout
        replay = cli(env, "events", "spillway.instance.running", "--since", "10m", "--count", "1", "--json")
        assert replay.returncode == 0, replay.stderr
        assert '"status":"running"' in replay.stdout
        # the read-only user changes nothing: a decision of its own is refused (and logged, which
        # is what makes "no violation" below mean something)
        refused: list[str] = []

        async def on_error(exc: Exception) -> None:
            refused.append(str(exc))

        nc = await nats.connect(env["NATS_URL"], user=READER, password=env["SPILLWAY_NATS_PASSWORD"],
                                error_cb=on_error, inbox_prefix=inbox_prefix(READER))
        try:
            await nc.publish(messages.PLACEMENT_DECIDED, b"{}")
            await nc.flush()
            await eventually(lambda: refused, what="the forged decision refused")
        finally:
            await nc.close()
    log = (tmp_path / "logs" / "nats.log").read_text(errors="replace")
    violations = [line for line in log.splitlines() if any(v in line for v in VIOLATIONS)]
    assert len(violations) == 1, violations
    assert f"user:{READER}" in violations[0] and messages.PLACEMENT_DECIDED in violations[0], violations
