"""The cloud seam: what the provisioner and node-status need from a container-instance cloud.

A `typing.Protocol`, so the TKE client, the emulator-backed client and test fakes are
interchangeable. Optional abilities (logs, events, a health probe) are separate Protocols; check
them with `isinstance(provider, LogSource)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from spillway.cloud.instance import CreateRequest, Instance, InstanceEvent


@runtime_checkable
class InstanceProvider(Protocol):
    async def create(self, request: CreateRequest) -> str:
        """Create the instance and return its id. Idempotent by `request.name`: when an instance
        with that name exists (from an earlier attempt, a crashed replica, a lost response), its id
        is returned and nothing is created. Raises SoldOutError(zone), QuotaError,
        InvalidRequestError, AuthError, or RetryableError once retries are exhausted."""
        ...

    async def describe(self, ids: Sequence[str]) -> dict[str, Instance]:
        """The instances that exist, keyed by id; ids that do not exist are simply absent."""
        ...

    async def describe_by_names(self, names: Sequence[str]) -> dict[str, Instance]:
        """Instances keyed by name; absent names have no instance. If a name has several
        instances (another writer raced), the oldest is returned; see list_by_name_prefix."""
        ...

    async def list_by_name_prefix(self, prefix: str) -> list[Instance]:
        """Every instance whose name starts with `prefix` (duplicates included), for orphan GC."""
        ...

    async def delete(self, ids: Sequence[str]) -> None:
        """Delete the instances. Not-found is success, so delete may be called twice (or after
        the instance vanished) safely."""
        ...

    async def close(self) -> None:
        """Release connections; the provider is unusable afterwards."""
        ...


@runtime_checkable
class LogSource(Protocol):
    async def logs(self, instance_id: str, container: str | None = None, tail: int | None = None) -> str:
        """The last `tail` lines (None: the API default, 500) of a container's log (None: the
        first container). Raises NotFoundError, or CloudError `ResourceUnavailable.EksContainerStatus`
        while the instance is not running yet."""
        ...


@runtime_checkable
class HealthProbe(Protocol):
    async def probe(self) -> None:
        """One cheap call that succeeds only while the cloud API answers, made once, without
        retries (a retried call would hide the outage it is meant to see). Raises CloudError."""
        ...


@runtime_checkable
class EventSource(Protocol):
    async def events(self, instance_id: str) -> list[InstanceEvent]:
        """The instance's recent events, oldest first. Raises NotFoundError."""
        ...
