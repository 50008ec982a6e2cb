"""The Grafana dashboard of k8s/components/monitoring: it reads only what the services export (or
the recording rules make of it), shows what operators ask for, lays out cleanly, and ships as the
ConfigMap Grafana's sidecar loads."""

from __future__ import annotations

import json

import pytest

from spillway.telemetry.metrics import CATALOGUE
from tests.ops.metrics_doc import load_services
from tests.ops.rules import dashboard, dashboard_exprs, metric_names, recording_rules
from tests.ship.render import KUBECTL, of_kind, render

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def exported_series() -> set[str]:
    load_services()
    names = set()
    for info in CATALOGUE.values():
        names.update([info.name + s for s in HISTOGRAM_SUFFIXES] if info.kind == "histogram" else [info.name])
    return names


def test_every_expression_reads_exported_metrics_or_recording_rules() -> None:
    known = exported_series() | set(recording_rules())
    for expr in dashboard_exprs() + list(recording_rules().values()):
        names = metric_names(expr)
        assert names, expr
        assert names <= known, f"{expr}: unknown {sorted(names - known)}"


def test_it_shows_what_operators_ask_for() -> None:
    used = set().union(*(metric_names(e) for e in dashboard_exprs()))
    rules = recording_rules()
    for name in list(used):  # what the recording rules it reads are made of
        used |= metric_names(rules.get(name, ""))
    for wanted in ("spillway_workload_pods",  # local vs cloud pods by workload
                   "spillway_placement_decisions_total",  # decisions by outcome and reason
                   "spillway_placement_decision_since_creation_seconds_bucket",  # decision latency
                   "spillway_placement_decision_since_pending_seconds_bucket",
                   "spillway_cloud_cpu_cores", "spillway_cloud_memory_bytes",  # cloud vCPU and memory
                   "spillway_cloud_cost_per_hour", "spillway_cloud_cost_total",  # cost
                   "spillway_instance_create_seconds_bucket", "spillway_instances_failed_total",  # creates, errors
                   "spillway_cloud_api_requests_total",
                   "spillway_super_node_ready", "spillway_cloud_pods", "spillway_zone_cooldown_seconds"):
        assert wanted in used, wanted
    titles = " ".join(p["title"] for p in dashboard()["panels"]).lower()
    assert "p50 / p99" in titles and "local and cloud" in titles


def test_panels_have_unique_ids_do_not_overlap_and_use_the_datasource_variable() -> None:
    board = dashboard()
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource"]
    assert board["uid"] == "spillway"


@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
def test_it_ships_as_a_configmap_grafanas_sidecar_loads() -> None:
    (configmap,) = [c for c in of_kind(render("component/monitoring"), "ConfigMap")
                    if c["metadata"]["name"] == "spillway-grafana-dashboard"]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["spillway.json"]) == dashboard()


@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
def test_every_service_has_a_pod_monitor_on_its_health_port() -> None:
    objs = render("component/monitoring")
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in of_kind(objs, "Deployment")
                   if d["metadata"]["labels"].get("app.kubernetes.io/name") == "spillway"}
    monitors = of_kind(objs, "PodMonitor")
    assert len(monitors) == len(deployments) == 5
    for monitor in monitors:
        selector = monitor["spec"]["selector"]["matchLabels"]
        pod_labels = deployments[selector["app.kubernetes.io/component"]]["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items(), monitor["metadata"]["name"]
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        (container,) = deployments[selector["app.kubernetes.io/component"]]["spec"]["template"]["spec"]["containers"]
        assert endpoint["port"] in {p["name"] for p in container["ports"]} and endpoint["path"] == "/metrics"
        assert endpoint["honorLabels"] is True
