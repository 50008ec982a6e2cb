"""The AUTO_SCALE_EKS switches and the LOCAL_REPLICAS quota: parsing and the 9-row switch table.

Why here and not in each service: admission (should this pod be gated?) and placement (may it
burst?) must agree on every row of the product's table, and on what a malformed value means
(unset, plus a warning the user sees), or a pod could be gated and then never released.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from spillway.model.kube import ANNOTATION_AUTO_SCALE, ANNOTATION_LOCAL_REPLICAS, EKS_CONFIG_NAME, EKS_CONFIG_NAMESPACE
from spillway.model.specs import show_value
from spillway.policy.options import SwitchPrecedence


class SwitchReason(StrEnum):
    """Why the switches allow or refuse bursting (documented in docs/reference.md)."""

    GLOBAL_SWITCH_ON = "GlobalSwitchOn"
    GLOBAL_SWITCH_UNSET = "GlobalSwitchUnset"
    WORKLOAD_SWITCH_ON = "WorkloadSwitchOn"
    GLOBAL_SWITCH_OFF = "GlobalSwitchOff"
    WORKLOAD_SWITCH_OFF = "WorkloadSwitchOff"


@dataclass(frozen=True, slots=True)
class ParsedSwitch:
    """A switch value: True/False, or None when unset or malformed (then `warning` says why)."""

    value: bool | None
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class SwitchVerdict:
    """The switch table's answer for one pod, with the values it was computed from."""

    allowed: bool
    reason: SwitchReason
    message: str
    global_value: bool | None
    workload_value: bool | None


SWITCH_MAX_LENGTH = 64
"""A longer switch value is malformed without being read: no value of that size means "true"."""


def parse_switch(raw: str | None, where: str) -> ParsedSwitch:
    """Parse an AUTO_SCALE_EKS value ("true"/"false", any case, surrounding blanks ignored).

    None (key absent) is unset without a warning; anything else unparsable is unset plus a
    warning naming `where` (e.g. "ConfigMap kube-system/eks-config") and the value.
    """
    if raw is None:
        return ParsedSwitch(None)
    text = raw.strip().lower() if len(raw) <= SWITCH_MAX_LENGTH else ""
    if text == "true":
        return ParsedSwitch(True)
    if text == "false":
        return ParsedSwitch(False)
    return ParsedSwitch(
        None, f'{where}: {ANNOTATION_AUTO_SCALE}={show_value(raw)} is not "true" or "false"; treated as unset'
    )


GLOBAL_SWITCH_SOURCE = f"ConfigMap {EKS_CONFIG_NAMESPACE}/{EKS_CONFIG_NAME}"
WORKLOAD_SWITCH_SOURCE = "pod annotation"


def _show(value: bool | None) -> str:
    return "unset" if value is None else str(value).lower()


def switch_verdict(
    global_value: bool | None, workload_value: bool | None, precedence: SwitchPrecedence = "documented"
) -> SwitchVerdict:
    """The switch table. Documented (the product's table): bursting is allowed unless the global
    switch is false and the workload switch is not true. With precedence "workload", an explicit
    workload value decides; only an unset workload value defers to the global switch."""
    shown = (
        f"global {ANNOTATION_AUTO_SCALE}={_show(global_value)}, "
        f"workload {ANNOTATION_AUTO_SCALE}={_show(workload_value)}"
    )

    def verdict(allowed: bool, reason: SwitchReason) -> SwitchVerdict:
        word = "allowed" if allowed else "refused"
        return SwitchVerdict(allowed, reason, f"bursting {word}: {shown}", global_value, workload_value)

    if precedence == "workload" and workload_value is not None:
        return verdict(True, SwitchReason.WORKLOAD_SWITCH_ON) if workload_value else verdict(
            False, SwitchReason.WORKLOAD_SWITCH_OFF
        )
    if global_value is None:
        return verdict(True, SwitchReason.GLOBAL_SWITCH_UNSET)
    if global_value:
        return verdict(True, SwitchReason.GLOBAL_SWITCH_ON)
    if workload_value is True:
        return verdict(True, SwitchReason.WORKLOAD_SWITCH_ON)
    return verdict(False, SwitchReason.GLOBAL_SWITCH_OFF)


def evaluate_switches(
    global_raw: str | None, annotations: dict[str, str], precedence: SwitchPrecedence = "documented"
) -> tuple[SwitchVerdict, tuple[str, ...]]:
    """Parse both raw values and apply the table; returns the verdict and any warnings."""
    parsed_global = parse_switch(global_raw, GLOBAL_SWITCH_SOURCE)
    parsed_workload = parse_switch(annotations.get(ANNOTATION_AUTO_SCALE), WORKLOAD_SWITCH_SOURCE)
    warnings = tuple(w for w in (parsed_global.warning, parsed_workload.warning) if w)
    return switch_verdict(parsed_global.value, parsed_workload.value, precedence), warnings


# ---- LOCAL_REPLICAS -----------------------------------------------------------------------

_NON_NEGATIVE_INT = re.compile(r"[0-9]+")
LOCAL_REPLICAS_MAX = 2**31 - 1
"""The largest quota: a workload's replica count is an int32 in Kubernetes."""
LOCAL_REPLICAS_MAX_LENGTH = 32
"""A longer text is malformed without being read (blanks and leading zeros included)."""


@dataclass(frozen=True, slots=True)
class ParsedLocalReplicas:
    """The LOCAL_REPLICAS quota N, or None when unset or malformed (then `warning` says why)."""

    value: int | None
    warning: str | None = None


def parse_local_replicas(raw: str | None) -> ParsedLocalReplicas:
    """A decimal integer from 0 to LOCAL_REPLICAS_MAX in ASCII digits (surrounding blanks
    ignored, at most LOCAL_REPLICAS_MAX_LENGTH characters); anything else is unset plus a
    warning naming the value. None (annotation absent) is unset without a warning."""
    if raw is None:
        return ParsedLocalReplicas(None)
    text = raw.strip() if len(raw) <= LOCAL_REPLICAS_MAX_LENGTH else ""
    if _NON_NEGATIVE_INT.fullmatch(text) and int(text) <= LOCAL_REPLICAS_MAX:
        return ParsedLocalReplicas(int(text))
    return ParsedLocalReplicas(
        None,
        f"pod annotation: {ANNOTATION_LOCAL_REPLICAS}={show_value(raw)} is not an integer from 0 to "
        f"{LOCAL_REPLICAS_MAX}; treated as unset",
    )
