"""Fixtures: a KubeClient on the sandbox, and a running cloud-provisioner against sandbox + emulator + NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from services.cloud_provisioner import main as provisioner_main
from spillway.emulator.server import Emulator
from spillway.kube import KubeClient
from spillway.sandbox import Sandbox
from tests.services.cloud_provisioner.harness import cloud_config, fast_provider
from tests.services.conftest import RunningService, ServiceEnv

RunProvisioner = Callable[..., AbstractAsyncContextManager[RunningService]]


@pytest.fixture
async def kube(sandbox: Sandbox) -> AsyncIterator[KubeClient]:
    await sandbox.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "spillway"}})  # where leader leases live
    client = await KubeClient.connect(str(sandbox.kubeconfig_path))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def run_provisioner(services_env: ServiceEnv, emulator: Emulator) -> RunProvisioner:
    """`async with run_provisioner(provisioner={...}) as svc:` runs one replica (call again for more)."""

    def run(clock: Any = None, **sections: Any) -> AbstractAsyncContextManager[RunningService]:
        kwargs: dict[str, Any] = {"provider_factory": fast_provider(emulator)}
        if clock is not None:
            kwargs["clock"] = clock
        config = cloud_config(emulator, **sections)
        return services_env.run(lambda: provisioner_main.build_service(**kwargs), config=config)

    return run
