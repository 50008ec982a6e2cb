"""A workload whose cloud instances keep failing is kept off the super nodes for a growing cool-down.

Why: a failure the cloud answers the same way every time (quota used up, credentials refused, a
spec it rejects) fails the pod, its controller makes another, and bursting that one again only
repeats the failure, hundreds of times a minute. The service follows the instance failures and
successes of each workload and hands the current back-off in; this rule and `next_backoff` are
the pure part: 30 s after the first failure, doubling per further failure up to 10 min, forgotten
once a cloud pod of the workload runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from spillway.model.kube import Pod
from spillway.policy.rules.base import Rule, RuleContext
from spillway.policy.status import Code, RuleResult, allowed

NAME = "cloud-failure-backoff"
REASON = "CloudFailureBackoff"
BASE_COOLDOWN_SECONDS = 30.0
MAX_COOLDOWN_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class CloudBackoff:
    """One workload's back-off: no new pod of it goes to a super node before `until` (epoch s).

    failures     cloud failures in a row (each one after the previous cool-down ended).
    cooldown     the length of the current cool-down, seconds.
    last_reason  the last failure's reason (the failed pod's status.reason, e.g. QuotaExceeded).
    started      when the current cool-down began (the failure's time), epoch seconds.
    """

    until: float
    failures: int
    cooldown: float
    last_reason: str
    started: float

    def active(self, now: float) -> bool:
        return now < self.until


def next_backoff(previous: CloudBackoff | None, at: float, reason: str, *,
                 base: float = BASE_COOLDOWN_SECONDS, cap: float = MAX_COOLDOWN_SECONDS) -> CloudBackoff | None:
    """The back-off after a cloud failure at `at`; None when `previous` still covers it (a pod
    decided before the cool-down began failing too must not double it). A failure long after the
    last cool-down ended (more than `cap` later) starts again from `base`."""
    if previous is not None and at < previous.until:
        return None
    if previous is None or at - previous.until > cap:
        failures, cooldown = 1, base
    else:
        failures, cooldown = previous.failures + 1, min(cap, previous.cooldown * 2)
    return CloudBackoff(until=at + cooldown, failures=failures, cooldown=cooldown, last_reason=reason, started=at)


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%SZ")


def message(backoff: CloudBackoff) -> str:
    """Stable for the whole cool-down (events are recorded once per message)."""
    return (f"the workload's cloud instances failed {backoff.failures} time(s) in a row (last: "
            f"{backoff.last_reason or 'unknown'}); its new pods stay off the super nodes until "
            f"{_clock(backoff.until)} (cool-down {backoff.cooldown:g} s, doubling up to "
            f"{MAX_COOLDOWN_SECONDS:g} s, reset once a cloud pod of it runs)")


def check(pod: Pod, ctx: RuleContext) -> RuleResult:
    backoff = ctx.cloud_backoff
    if backoff is None or not backoff.active(ctx.now):
        return allowed(NAME)
    return RuleResult(NAME, Code.REFUSED, REASON, message(backoff))


RULE = Rule(NAME, REASON, check)
