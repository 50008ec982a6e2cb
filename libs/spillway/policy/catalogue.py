"""Every reason code and event reason the policy can produce, in one place.

Why: docs/reference.md documents each code with its meaning and remedy, and a test compares the
doc with this catalogue both ways, so a new code cannot ship undocumented and a removed one
cannot linger in the doc. The services' own Warning reasons (an object the watcher cannot carry, a
create the cloud refused, a pod whose status cannot be written) are listed here as data, since the
policy sits below the services; a test finds the reasons the services pass to events and checks
that each is here.
"""

from __future__ import annotations

from spillway.policy.decision import DecisionReason, EventReason
from spillway.policy.nodes import NodeChoiceReason
from spillway.policy.returns import ReturnReason
from spillway.policy.rules import REGISTRY, rule_reason_codes
from spillway.policy.status import Code
from spillway.policy.switches import SwitchReason


def reason_codes() -> frozenset[str]:
    """Reason codes a Decision, RuleResult or NodeChoice may carry."""
    return frozenset(
        {
            *(r.value for r in SwitchReason),
            *rule_reason_codes(),
            *(r.value for r in NodeChoiceReason),
            *(r.value for r in DecisionReason),
            *(r.value for r in ReturnReason),
        }
    )


SERVICE_WARNING_REASONS: dict[str, str] = {
    "UndecodableObject": "watcher",
    "ObjectTooLarge": "watcher",
    "InvalidObjectName": "watcher",
    "NotMirrored": "watcher",
    "TranslationWarning": "cloud-provisioner",
    "ProvisioningFailed": "cloud-provisioner",
    "ZoneSoldOut": "cloud-provisioner",
    "InstanceLost": "node-status",
    "PodUpdateRefused": "node-status",
}
"""Warning event reasons a service records by itself (not a decision's reason code) → the service."""


def service_reasons() -> frozenset[str]:
    """Warning reasons the watcher, cloud-provisioner and node-status record on objects."""
    return frozenset(SERVICE_WARNING_REASONS)


def documented_reasons() -> frozenset[str]:
    """Everything the reason-code table of docs/reference.md lists: reason codes and service reasons."""
    return reason_codes() | service_reasons()


def event_reasons() -> frozenset[str]:
    """Event reasons besides the Warning reason codes (which are reason codes themselves); a
    return's Normal event carries its reason code."""
    return frozenset({*(r.value for r in EventReason), ReturnReason.RETURNED.value})


def status_codes() -> frozenset[str]:
    return frozenset(c.value for c in Code)


def rule_names() -> tuple[str, ...]:
    return tuple(REGISTRY)
