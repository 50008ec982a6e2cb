"""Fixtures for the cluster behaviour: `cluster` is a sandbox with the workload
controllers, the scheduler, the fake kubelet and webhooks on and one local node (node-1,
2 cpu, 4Gi, 110 pods) with zero kubelet delays; `make_cluster(**options)` picks other options."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from spillway.sandbox import Sandbox
from spillway.sandbox.topology import uniform
from tests.fixtures.sandbox import SandboxFactory

ClusterFactory = Callable[..., Coroutine[Any, Any, Sandbox]]


CLUSTER_DEFAULTS: dict[str, Any] = {
    "nodes": uniform(1), "workload_controllers": True, "scheduler": True, "kubelet": True, "webhooks": True,
    "kubelet_delay": 0.0, "kubelet_job_duration": 0.0, "kubelet_lease_interval": 0.2,
}


@pytest.fixture
def make_cluster(make_sandbox: SandboxFactory) -> ClusterFactory:
    """`make_sandbox` with the cluster behaviour on (any option may be overridden)."""

    async def make(**fields: Any) -> Sandbox:
        return await make_sandbox(**(CLUSTER_DEFAULTS | fields))

    return make


@pytest.fixture
async def cluster(make_cluster: ClusterFactory) -> Sandbox:
    return await make_cluster()

