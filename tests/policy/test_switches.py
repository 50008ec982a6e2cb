"""The AUTO_SCALE_EKS switch table (all 9 documented rows and the workload-precedence rows) and
the LOCAL_REPLICAS / AUTO_SCALE_EKS parsing tables."""

from __future__ import annotations

import pytest

from spillway.policy.switches import (
    ParsedLocalReplicas,
    ParsedSwitch,
    SwitchReason,
    evaluate_switches,
    parse_local_replicas,
    parse_switch,
    switch_verdict,
)

R = SwitchReason


@pytest.mark.parametrize(
    ("global_value", "workload_value", "allowed", "reason"),
    [
        pytest.param(True, False, True, R.GLOBAL_SWITCH_ON, id="global true + local false → allowed"),
        pytest.param(True, None, True, R.GLOBAL_SWITCH_ON, id="global true + local unset → allowed"),
        pytest.param(True, True, True, R.GLOBAL_SWITCH_ON, id="global true + local true → allowed"),
        pytest.param(False, False, False, R.GLOBAL_SWITCH_OFF, id="global false + local false → refused"),
        pytest.param(False, None, False, R.GLOBAL_SWITCH_OFF, id="global false + local unset → refused"),
        pytest.param(False, True, True, R.WORKLOAD_SWITCH_ON, id="global false + local true → allowed"),
        pytest.param(None, False, True, R.GLOBAL_SWITCH_UNSET, id="global unset + local false → allowed"),
        pytest.param(None, None, True, R.GLOBAL_SWITCH_UNSET, id="global unset + local unset → allowed"),
        pytest.param(None, True, True, R.GLOBAL_SWITCH_UNSET, id="global unset + local true → allowed"),
    ],
)
def test_documented_switch_table(
    global_value: bool | None, workload_value: bool | None, allowed: bool, reason: SwitchReason
) -> None:
    verdict = switch_verdict(global_value, workload_value, "documented")
    assert (verdict.allowed, verdict.reason, verdict.global_value, verdict.workload_value) == (
        allowed, reason, global_value, workload_value
    )
    assert verdict.message.startswith("bursting allowed" if allowed else "bursting refused")


@pytest.mark.parametrize(
    ("global_value", "workload_value", "allowed", "reason"),
    [
        pytest.param(True, False, False, R.WORKLOAD_SWITCH_OFF, id="global true + local false → refused"),
        pytest.param(True, None, True, R.GLOBAL_SWITCH_ON, id="global true + local unset → allowed"),
        pytest.param(True, True, True, R.WORKLOAD_SWITCH_ON, id="global true + local true → allowed"),
        pytest.param(False, False, False, R.WORKLOAD_SWITCH_OFF, id="global false + local false → refused (workload)"),
        pytest.param(False, None, False, R.GLOBAL_SWITCH_OFF, id="global false + local unset → refused"),
        pytest.param(False, True, True, R.WORKLOAD_SWITCH_ON, id="global false + local true → allowed"),
        pytest.param(None, False, False, R.WORKLOAD_SWITCH_OFF, id="global unset + local false → refused"),
        pytest.param(None, None, True, R.GLOBAL_SWITCH_UNSET, id="global unset + local unset → allowed"),
        pytest.param(None, True, True, R.WORKLOAD_SWITCH_ON, id="global unset + local true → allowed"),
    ],
)
def test_workload_precedence_table(
    global_value: bool | None, workload_value: bool | None, allowed: bool, reason: SwitchReason
) -> None:
    verdict = switch_verdict(global_value, workload_value, "workload")
    assert (verdict.allowed, verdict.reason) == (allowed, reason)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(None, ParsedSwitch(None), id="absent → unset, no warning"),
        pytest.param("true", ParsedSwitch(True), id="true"),
        pytest.param("false", ParsedSwitch(False), id="false"),
        pytest.param(" TRUE ", ParsedSwitch(True), id="case and blanks ignored"),
        pytest.param("False", ParsedSwitch(False), id="False"),
    ],
)
def test_parse_switch_valid(raw: str | None, expected: ParsedSwitch) -> None:
    assert parse_switch(raw, "here") == expected


@pytest.mark.parametrize("raw", ["", "yes", "1", "on", "truee", "nil"])
def test_parse_switch_malformed_is_unset_with_warning(raw: str) -> None:
    parsed = parse_switch(raw, "ConfigMap kube-system/eks-config")
    assert parsed.value is None
    assert parsed.warning is not None
    assert "ConfigMap kube-system/eks-config" in parsed.warning and repr(raw) in parsed.warning


def test_malformed_global_switch_counts_as_unset_and_warns() -> None:
    verdict, warnings = evaluate_switches("maybe", {"AUTO_SCALE_EKS": "false"})
    assert (verdict.allowed, verdict.reason) == (True, R.GLOBAL_SWITCH_UNSET)
    assert len(warnings) == 1 and "'maybe'" in warnings[0]


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("0", 0, id="zero"),
        pytest.param("1", 1, id="one"),
        pytest.param("03", 3, id="leading zero"),
        pytest.param(" 7 ", 7, id="blanks"),
        pytest.param("100000", 100000, id="large"),
        pytest.param("2147483647", 2**31 - 1, id="int32 max"),
        pytest.param("0" * 31 + "5", 5, id="32 characters with leading zeros"),
    ],
)
def test_parse_local_replicas_valid(raw: str | None, value: int | None) -> None:
    assert parse_local_replicas(raw) == ParsedLocalReplicas(value)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("-1", id="negative"),
        pytest.param("1.5", id="decimal"),
        pytest.param("three", id="word"),
        pytest.param("", id="empty"),
        pytest.param("+3", id="plus sign"),
        pytest.param("1_000", id="underscore"),
        pytest.param("٣", id="non-ascii digit"),
        pytest.param("2147483648", id="above int32"),
        pytest.param("9" * 5000, id="5000 digits"),
        pytest.param("0" * 32 + "1", id="33 characters"),
        pytest.param("1e3", id="exponent"),
    ],
)
def test_parse_local_replicas_malformed(raw: str) -> None:
    parsed = parse_local_replicas(raw)
    assert parsed.value is None
    assert parsed.warning is not None and "LOCAL_REPLICAS" in parsed.warning
    assert repr(raw[:40]) in parsed.warning
    assert len(parsed.warning) < 200  # a hostile value is quoted cut, never whole


def test_a_huge_switch_value_is_malformed_and_quoted_cut() -> None:
    raw = "true" + " " * 70000
    parsed = parse_switch(raw, "pod annotation")
    assert parsed.value is None
    assert parsed.warning is not None and "70004 characters" in parsed.warning and len(parsed.warning) < 200
