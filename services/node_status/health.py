"""Is the cloud answering? Ready only while it is; NotReady after N consecutive failed checks.

One cheap call per check (DescribeEKSContainerInstances, Limit 1, without the client's retries —
a retried call would hide exactly the outage we want to see). One failure is noise; `threshold`
in a row flips the super nodes NotReady with reason CloudUnreachable; one success flips back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from services.node_status.nodes import NOT_READY_REASON, Readiness
from spillway.cloud import CloudError, InstanceProvider
from spillway.cloud.provider import HealthProbe

Probe = Callable[[], Awaitable[None]]


def default_probe(provider: InstanceProvider) -> Probe:
    async def probe() -> None:
        if isinstance(provider, HealthProbe):
            await provider.probe()
        else:
            await provider.list_by_name_prefix("spillway-health-probe-")

    return probe


class CloudHealth:
    def __init__(self, probe: Probe, *, threshold: int = 3, timeout: float = 10.0) -> None:
        self.probe = probe
        self.threshold = max(1, threshold)
        self.timeout = timeout
        self.failures = 0
        self.last_error = ""

    async def check(self) -> Readiness:
        try:
            await asyncio.wait_for(self.probe(), self.timeout)
        except (CloudError, TimeoutError, OSError) as exc:
            self.failures += 1
            self.last_error = str(exc) if isinstance(exc, CloudError) else type(exc).__name__
        else:
            self.failures = 0
        return self.readiness()

    def readiness(self) -> Readiness:
        if self.failures < self.threshold:
            return Readiness(True)
        return Readiness(False, NOT_READY_REASON,
                         f"the cloud API failed {self.failures} checks in a row; last error: {self.last_error}")
