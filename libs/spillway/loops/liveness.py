"""Heartbeats of the supervised loops and tasks of one process, and what `/healthz` says about them.

A periodic loop beats at every round; one that has not beaten for its `stuck_after` seconds is
stuck (a round that never returns). A supervised task that keeps crashing, or a loop that exited
by something other than cancellation, is dead. Either makes `problems()` non-empty, which the
runtime turns into a 503 on `/healthz` naming each one and why, so Kubernetes restarts the pod.
A loop that merely fails (the cloud is down) stays alive: a restart would not help it.

One `Liveness` per service (the runtime owns it and hands it out as `Context.liveness`), never a
process-wide one: tests run several services in one process.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from spillway.loops.clock import SYSTEM_CLOCK, Clock


@dataclass
class Heartbeat:
    """One tracked loop or task; made by `Liveness.track`, forgotten by `close()`."""

    name: str
    kind: str
    stuck_after: float | None
    last_beat: float
    liveness: Liveness
    token: int
    dead: str | None = None
    healthy_from: float | None = None
    """When `dead` is set: the moment it counts as recovered (None = not before it is revived)."""

    def beat(self) -> None:
        self.last_beat = self.liveness.clock.monotonic()

    def die(self, why: str) -> None:
        """Report it dead until `revive` and `stable_for` seconds without another `die`."""
        self.dead, self.healthy_from = why, None

    def revive(self, stable_for: float) -> None:
        """It runs again; if it was dead, it is healthy once it has run `stable_for` seconds."""
        now = self.liveness.clock.monotonic()
        self.last_beat = now
        if self.dead is not None:
            self.healthy_from = now + stable_for

    def close(self) -> None:
        self.liveness.forget(self)

    def problem(self, now: float) -> str | None:
        if self.dead is not None and (self.healthy_from is None or now < self.healthy_from):
            return f"{self.kind} {self.name!r} is dead: {self.dead}"
        if self.stuck_after is not None and now - self.last_beat > self.stuck_after:
            return (f"{self.kind} {self.name!r} is stuck: no heartbeat for {now - self.last_beat:.0f}s "
                    f"(deadline {self.stuck_after:g}s)")
        return None


class Liveness:
    """The registry: `track` a loop or task, `problems()` for `/healthz`."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._tracked: dict[int, Heartbeat] = {}
        self._tokens = itertools.count()

    def track(self, name: str, *, kind: str = "loop", stuck_after: float | None = None) -> Heartbeat:
        """Start tracking; `stuck_after` None = never stuck (only dead counts)."""
        token = next(self._tokens)
        heart = Heartbeat(name, kind, stuck_after, self.clock.monotonic(), self, token)
        self._tracked[token] = heart
        return heart

    def forget(self, heart: Heartbeat) -> None:
        self._tracked.pop(heart.token, None)

    def names(self) -> list[str]:
        return sorted(h.name for h in self._tracked.values())

    def problems(self) -> list[str]:
        """One line per dead or stuck loop or task; empty when all is well."""
        now = self.clock.monotonic()
        return sorted(p for h in self._tracked.values() if (p := h.problem(now)) is not None)
