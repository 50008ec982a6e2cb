"""The monitoring component's rules and dashboard as the tests read them, and the metric names a
PromQL expression uses."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.ship.render import KUBECTL, REPO, render

COMPONENT = REPO / "k8s" / "components" / "monitoring"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")


def prometheus_rule() -> dict[str, Any]:
    """The PrometheusRule as kustomize renders it (its source file when kubectl is missing: the
    component only adds labels to it)."""
    if KUBECTL is not None:
        (rule,) = [o for o in render("component/monitoring") if o["kind"] == "PrometheusRule"]
        return rule
    found: dict[str, Any] = yaml.safe_load((COMPONENT / "prometheusrule.yaml").read_text())
    return found


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = prometheus_rule()["spec"]["groups"]
    return groups


def write_rules_file(path: Path) -> Path:
    """The rule groups as a Prometheus rules file (what promtool and prometheus read)."""
    path.write_text(yaml.safe_dump({"groups": rule_groups()}, sort_keys=False))
    return path


def alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in rule_groups() for r in g["rules"] if "alert" in r}


def recording_rules() -> dict[str, str]:
    return {r["record"]: r["expr"] for g in rule_groups() for r in g["rules"] if "record" in r}


def dashboard() -> dict[str, Any]:
    found: dict[str, Any] = json.loads((COMPONENT / "dashboard.json").read_text())
    return found


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_NAME = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:]|\s*\()")
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless",
            "inf", "nan", "le"}


def metric_names(expr: str) -> set[str]:
    """The series names an expression selects (functions, keywords, labels and numbers left out)."""
    text = _RANGE.sub("", _GROUPING.sub("", _MATCHERS.sub("", _STRING.sub("", expr))))
    return {name for name in _NAME.findall(text) if name.lower() not in KEYWORDS}
