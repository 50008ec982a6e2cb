"""Fixtures: node-status (and cloud-provisioner) running in-process against sandbox + emulator + NATS."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from services.cloud_provisioner import main as provisioner_main
from services.cloud_provisioner.main import ProvisionerService
from services.node_status import main as node_status_main
from services.node_status.main import NodeStatusService
from spillway.emulator.server import Emulator
from spillway.sandbox import Sandbox
from tests.fixtures.cloud import MutableClock
from tests.services.cloud_provisioner.conftest import RunProvisioner, kube, naming, raw_api  # noqa: F401  (fixtures)
from tests.services.cloud_provisioner.harness import cloud_config, fast_provider
from tests.services.conftest import RunningService, ServiceEnv

Run = Callable[..., AbstractAsyncContextManager[RunningService[NodeStatusService]]]
FAST = {"kubeletPort": 0, "address": "127.0.0.1", "leaseRenewSeconds": 0.05, "healthCheckSeconds": 0.05,
        "nodeStatusSeconds": 0.5, "statusSyncSeconds": 0.05, "resyncSeconds": 0.5, "cloudFailureThreshold": 3}


@pytest.fixture
def run_node_status(services_env: ServiceEnv, emulator: Emulator, sandbox: Sandbox,
                    emulator_clock: MutableClock) -> Run:
    """`async with run_node_status(nodeStatus={...}) as svc:`; the clock is the emulator's."""

    def run(**sections: Any) -> AbstractAsyncContextManager[RunningService[NodeStatusService]]:
        node_status = {**FAST, "clientCaFile": str(sandbox.pki.ca_path), **sections.pop("nodeStatus", {})}
        config = cloud_config(emulator, nodeStatus=node_status, **sections)
        return services_env.run(lambda: node_status_main.build_service(
            provider_factory=fast_provider(emulator), clock=emulator_clock), config=config)

    return run


@pytest.fixture
def run_provisioner(services_env: ServiceEnv, emulator: Emulator) -> RunProvisioner:
    def run(**sections: Any) -> AbstractAsyncContextManager[RunningService[ProvisionerService]]:
        return services_env.run(lambda: provisioner_main.build_service(provider_factory=fast_provider(emulator)),
                                config=cloud_config(emulator, **sections))

    return run
