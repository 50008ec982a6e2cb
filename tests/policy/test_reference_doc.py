"""docs/reference.md cannot drift from the code: reason codes, event reasons, status codes,
rule names and annotation keys are compared both ways where the doc lists them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spillway.model import kube
from spillway.policy.catalogue import event_reasons, reason_codes, rule_names, status_codes

DOC = (Path(__file__).resolve().parents[2] / "docs" / "reference.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert found, f"docs/reference.md has no section {title!r}"
    return found.group(1)


def first_column_codes(title: str) -> set[str]:
    return set(re.findall(r"^\| `([A-Za-z-]+)` \|", section(title), re.M))


def test_reason_codes_match_the_catalogue() -> None:
    assert first_column_codes("Reason codes") == reason_codes()


def test_event_reasons_match() -> None:
    assert first_column_codes("Events") == event_reasons()


def test_status_codes_match() -> None:
    assert first_column_codes("Status codes") == status_codes()


def test_rule_names_and_their_codes_are_listed() -> None:
    restrictions = section("Restrictions")
    assert first_column_codes("Restrictions") == set(rule_names())
    from spillway.policy.rules import REGISTRY

    for rule in REGISTRY.values():
        row = next(line for line in restrictions.splitlines() if line.startswith(f"| `{rule.name}` |"))
        assert set(re.findall(r"`([A-Za-z]+)`", row.split("|")[3])) == set(rule.reasons), rule.name


@pytest.mark.parametrize(
    "name",
    sorted(n for n in dir(kube) if n.startswith(("ANNOTATION_", "LABEL_")) or n in {
        "PLACEMENT_GATE", "SUPER_NODE_TAINT_KEY", "EKS_CONFIG_NAME", "EKS_CONFIG_NAMESPACE"}),
)
def test_every_key_constant_is_documented(name: str) -> None:
    value = getattr(kube, name)
    assert f"`{value}" in DOC, f"{name}={value!r} is not in docs/reference.md"


def test_switch_table_has_nine_rows() -> None:
    rows = [line for line in section("Switches").splitlines() if re.match(r"^\| (`true`|`false`|unset) \|", line)]
    assert len(rows) == 9


def test_volume_section_tells_which_volumes_run_in_the_cloud() -> None:
    """Every source the translation drops is listed as dropped, every one it refuses as refused."""
    from spillway.translate import DROPPED_VOLUME_SOURCES, REFUSED_VOLUME_SOURCES

    text = section("Volumes on super nodes")
    bullets = {m.group(1): m.group(2) for m in re.finditer(r"^- \*\*(\w+)[^*]*\*\*(.*?)(?=^- |\Z)", text, re.S | re.M)}
    assert set(bullets) == {"Mounted", "Dropped", "Refused"}
    listed = {kind: set(re.findall(r"`([A-Za-z]+)`", body)) for kind, body in bullets.items()}
    assert set(DROPPED_VOLUME_SOURCES) <= listed["Dropped"]
    assert set(REFUSED_VOLUME_SOURCES) <= listed["Refused"]
    assert not (listed["Mounted"] | listed["Dropped"]) & set(REFUSED_VOLUME_SOURCES)
    assert not listed["Mounted"] & set(DROPPED_VOLUME_SOURCES)


def test_rule_rows_and_reason_codes_agree() -> None:
    """A code a rule row names is a documented reason code, and the row of every rule whose
    codes come from the translation names the translation's codes."""
    from spillway.policy.rules import REGISTRY
    from spillway.translate import REFUSAL_REASONS

    documented = first_column_codes("Reason codes")
    for rule in REGISTRY.values():
        assert set(rule.reasons) <= documented, rule.name
    assert set(REFUSAL_REASONS) <= set(REGISTRY["cloud-instance"].reasons)
