"""The EKS container-instance actions: validated params in, the `Response` body (minus RequestId) out.

Choices where the public docs are silent (kept faithful to observed behaviour where known):
- EksCiName is NOT unique: the real API accepts duplicates, so clients must look before creating.
- Delete is all-or-nothing: one unknown id → `ResourceNotFound` and nothing is deleted.
- Describe by EksCiIds silently omits unknown ids; more than 100 (Limit) or 20 (Delete) → `InvalidParameterValue`.
- Log of a Pending instance → `ResourceUnavailable.EksContainerStatus`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from spillway.emulator.errors import ApiError
from spillway.emulator.faults import FaultDice
from spillway.emulator.state import Record, Store, rfc3339
from spillway.emulator.validation import check_instance_spec

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
RESTART_POLICIES = ("Always", "Never", "OnFailure")
CPU_TYPES = ("intel", "amd", "amd,intel", "intel,amd")
FILTERS: dict[str, Callable[[Record], str | None]] = {
    "eks-ci-name": lambda r: r.name,
    "status": lambda r: r.status,
    "private-ip": lambda r: r.private_ip,
    "vpc-id": lambda r: r.spec["VpcId"],
    "eip-address": lambda r: None,  # the emulator never assigns EIPs
}
REGIONS: tuple[tuple[str, str, int], ...] = (
    ("ap-guangzhou", "gz", 1), ("ap-shanghai", "sh", 4), ("ap-hongkong", "hk", 5), ("ap-beijing", "bj", 8),
    ("ap-singapore", "sg", 9), ("ap-chengdu", "cd", 16), ("ap-nanjing", "nj", 33),
)


@dataclass
class Context:
    store: Store
    dice: FaultDice
    region: str
    quota: int
    zone_of: Callable[[str, str], str]  # (subnet id, region) → zone
    home_region: str = "ap-guangzhou"


def _get(ctx: Context, id_: str) -> Record:
    rec = ctx.store.records.get(id_)
    if rec is None or rec.region != ctx.region:
        raise ApiError("ResourceNotFound", f"The EKS container instance {id_} does not exist.")
    return rec


def _check_containers(containers: list[dict[str, Any]], volumes: set[str], what: str) -> None:
    names = [c["Name"] for c in containers]
    if len(set(names)) != len(names):
        raise ApiError("InvalidParameterValue", f"{what} names must be unique.")
    for c in containers:
        for m in c.get("VolumeMounts") or []:
            if m["Name"] not in volumes:
                raise ApiError("InvalidParameterValue",
                               f"VolumeMount {m['Name']!r} refers to no volume in EksCiVolume.")


def _volume_names(volume: Mapping[str, Any] | None) -> set[str]:
    volume = volume or {}
    return {v["Name"] for key in ("CbsVolumes", "NfsVolumes") for v in volume.get(key) or []}


def _check_spec(p: Mapping[str, Any]) -> None:
    if p.get("RestartPolicy") is not None and p["RestartPolicy"] not in RESTART_POLICIES:
        raise ApiError("InvalidParameterValue", f"RestartPolicy must be one of {', '.join(RESTART_POLICIES)}.")
    volumes = _volume_names(p.get("EksCiVolume"))
    if "Containers" in p:
        _check_containers(p["Containers"], volumes, "Container")
    _check_containers(p.get("InitContainers") or [], volumes, "InitContainer")


def create(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    name = p["EksCiName"]
    if not NAME_RE.match(name):
        raise ApiError("InvalidParameterValue", "EksCiName must be lower-case letters, digits and '-', start with a "
                                                "letter and be at most 63 characters.")
    check_instance_spec(p["Cpu"], p["Memory"])
    if p.get("CpuType") is not None and p["CpuType"] not in CPU_TYPES:
        raise ApiError("InvalidParameterValue", f"CpuType must be one of {', '.join(CPU_TYPES)}.")
    _check_spec(p)
    replicas = p.get("Replicas", 1)
    if replicas < 1:
        raise ApiError("InvalidParameterValue", "Replicas must be at least 1.")
    if len(ctx.store.in_region(ctx.region)) + replicas > ctx.quota:
        raise ApiError("LimitExceeded", f"The EKS container instance quota ({ctx.quota}) of the region is used up.")
    zone = ctx.zone_of(p["SubnetId"], ctx.region)
    faults = ctx.dice.faults
    if zone in faults.sold_out_zones:
        raise ApiError(faults.sold_out_code, f"The specified instance type is sold out in zone {zone}.")
    spec = {k: v for k, v in p.items() if k not in ("EksCiName", "Replicas")}
    ids = []
    for _ in range(replicas):
        fail_after = ctx.dice.fail_after(name)
        rule = faults.fail_after_start
        rec = ctx.store.create(name=name, region=ctx.region, zone=zone, spec=spec, fail_after=fail_after,
                               exit_code=rule.exit_code, reason=rule.reason)
        ids.append(rec.id)
    return {"EksCiIds": ids}


def describe(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    limit, offset = p.get("Limit", 20), p.get("Offset", 0)
    if not 0 <= limit <= 100:
        raise ApiError("InvalidParameterValue", "Limit must be between 0 and 100.")
    if offset < 0:
        raise ApiError("InvalidParameterValue", "Offset must not be negative.")
    records = ctx.store.in_region(ctx.region)
    if p.get("EksCiIds") is not None:
        wanted = set(p["EksCiIds"])
        records = [r for r in records if r.id in wanted]
    for f in p.get("Filters") or []:
        getter = FILTERS.get(f["Name"])
        if getter is None:
            raise ApiError("InvalidParameterValue", f"Unknown filter {f['Name']!r}; use one of {', '.join(FILTERS)}.")
        values = set(f["Values"])  # OR within one filter, AND across filters
        records = [r for r in records if getter(r) in values]
    return {"TotalCount": len(records), "EksCis": [r.to_api() for r in records[offset:offset + limit]]}


def delete(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    ids = list(dict.fromkeys(p["EksCiIds"]))
    if len(ids) > 20:
        raise ApiError("InvalidParameterValue", "At most 20 EksCiIds may be deleted at once.")
    for id_ in ids:
        _get(ctx, id_)
    ctx.store.delete(ids)
    return {}


def update(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    rec = _get(ctx, p["EksCiId"])
    merged = rec.spec | {k: v for k, v in p.items() if k not in ("EksCiId", "Name")}
    _check_spec(merged)
    if p.get("Name") is not None:
        if not NAME_RE.match(p["Name"]):
            raise ApiError("InvalidParameterValue", "Name must be a valid EksCiName.")
        rec.name = p["Name"]
    rec.spec = merged
    ctx.store.dirty = True
    return {"EksCiId": rec.id}


def restart(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    records = [_get(ctx, id_) for id_ in dict.fromkeys(p["EksCiIds"])]
    for rec in records:
        ctx.store.restart(rec)
    return {}


def events(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    rec = _get(ctx, p["EksCiId"])
    limit = p.get("Limit", 50)
    if not 0 < limit <= 100:
        raise ApiError("InvalidParameterValue", "Limit must be between 1 and 100.")
    out = [{"PodName": rec.name, "Reason": e.reason, "Type": e.type, "Count": e.count,
            "FirstTimestamp": rfc3339(e.first), "LastTimestamp": rfc3339(e.last), "Message": e.message}
           for e in rec.events[-limit:]]
    return {"Events": out, "EksCiId": rec.id}


def log(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    rec = _get(ctx, p["EksCiId"])
    if rec.status == "Pending" or rec.started_at is None:
        raise ApiError("ResourceUnavailable.EksContainerStatus", "The container instance is not running yet.")
    containers = {c["Name"]: c for c in rec.spec["Containers"]}
    name = p.get("ContainerName") or rec.spec["Containers"][0]["Name"]
    if name not in containers:
        raise ApiError("InvalidParameterValue", f"The instance has no container named {name!r}.")
    tail = p.get("Tail", 500)
    if not 0 <= tail <= 2000:
        raise ApiError("InvalidParameterValue", "Tail must be between 0 and 2000.")
    if p.get("Previous") and rec.restart_count == 0:
        raise ApiError("InvalidParameterValue", "The container has no previous run.")
    lines = log_lines(rec, name, containers[name]["Image"], ctx.store.clock())
    if p.get("SinceSeconds") is not None:
        lines = [(ts, line) for ts, line in lines if ts >= ctx.store.clock() - p["SinceSeconds"]]
    if p.get("StartTime"):
        try:
            since = datetime.fromisoformat(p["StartTime"].replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ApiError("InvalidParameterValue", "StartTime must be RFC 3339.") from None
        lines = [(ts, line) for ts, line in lines if ts >= since]
    text = "".join(line + "\n" for _, line in (lines[-tail:] if tail else []))
    if p.get("LimitBytes") is not None:
        text = text.encode()[-p["LimitBytes"]:].decode(errors="ignore")
    return {"ContainerName": name, "LogContent": text}


def log_lines(rec: Record, container: str, image: str, now: float) -> list[tuple[float, str]]:
    """A deterministic, plausible log: a start banner, then one line per second of uptime (≤ 3000)."""
    assert rec.started_at is not None
    end = rec.finished_at if rec.finished_at is not None else now
    count = max(0, min(3000, int(end - rec.started_at)))
    out = [(rec.started_at, f"{rfc3339(rec.started_at)} INFO {container}: starting {image} on {rec.private_ip}")]
    for i in range(1, count + 1):
        ts = rec.started_at + i
        out.append((ts, f"{rfc3339(ts)} INFO {container}: GET /healthz 200 ({i})"))
    if rec.status == "Failed":
        out.append((end, f"{rfc3339(end)} ERROR {container}: exiting with code {rec.exit_code}: {rec.reason}"))
    return out


def regions(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    known = list(REGIONS)
    if ctx.home_region not in {r[0] for r in known}:
        known.append((ctx.home_region, ctx.home_region.split("-")[-1][:2], 1000))
    return {"Regions": [{"Alias": a, "RegionName": n, "RegionId": i} for n, a, i in known], "TotalCount": len(known)}


HANDLERS: dict[str, Callable[[Context, dict[str, Any]], dict[str, Any]]] = {
    "CreateEKSContainerInstances": create,
    "DescribeEKSContainerInstances": describe,
    "DeleteEKSContainerInstances": delete,
    "UpdateEKSContainerInstance": update,
    "RestartEKSContainerInstances": restart,
    "DescribeEKSContainerInstanceEvent": events,
    "DescribeEksContainerInstanceLog": log,
    "DescribeEKSContainerInstanceRegions": regions,
}
"""Actions that change state (used to decide when to snapshot and whether a fault may act after the effect)."""
MUTATING = frozenset({"CreateEKSContainerInstances", "DeleteEKSContainerInstances", "UpdateEKSContainerInstance",
                      "RestartEKSContainerInstances"})
