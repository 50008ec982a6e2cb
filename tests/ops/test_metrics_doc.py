"""docs/operations.md lists every metric the services define, as they define it; every Spillway
metric goes through the catalogue (so it has one home and a documented meaning); the catalogue
refuses names that break the conventions."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from spillway.telemetry.metrics import CATALOGUE, BoundedValues, declare
from tests.ops.metrics_doc import BEGIN, DOC, END, defining_modules, load_services, render, with_section


def test_the_metrics_section_matches_the_code() -> None:
    text = DOC.read_text()
    assert text == with_section(text, render()), "docs/operations.md is stale: python -m tests.ops.metrics_doc"


def test_every_spillway_metric_in_the_registry_is_catalogued_and_held_by_a_module() -> None:
    load_services()
    exported = {family.name for family in REGISTRY.collect() if family.name.startswith("spillway_")}
    catalogued = {info.family for info in CATALOGUE.values()}
    assert exported <= catalogued, f"made without spillway.telemetry.metrics: {sorted(exported - catalogued)}"
    assert set(defining_modules()) == set(CATALOGUE)


def test_the_section_is_found_and_replaced_whole() -> None:
    text = f"intro\n{BEGIN}\nold\nrows\n{END}\noutro\n"
    assert with_section(text, "| new |") == f"intro\n{BEGIN}\n| new |\n{END}\noutro\n"
    with pytest.raises(ValueError, match="no <!-- metrics"):
        with_section("no markers", "| new |")


@pytest.mark.parametrize(("name", "kind", "labels", "problem"), [
    ("spillway_leader", "gauge", (), "declared twice"),
    ("spillway_things", "counter", (), "only counters, end in _total"),
    ("spillway_things_total", "gauge", (), "only counters, end in _total"),
    ("other_things_total", "counter", (), "expected spillway_"),
    ("spillway_Things", "gauge", (), "expected spillway_"),
    ("spillway_things", "gauge", ("Pod",), "invalid label names"),
])
def test_declare_refuses_what_breaks_the_conventions(name: str, kind: str, labels: tuple[str, ...],
                                                      problem: str) -> None:
    before = dict(CATALOGUE)
    with pytest.raises(ValueError, match=problem):
        declare(name, kind, "help", labels)  # type: ignore[arg-type]
    assert before == CATALOGUE


def test_outside_label_values_are_capped() -> None:
    codes = BoundedValues(2)
    assert [codes(c) for c in ("A.B", "C", "A.B", "D", "bad code\n", "")] == ["A.B", "C", "A.B", "other", "invalid",
                                                                              "invalid"]
