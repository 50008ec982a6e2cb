"""Every reason code and event reason the policy can produce, in one place.

Why: docs/reference.md documents each code with its meaning and remedy, and a test compares the
doc with this catalogue both ways, so a new code cannot ship undocumented and a removed one
cannot linger in the doc.
"""

from __future__ import annotations

from spillway.policy.decision import DecisionReason, EventReason
from spillway.policy.nodes import NodeChoiceReason
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
        }
    )


def event_reasons() -> frozenset[str]:
    """Event reasons besides the Warning reason codes (which are reason codes themselves)."""
    return frozenset(r.value for r in EventReason)


def status_codes() -> frozenset[str]:
    return frozenset(c.value for c in Code)


def rule_names() -> tuple[str, ...]:
    return tuple(REGISTRY)
