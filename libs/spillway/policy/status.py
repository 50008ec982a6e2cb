"""The documented status of a policy verdict, in the shape of kube-scheduler's framework.Status.

Why a small fixed code set: callers (placement, `spillway explain`, events) branch on the code,
never on message text. Every rule returns a RuleResult; the engine keeps all of them, not only
the first failure, so a user sees every reason a pod stays off the super nodes at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    """How a verdict affects placement.

    ALLOWED        the rule lets the pod go to a super node.
    REFUSED        not now, but it may change without touching the pod (a PVC not bound yet,
                   the switch turned off, no super node ready).
    NEVER_POSSIBLE the pod as specified can never run on a super node (a DaemonSet pod, a
                   reserved port); only changing the pod (its template) helps.
    ERROR          the rule could not evaluate its input (a malformed value); treated as not
                   eligible, so a broken pod never lands in the cloud by accident.
    """

    ALLOWED = "Allowed"
    REFUSED = "Refused"
    NEVER_POSSIBLE = "NeverPossible"
    ERROR = "Error"


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule's verdict. `reason` is a CamelCase reason code ("" when allowed); `message` is
    one line for events and `spillway explain`; `warnings` are malformed inputs the rule worked
    around (reported as Warning events, never fatal)."""

    name: str
    code: Code
    reason: str = ""
    message: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.code is Code.ALLOWED


def allowed(name: str, message: str = "", warnings: tuple[str, ...] = ()) -> RuleResult:
    """Shorthand for a passing verdict."""
    return RuleResult(name, Code.ALLOWED, "", message, warnings)
