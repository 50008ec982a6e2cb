"""The workload controllers of the sandbox (kube-controller-manager's, in-process): Deployment,
ReplicaSet, StatefulSet, Job and DaemonSet, and the disruption controller (PodDisruptionBudget
status). Each is a `Reconciler` (base.py) reading and writing through the store, so every change
shows in watches like a real controller's.

`run_workload_controllers(sb)` is the `SandboxOptions.controllers` entry that starts them all.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from spillway.sandbox.controllers.daemonset import DaemonSetController
from spillway.sandbox.controllers.deployment import DeploymentController
from spillway.sandbox.controllers.disruption import DisruptionController
from spillway.sandbox.controllers.job import JobController
from spillway.sandbox.controllers.replicaset import ReplicaSetController
from spillway.sandbox.controllers.statefulset import StatefulSetController

if TYPE_CHECKING:
    from spillway.sandbox.server import Sandbox

CONTROLLERS = (DeploymentController, ReplicaSetController, StatefulSetController, JobController, DaemonSetController,
               DisruptionController)


async def run_workload_controllers(sb: Sandbox) -> None:
    tasks = [asyncio.create_task(cls(sb.store).run()) for cls in CONTROLLERS]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


__all__ = ["CONTROLLERS", "run_workload_controllers"]
