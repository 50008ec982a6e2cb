"""What every scenario measures with: a pod observer on the API (first seen, bound, running,
deleted, per uid), peak RSS of the stack's processes, and the emulator's call counts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from spillway.cli.stack import LocalStack
from spillway.kube import KubeClient
from spillway.kube.client import collection_path
from spillway.kube.reflector import RawEvent, Reflector
from spillway.model.kube import Pod, decode_pod


@dataclass
class PodTimes:
    first_seen: float
    gated: bool = False
    bound: float | None = None
    node: str = ""
    running: float | None = None
    deleted: float | None = None
    terminating: float | None = None


@dataclass
class PodObserver:
    """Watches pods matching a label selector and stamps each transition with monotonic time."""

    kube: KubeClient
    namespace: str
    label_selector: str
    pods: dict[str, PodTimes] = field(default_factory=dict)
    latest: dict[str, Pod] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def _handle(self, event: RawEvent) -> None:
        now = time.monotonic()
        if event.type == "DELETED":
            for uid, pod in list(self.latest.items()):
                if f"{pod.metadata.namespace}/{pod.metadata.name}" == event.key:
                    self.pods[uid].deleted = now
                    del self.latest[uid]
            self.changed.set()
            return
        pod = decode_pod(event.raw)
        uid = pod.metadata.uid
        times = self.pods.get(uid)
        if times is None:
            times = self.pods[uid] = PodTimes(first_seen=now, gated=pod.is_gated_by())
        self.latest[uid] = pod
        if pod.spec.node_name and times.bound is None:
            times.bound, times.node = now, pod.spec.node_name
        if pod.status.phase == "Running" and times.running is None:
            times.running = now
        if pod.is_terminating() and times.terminating is None:
            times.terminating = now
        self.changed.set()

    async def start(self) -> None:
        reflector = Reflector(self.kube, collection_path("v1", "pods", self.namespace), self._handle,
                              label_selector=self.label_selector)
        self._task = asyncio.create_task(reflector.run())
        await reflector.synced.wait()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait_until(self, predicate: Any, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 1.0))
        return True

    def count(self, attr: str) -> int:
        return sum(1 for t in self.pods.values() if getattr(t, attr) is not None)


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM of a live process, in MB (None once it has exited)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a live process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stack_cpu(stack: LocalStack) -> dict[str, float]:
    found = {name: cpu_seconds(pid) for name, pid in stack.pids().items()}
    return {name: value for name, value in found.items() if value is not None}


def stack_rss(stack: LocalStack) -> dict[str, float | None]:
    return {name: peak_rss_mb(pid) for name, pid in stack.pids().items()}


async def emulator_calls(stack: LocalStack) -> dict[str, int]:
    async with aiohttp.ClientSession() as session, session.get(f"{stack.emulator_url}/_admin/state") as resp:
        state: dict[str, Any] = await resp.json()
    calls: dict[str, int] = state.get("calls", {})
    return calls


def cores() -> int:
    return len(os.sched_getaffinity(0))
