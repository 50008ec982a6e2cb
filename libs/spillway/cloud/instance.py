"""Small frozen views of what the API returns, decoupled from the SDK's models."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec


class ContainerStatus(msgspec.Struct, frozen=True):
    name: str
    image: str
    state: str  # created | running | exited | unknown ("" when the API gave none)
    restart_count: int = 0
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Instance(msgspec.Struct, frozen=True):
    id: str
    name: str
    status: str  # Pending | Running | Succeeded | Failed
    private_ip: str | None
    subnet_id: str | None
    vpc_id: str | None
    zone: str | None  # known only through the configured subnet → zone mapping
    cpu: float | None
    memory_gib: float | None
    created_at: datetime | None
    containers: tuple[ContainerStatus, ...] = ()
    init_containers: tuple[ContainerStatus, ...] = ()
    restart_policy: str | None = None


class InstanceEvent(msgspec.Struct, frozen=True):
    reason: str
    type: str
    message: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None


class CreateRequest(msgspec.Struct, frozen=True):
    """One instance to create.

    `params` are CreateEKSContainerInstances parameters in the API's field names (Containers,
    SubnetId, VpcId, SecurityGroupIds, Cpu, Memory, ...) — what `spillway.translate` produces.
    `name` becomes EksCiName (see `naming.InstanceNaming`) and is what makes create idempotent.
    """

    name: str
    params: dict[str, Any]

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CreateRequest:
        """From a full request that carries its EksCiName (what `translate_pod` returns)."""
        return cls(name=str(params["EksCiName"]), params=params)

    def __repr__(self) -> str:  # params may hold registry passwords and secret env values
        return f"CreateRequest(name={self.name!r}, subnet={self.params.get('SubnetId')!r})"


def parse_time(text: str | None) -> datetime | None:
    """The API's `2021-06-24 03:32:02 +0000 UTC`, or RFC 3339."""
    if not text:
        return None
    try:
        if text.endswith(" UTC"):
            return datetime.strptime(text[:-4], "%Y-%m-%d %H:%M:%S %z")
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _container(c: Mapping[str, Any]) -> ContainerStatus:
    state = c.get("CurrentState") or {}
    return ContainerStatus(
        name=c.get("Name") or "", image=c.get("Image") or "", state=state.get("State") or "",
        restart_count=int(c.get("RestartCount") or state.get("RestartCount") or 0),
        exit_code=state.get("ExitCode"), reason=state.get("Reason"), message=state.get("Message"),
        started_at=parse_time(state.get("StartTime")), finished_at=parse_time(state.get("FinishTime")),
    )


def instance_from_api(data: Mapping[str, Any], zones: Mapping[str, str] | None = None) -> Instance:
    subnet = data.get("SubnetId")
    return Instance(
        id=data["EksCiId"], name=data.get("EksCiName") or "", status=data.get("Status") or "",
        private_ip=data.get("PrivateIp") or None, subnet_id=subnet, vpc_id=data.get("VpcId"),
        zone=(zones or {}).get(subnet) if subnet else None, cpu=data.get("Cpu"), memory_gib=data.get("Memory"),
        created_at=parse_time(data.get("CreationTime")),
        containers=tuple(_container(c) for c in data.get("Containers") or []),
        init_containers=tuple(_container(c) for c in data.get("InitContainers") or []),
        restart_policy=data.get("RestartPolicy"),
    )


def event_from_api(data: Mapping[str, Any]) -> InstanceEvent:
    return InstanceEvent(
        reason=data.get("Reason") or "", type=data.get("Type") or "", message=data.get("Message") or "",
        count=int(data.get("Count") or 1), first_seen=parse_time(data.get("FirstTimestamp")),
        last_seen=parse_time(data.get("LastTimestamp")),
    )
