"""Kubernetes Events for decisions users must see (`kubectl describe pod`).

Like client-go's recorder: one Event object per (object, reason, message); a repeat bumps
`count` and `lastTimestamp` instead of creating another. Event names are deterministic, so a
redelivered bus message never makes a second Event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from spillway.kube.client import MERGE_PATCH, KubeClient, collection_path, object_path
from spillway.kube.errors import Conflict


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """What an Event is about (`involvedObject`)."""

    kind: str
    namespace: str
    name: str
    uid: str = ""
    api_version: str = "v1"
    resource_version: str = ""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Creates core/v1 Events as `component` (e.g. spillway-placement) from `instance` (pod name)."""

    def __init__(self, client: KubeClient, component: str, instance: str = "") -> None:
        self._client = client
        self.component = component
        self.instance = instance

    @staticmethod
    def event_name(ref: ObjectRef, reason: str, message: str) -> str:
        digest = hashlib.sha256(f"{ref.uid}/{reason}/{message}".encode()).hexdigest()[:10]
        return f"{ref.name}.{digest}"

    async def record(self, ref: ObjectRef, event_type: str, reason: str, message: str) -> None:
        """Create the Event, or count a repeat of it. `event_type` is Normal or Warning."""
        name = self.event_name(ref, reason, message)
        now = _now()
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ref.namespace},
            "involvedObject": {
                "kind": ref.kind, "namespace": ref.namespace, "name": ref.name, "uid": ref.uid,
                "apiVersion": ref.api_version,
            },
            "reason": reason,
            "message": message[:1024],
            "type": event_type,
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self._client.request("POST", collection_path("v1", "events", ref.namespace), body=body)
        except Conflict:
            path = object_path("v1", "events", name, ref.namespace)
            current = await self._client.get_as(path, dict[str, Any])
            patch = {"count": int(current.get("count") or 1) + 1, "lastTimestamp": now}
            await self._client.patch(path, patch, content_type=MERGE_PATCH)
