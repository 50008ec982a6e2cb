"""PolicyOptions from the configuration file: placement, admission and cloud-provisioner all read
the policy, and they must agree, so they all build it here; likewise the return timings."""

from __future__ import annotations

import msgspec

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
    return ReturnSettings(**msgspec.structs.asdict(config.placement.return_to_local))
