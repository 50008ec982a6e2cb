"""What the watcher does with one object it cannot decode, store or publish: say so, for that object alone.

Why here and not in the loops: the reflector and the pipeline only know that an object failed; the
watcher knows what it means for the user. Each refusal is a log line, a metric (by kind and reason
code) and, for a pod it can name, a Warning Event on the pod (`kubectl describe pod`), so one poison
object is visible where its owner looks and never stops the burst for anyone else. Events are sent
in the background, a bounded number at once: the API being slow must not slow the watch.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from typing import Any

import msgspec

from services.watcher.metrics import OBJECTS_REFUSED
from spillway.bus import PayloadTooLarge
from spillway.kube.events import EventRecorder, ObjectRef

log = logging.getLogger("spillway.watcher")

MAX_EVENTS_IN_FLIGHT = 32


class RefusalReason(enum.StrEnum):
    """Reason codes of the watcher's Warning events."""

    UNDECODABLE_OBJECT = "UndecodableObject"
    """The object does not have the shape Kubernetes gives it (e.g. a number where a string belongs)."""
    OBJECT_TOO_LARGE = "ObjectTooLarge"
    """The object is bigger than the bus can carry (NATS max_payload)."""
    INVALID_OBJECT_NAME = "InvalidObjectName"
    """Its namespace/name cannot be a bus key (not a Kubernetes name)."""
    NOT_MIRRORED = "NotMirrored"
    """Any other error that no retry can fix."""


def reason_for(exc: BaseException) -> RefusalReason:
    """The reason code of a permanent bus error or a decode error."""
    import nats.errors
    import nats.js.errors

    if isinstance(exc, msgspec.DecodeError):
        return RefusalReason.UNDECODABLE_OBJECT
    if isinstance(exc, PayloadTooLarge | nats.errors.MaxPayloadError):
        return RefusalReason.OBJECT_TOO_LARGE
    if isinstance(exc, nats.js.errors.InvalidKeyError):
        return RefusalReason.INVALID_OBJECT_NAME
    return RefusalReason.NOT_MIRRORED


_CONSEQUENCE = {
    "Pod": "Spillway cannot see this pod as it is; it is not placed in the cloud",
}


class _Identity(msgspec.Struct):
    name: Any = ""
    namespace: Any = ""
    uid: Any = ""


class _Shell(msgspec.Struct):
    metadata: _Identity = msgspec.field(default_factory=_Identity)


def identity_of(raw: bytes) -> tuple[str, str, str]:
    """(namespace, name, uid) of a raw object, each "" when absent or not a string."""
    try:
        meta = msgspec.json.decode(raw, type=_Shell).metadata
    except msgspec.DecodeError:
        return "", "", ""
    return tuple(v if isinstance(v, str) else "" for v in (meta.namespace, meta.name, meta.uid))  # type: ignore[return-value]


class RefusalReporter:
    """Logs, counts and (with a recorder) records a Warning Event on the pod for each refusal."""

    def __init__(self, recorder: EventRecorder | None = None) -> None:
        self.recorder = recorder
        self.refused = 0
        self.events_sent = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def refuse(self, kind: str, key: str, exc: BaseException, *, uid: str = "", what: str = "") -> RefusalReason:
        """Report that the object `kind` `key` was refused because of `exc`; returns the reason code."""
        reason = reason_for(exc)
        self.refused += 1
        OBJECTS_REFUSED.labels(kind, reason.value).inc()
        detail = _describe_error(exc)
        log.warning("object refused", extra={"kind": kind, "key": key, "reason": reason.value, "error": detail,
                                             "what": what})
        namespace, _, name = key.rpartition("/")
        if self.recorder is None or kind != "Pod" or not namespace or not name:
            return reason
        if len(self._tasks) >= MAX_EVENTS_IN_FLIGHT:
            log.warning("too many refusal events in flight; this one is only logged", extra={"key": key})
            return reason
        consequence = _CONSEQUENCE.get(kind, "Spillway ignores this object")
        message = f"{consequence}: {what + ': ' if what else ''}{detail}"
        ref = ObjectRef(kind=kind, namespace=namespace, name=name, uid=uid)
        task = asyncio.create_task(self._record(ref, reason.value, message), name=f"refusal-event:{key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return reason

    async def _record(self, ref: ObjectRef, reason: str, message: str) -> None:
        assert self.recorder is not None
        try:
            await self.recorder.record(ref, "Warning", reason, message)
            self.events_sent += 1
        except Exception as exc:  # the event is best effort: the log line and metric stand
            log.warning("could not record the refusal event", extra={"pod": f"{ref.namespace}/{ref.name}",
                                                                     "error": repr(exc)})

    async def drain(self) -> None:
        """Until the events sent so far were recorded (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _describe_error(exc: BaseException) -> str:
    """One line, bounded: the error's own words (msgspec names the path, never the value)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
