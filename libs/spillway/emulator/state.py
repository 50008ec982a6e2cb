"""The emulator's instances: lifecycle (Pending → Running → maybe Failed), IPs, events, snapshots.

Time comes from an injected wall clock (`clock()` → Unix seconds); transitions are applied
lazily by `tick` at each request, so tests move the clock instead of sleeping.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import random
import string
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from spillway.emulator.errors import ApiError

WallClock = Callable[[], float]
SNAPSHOT_FILE = "emulator-state.json"
_ID_ALPHABET = string.ascii_lowercase + string.digits
# EksCi.Containers carries the Container model's fields only (the SDK warns on unknown ones).
_CONTAINER_FIELDS = ("Image", "Name", "Args", "Commands", "Cpu", "EnvironmentVars", "GpuLimit", "LivenessProbe",
                     "Memory", "ReadinessProbe", "SecurityContext", "VolumeMounts", "WorkingDir")


def api_time(ts: float) -> str:
    """The EksCi time format, e.g. `2021-06-24 03:32:02 +0000 UTC`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Event(msgspec.Struct):
    reason: str
    type: str
    message: str
    first: float
    last: float
    count: int = 1


class Record(msgspec.Struct):
    """One container instance, as the emulator keeps it (API fields are derived in `to_api`)."""

    id: str
    name: str
    region: str
    zone: str
    status: str
    spec: dict[str, Any]  # the validated create parameters (Containers, SubnetId, Cpu, ...)
    private_ip: str
    created_at: float
    start_at: float
    started_at: float | None = None
    fail_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    restart_count: int = 0
    events: list[Event] = msgspec.field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        """The EksCi model of DescribeEKSContainerInstances (model fields only)."""
        s = self.spec
        out: dict[str, Any] = {
            "EksCiId": self.id, "EksCiName": self.name, "Status": self.status, "PrivateIp": self.private_ip,
            "Cpu": s["Cpu"], "Memory": s["Memory"], "CpuType": s.get("CpuType", "intel"),
            "Containers": [self._container(c, main=True) for c in s["Containers"]],
            "InitContainers": [self._container(c, main=False) for c in s.get("InitContainers") or []],
            "RestartPolicy": s.get("RestartPolicy") or "Always", "SecurityGroupIds": s["SecurityGroupIds"],
            "SubnetId": s["SubnetId"], "VpcId": s["VpcId"], "CreationTime": api_time(self.created_at),
        }
        for key in ("EksCiVolume", "GpuType", "GpuCount", "CamRoleName"):
            if s.get(key) is not None:
                out[key] = s[key]
        return out

    def _container(self, c: dict[str, Any], *, main: bool) -> dict[str, Any]:
        out = {k: c[k] for k in _CONTAINER_FIELDS if c.get(k) is not None}
        state: dict[str, Any] = {"RestartCount": self.restart_count}
        if self.status == "Pending" or self.started_at is None:
            state["State"] = "created"
        elif not main or self.status == "Failed":
            state.update(State="exited", StartTime=api_time(self.started_at))
            state["ExitCode"] = self.exit_code if main and self.exit_code is not None else 0
            state["Reason"] = (self.reason or "Error") if main else "Completed"
            if self.finished_at is not None:
                state["FinishTime"] = api_time(self.finished_at)
        else:
            state.update(State="running", StartTime=api_time(self.started_at))
        out["CurrentState"] = state
        out["RestartCount"] = self.restart_count
        return out

    def add_event(self, now: float, reason: str, message: str, type_: str = "Normal") -> None:
        for event in self.events:
            if event.reason == reason and event.message == message:
                event.count += 1
                event.last = now
                return
        self.events.append(Event(reason, type_, message, now, now))


def subnet_network(subnet_id: str) -> ipaddress.IPv4Network:
    """A deterministic 10.x.y.0/20 per subnet id, so IPs look like a real VPC subnet's."""
    h = hashlib.sha256(subnet_id.encode()).digest()
    return ipaddress.IPv4Network(f"10.{h[0]}.{h[1] & 0xF0}.0/20")


class Store:
    """All instances of all regions, with unique IPs per subnet and a dirty flag for snapshots."""

    def __init__(self, clock: WallClock, start_delay: float, seed: int | None = None) -> None:
        self.clock = clock
        self.start_delay = start_delay
        self.records: dict[str, Record] = {}
        self.rng = random.Random(seed)
        self.dirty = False
        self._used_ips: dict[str, set[str]] = {}
        self._cursor: dict[str, int] = {}
        self._changing: set[str] = set()  # ids with a transition still ahead (tick looks only at these)
        self.calls: Counter[str] = Counter()  # requests received per action (benchmarks count these)
        self.errors: defaultdict[str, Counter[str]] = defaultdict(Counter)  # action → error code → count

    # ---- lifecycle ------------------------------------------------------------------------

    def tick(self) -> None:
        """Apply every transition that is due at the clock's current time."""
        now = self.clock()
        for id_ in list(self._changing):
            rec = self.records.get(id_)
            if rec is None:
                self._changing.discard(id_)
                continue
            if rec.status == "Pending" and now >= rec.start_at:
                rec.status, rec.started_at = "Running", rec.start_at
                for c in rec.spec["Containers"]:
                    rec.add_event(rec.start_at, "Pulled", f'Successfully pulled image "{c["Image"]}"')
                    rec.add_event(rec.start_at, "Started", f"Started container {c['Name']}")
                self.dirty = True
            if rec.status == "Running" and rec.fail_at is not None and now >= rec.fail_at:
                rec.status, rec.finished_at = "Failed", rec.fail_at
                rec.add_event(rec.fail_at, "Failed", f"Container exited with code {rec.exit_code}: {rec.reason}",
                              "Warning")
                self.dirty = True
            if rec.status != "Pending" and not (rec.status == "Running" and rec.fail_at is not None):
                self._changing.discard(id_)

    def create(self, *, name: str, region: str, zone: str, spec: dict[str, Any],
               fail_after: float | None, exit_code: int = 1, reason: str = "Error") -> Record:
        now = self.clock()
        rec = Record(id=self._new_id(), name=name, region=region, zone=zone, status="Pending", spec=spec,
                     private_ip=self._allocate_ip(spec["SubnetId"]), created_at=now, start_at=now + self.start_delay,
                     exit_code=exit_code if fail_after is not None else None,
                     reason=reason if fail_after is not None else None)
        if fail_after is not None:
            rec.fail_at = rec.start_at + fail_after
        rec.add_event(now, "Scheduled", f"Successfully assigned {name} to {zone}")
        self.records[rec.id] = rec
        self._changing.add(rec.id)
        self.dirty = True
        self.tick()
        return rec

    def delete(self, ids: Iterable[str]) -> None:
        for id_ in ids:
            rec = self.records.pop(id_, None)
            if rec is not None:
                self._used_ips.get(rec.spec["SubnetId"], set()).discard(rec.private_ip)
                self.dirty = True

    def restart(self, rec: Record) -> None:
        now = self.clock()
        rec.restart_count += 1
        if rec.status != "Pending":
            rec.status, rec.started_at, rec.fail_at, rec.finished_at = "Running", now, None, None
            rec.exit_code = rec.reason = None
        rec.add_event(now, "Restarted", "Instance restarted")
        self.dirty = True

    def in_region(self, region: str) -> list[Record]:
        return [r for r in self.records.values() if r.region == region]

    def count_by_name(self, name: str) -> int:
        return sum(1 for r in self.records.values() if r.name == name)

    def reset_calls(self) -> None:
        self.calls.clear()
        self.errors.clear()

    def reset(self) -> None:
        self.records.clear()
        self._changing.clear()
        self._used_ips.clear()
        self.dirty = True

    # ---- ids and addresses -----------------------------------------------------------------

    def _new_id(self) -> str:
        while True:
            id_ = "eksci-" + "".join(self.rng.choice(_ID_ALPHABET) for _ in range(8))
            if id_ not in self.records:
                return id_

    def _allocate_ip(self, subnet_id: str) -> str:
        net = subnet_network(subnet_id)
        used = self._used_ips.setdefault(subnet_id, set())
        # Tencent reserves the first addresses and the last of a subnet; scan on from the last one handed out.
        first, size = 4, net.num_addresses - 5
        start = self._cursor.get(subnet_id, 0)
        for step in range(size):
            offset = (start + step) % size
            ip = str(net.network_address + first + offset)
            if ip not in used:
                used.add(ip)
                self._cursor[subnet_id] = offset + 1
                return ip
        raise ApiError("ResourceInsufficient", f"The subnet {subnet_id} has no free IP address.")

    # ---- snapshots -------------------------------------------------------------------------

    def save(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / (SNAPSHOT_FILE + ".tmp")
        tmp.write_bytes(msgspec.json.encode(list(self.records.values())))
        os.replace(tmp, data_dir / SNAPSHOT_FILE)
        self.dirty = False

    def load(self, data_dir: Path) -> None:
        path = data_dir / SNAPSHOT_FILE
        if not path.exists():
            return
        records = msgspec.json.decode(path.read_bytes(), type=list[Record])
        self.records = {r.id: r for r in records}
        self._changing = {r.id for r in records if r.status in ("Pending", "Running")}
        self._used_ips = {}
        for r in records:
            self._used_ips.setdefault(r.spec["SubnetId"], set()).add(r.private_ip)
        self.dirty = False
