"""PolicyOptions from the configuration file: placement, admission and cloud-provisioner all read
the policy, and they must agree, so they all build it here; likewise the return timings."""

from __future__ import annotations

from spillway.config.schema import Config
from spillway.policy import PolicyOptions
from spillway.policy.returns import ReturnSettings


def policy_options(config: Config) -> PolicyOptions:
    placement = config.placement
    return PolicyOptions(
        switch_precedence=placement.switch_precedence,
        excluded_namespaces=frozenset(placement.excluded_namespaces),
        deletion_cost=placement.deletion_cost,
        subnets=tuple((s.id, s.zone) for s in config.cloud.subnets),
    )


def return_settings(config: Config) -> ReturnSettings:
    r = config.placement.return_to_local
    return ReturnSettings(stable_seconds=r.stable_seconds, min_cloud_seconds=r.min_cloud_seconds,
                          max_per_minute=r.max_per_minute, cooldown_seconds=r.cooldown_seconds,
                          settle_seconds=r.settle_seconds, check_seconds=r.check_seconds)
