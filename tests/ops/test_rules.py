"""The PrometheusRule of k8s/components/monitoring: promtool accepts it, every alert fires on a
series that should fire it and stays quiet on one that should not (tests/ops/alerts_test.yaml), the
alerts the operators need are there, and each one's runbook is a section of docs/operations.md."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ops.rules import PROMTOOL, alerts, metric_names, recording_rules, write_rules_file
from tests.ship.render import REPO

needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not on PATH (apt-get install prometheus)")
ALERT_TESTS = Path(__file__).with_name("alerts_test.yaml")
OPERATIONS = REPO / "docs" / "operations.md"
REQUIRED = {
    "SpillwayNoPlacementLeader",  # no placement leader
    "SpillwayPodsAwaitingDecision",  # pods awaiting a decision for more than 2 minutes
    "SpillwayCloudAPIErrors",  # cloud API errors
    "SpillwaySuperNodeNotReady",  # a super node NotReady
    "SpillwayDeadLetters",  # dead letters
    "SpillwayZoneSoldOut",  # a zone sold out
    "SpillwayTaskRestarting",  # a service loop restarting
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


@needs_promtool
def test_promtool_checks_the_rendered_rules(tmp_path: Path) -> None:
    result = promtool("check", "rules", str(write_rules_file(tmp_path / "rules.yaml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts()) + len(recording_rules())} rules found" in result.stdout


@needs_promtool
def test_promtool_unit_tests_of_every_alert_pass(tmp_path: Path) -> None:
    write_rules_file(tmp_path / "rules.yaml")
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    result = promtool("test", "rules", str(tmp_path / ALERT_TESTS.name))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_unit_tests_would_notice_a_broken_alert(tmp_path: Path) -> None:
    rules = write_rules_file(tmp_path / "rules.yaml")
    rules.write_text(rules.read_text().replace("spillway_super_node_ready == 0", "spillway_super_node_ready == 2"))
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    result = promtool("test", "rules", str(tmp_path / ALERT_TESTS.name))
    assert result.returncode != 0 and "SpillwaySuperNodeNotReady" in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    for name in alerts():
        assert any(c["alertname"] == name and c["exp_alerts"] for c in cases), f"{name} never fires in a test"
        assert any(c["alertname"] == name and not c["exp_alerts"] for c in cases), f"{name} is never quiet in a test"


def test_the_alerts_operators_need_are_there_with_a_severity() -> None:
    assert set(alerts()) >= REQUIRED
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_each_runbook_is_a_section_of_the_operations_doc_and_each_section_an_alert() -> None:
    doc = OPERATIONS.read_text()
    runbooks = doc.split("## Alerts and runbooks", 1)[1].split("\n## ", 1)[0]
    sections = re.findall(r"^### (\w+)$", runbooks, re.M)
    assert sorted(sections) == sorted(alerts())
    for name, rule in alerts().items():
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{name.lower()}"


def test_recording_rules_read_only_metrics_and_follow_the_naming_convention() -> None:
    for record, expr in recording_rules().items():
        assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", record), record
        assert all(name.startswith("spillway_") for name in metric_names(expr)), record
