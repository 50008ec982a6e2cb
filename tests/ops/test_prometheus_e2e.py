"""A real Prometheus scrapes every service of a local stack (file service discovery from the
stack's ports) through a burst with a sold-out zone and a poison message; then every expression the
dashboard draws and every recording rule returns a number through Prometheus' HTTP API, and every
series the services export is a documented metric with documented labels."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest

from spillway.cli.stack import SERVICES
from spillway.kube.client import collection_path
from spillway.model import messages as m
from spillway.telemetry.metrics import CATALOGUE
from tests.chaos.harness import NS, deployment, running_stack
from tests.fixtures.eventually import eventually
from tests.ops.metrics_doc import load_services
from tests.ops.prometheus import Prometheus, running_prometheus
from tests.ops.rules import PROMETHEUS, dashboard_exprs, recording_rules

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not on PATH (apt-get install prometheus)")]

SOLD_OUT_ZONE = "ap-guangzhou-3"
TARGET_LABELS = {"__name__", "job", "instance", "service"}
EXPECTED = {  # what the burst must have produced, as Prometheus sees it
    "cloud pods": 'sum(spillway_workload_pods{location="cloud"}) > 0',
    "local pods": 'sum(spillway_workload_pods{location="local"}) > 0',
    "the sold-out zone in cool-down": f'max(spillway_zone_cooldown_seconds{{zone="{SOLD_OUT_ZONE}"}}) > 0',
    "pods failed for the sold-out zone": 'sum(spillway_instances_failed_total{reason="ZoneSoldOut"}) > 0',
    "the sold-out answers": 'sum(spillway_cloud_api_requests_total{code=~"ResourceInsufficient.+"}) > 0',
    "the poison message dead-lettered": 'sum(spillway_bus_dead_letters_total{why="undecodable"}) > 0',
    "a cost": "sum(spillway_cloud_cost_total) > 0",
    "a placement leader": 'max(spillway_leader{lease="placement"}) == 1',
}


async def missing(prometheus: Prometheus, exprs: list[str]) -> list[str]:
    return [expr for expr in exprs if not await prometheus.finite(expr)]


async def test_prometheus_reads_every_dashboard_and_rule_expression_from_a_burst(tmp_path: Path) -> None:
    async with running_stack(tmp_path / "stack") as (stack, kube), \
            running_prometheus(tmp_path / "prometheus", dict(stack.health_ports)) as prometheus:
        async def all_up() -> bool:
            up = await prometheus.query("up")
            return sorted(s["metric"]["job"] for s in up if s["value"][1] == "1") == sorted(SERVICES)

        await eventually(all_up, what="every service scraped", seconds=20, interval=0.2)
        await stack.emulator_faults({"sold_out_zones": [SOLD_OUT_ZONE]})
        nc = await nats.connect(stack.nats_url)
        try:
            await nc.jetstream().publish(m.POD_BOUND, b"not a pod event", headers={"Nats-Msg-Id": "ops-e2e-poison"})
        finally:
            await nc.close()
        await kube.request("POST", collection_path("apps/v1", "deployments", NS), body=deployment("ops", 10, 2))

        async def burst_seen() -> bool:
            unseen = [what for what, expr in EXPECTED.items() if not await prometheus.finite(expr)]
            assert not unseen, f"not seen yet: {unseen}"
            return True

        await eventually(burst_seen, what="the burst in Prometheus", seconds=60, interval=0.5)
        exprs = dashboard_exprs() + list(recording_rules()) + list(recording_rules().values())

        async def every_expression_answers() -> bool:
            empty = await missing(prometheus, exprs)
            assert not empty, f"no number from {empty}"
            return True

        await eventually(every_expression_answers, what="a number from every expression", seconds=30, interval=1)
        series = await prometheus.api("series", **{"match[]": '{__name__=~"spillway_.+"}'})
    load_services()
    documented = {info.name: info for info in CATALOGUE.values()}
    for labels in series:
        name = labels["__name__"]
        base = next((name.removesuffix(s) for s in ("_bucket", "_sum", "_count")
                     if name.removesuffix(s) in documented and documented[name.removesuffix(s)].kind == "histogram"),
                    name)
        assert base in documented, f"{name} is exported but not documented"
        extra = set(labels) - TARGET_LABELS - set(documented[base].labels) - ({"le"} if base != name else set())
        assert not extra, f"{name} carries undocumented labels {extra}"
    assert {s["job"] for s in series} == set(SERVICES)
