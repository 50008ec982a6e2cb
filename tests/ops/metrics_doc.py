"""The metrics section of docs/operations.md, rendered from what the services define.

    python -m tests.ops.metrics_doc        # rewrites the section in docs/operations.md

Every Spillway metric is declared through `spillway.telemetry.metrics` (name, type, labels, meaning:
`CATALOGUE`); importing every service's main module defines all of them, as `spillway run` does.
The Source column is the module that holds the metric object, found by scanning module globals.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

from spillway.telemetry.metrics import CATALOGUE, MetricInfo

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
BEGIN = "<!-- metrics: begin -->"
END = "<!-- metrics: end -->"
SERVICE_MODULES = tuple(f"services.{name}.main" for name in
                        ("watcher", "placement", "cloud_provisioner", "node_status", "admission"))


def load_services() -> None:
    for module in SERVICE_MODULES:
        importlib.import_module(module)


def defining_modules() -> dict[str, str]:
    """Exposed metric name → the module whose global holds its object."""
    families = {info.family: info.name for info in CATALOGUE.values()}
    found: dict[str, str] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith(("spillway", "services")) or module is None:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Counter | Gauge | Histogram):
                (family_metric,) = value.describe()
                family = family_metric.name
                if family in families:
                    found.setdefault(families[family], name)
    return found


def row(info: MetricInfo, source: str) -> str:
    labels = ", ".join(f"`{label}`" for label in info.labels) or "-"
    return f"| `{info.name}` | {info.kind} | {labels} | {info.help} | `{source}` |"


def render() -> str:
    load_services()
    sources = defining_modules()
    lines = ["| Metric | Type | Labels | Meaning | Source |", "|---|---|---|---|---|"]
    lines += [row(info, sources.get(name, "?")) for name, info in sorted(CATALOGUE.items())]
    return "\n".join(lines)


def with_section(text: str, table: str) -> str:
    head, found, rest = text.partition(BEGIN)
    if not found or END not in rest:
        raise ValueError(f"docs/operations.md has no {BEGIN} … {END} section")
    return f"{head}{BEGIN}\n{table}\n{END}{rest.split(END, 1)[1]}"


def main() -> None:
    DOC.write_text(with_section(DOC.read_text(), render()))


if __name__ == "__main__":
    main()
