"""Kubernetes Events for decisions users must see (`kubectl describe pod`).

Like client-go's recorder: one Event object per (object, reason, message); a repeat bumps
`count` and `lastTimestamp` instead of creating another. Event names are deterministic, so a
redelivered bus message never makes a second Event.

Names are `<object name>.<suffix>` like client-go's, but always a valid name: kube-apiserver
refuses names over 253 characters (a pod name over ~242 would otherwise make every event about it
fail), so a long or odd object name is cut and cleaned, and the suffix then hashes the whole name
too, keeping names unique. An Event is a report, never a step of the caller's work: an event the
API server refuses (4xx) is logged and dropped, never raised.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from spillway.kube.client import MERGE_PATCH, KubeClient, collection_path, object_path
from spillway.kube.errors import Conflict, KubeError

log = logging.getLogger("spillway.kube.events")

MAX_NAME_LENGTH = 253
"""kube-apiserver's limit for an object name (a DNS-1123 subdomain)."""
LONG_DIGEST = 16
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NOT_IN_SUBDOMAIN = re.compile(r"[^a-z0-9.-]+")


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


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def _subdomain_prefix(name: str, limit: int) -> str:
    """At most `limit` characters of `name` made a DNS-1123 subdomain (lower case, [a-z0-9.-],
    every dot-separated label starting and ending with a letter or digit); may be empty."""
    cleaned = _NOT_IN_SUBDOMAIN.sub("-", name[: limit * 2].lower())
    labels = [label.strip("-") for label in cleaned.split(".")]
    return ".".join(label for label in labels if label)[:limit].rstrip(".-")


def _is_refusal(exc: KubeError) -> bool:
    """4xx but 408/429: the API server will answer the same to the same request."""
    return 400 <= exc.status < 500 and exc.status not in (408, 429)


class EventRecorder:
    """Creates core/v1 Events as `component` (e.g. spillway-placement) from `instance` (pod name)."""

    def __init__(self, client: KubeClient, component: str, instance: str = "") -> None:
        self._client = client
        self.component = component
        self.instance = instance

    @staticmethod
    def event_name(ref: ObjectRef, reason: str, message: str) -> str:
        """`<object name>.<10 hex>`; for an object name that would make that invalid (too long, not
        a DNS subdomain), `<cleaned prefix>.<16 hex of the whole reference>`, at most 253 characters."""
        name = f"{ref.name}.{_digest(f'{ref.uid}/{reason}/{message}', 10)}"
        if len(name) <= MAX_NAME_LENGTH and _DNS_SUBDOMAIN.fullmatch(name):
            return name
        digest = _digest(f"{ref.kind}/{ref.namespace}/{ref.name}/{ref.uid}/{reason}/{message}", LONG_DIGEST)
        head = _subdomain_prefix(ref.name, MAX_NAME_LENGTH - LONG_DIGEST - 1)
        return f"{head}.{digest}" if head else digest

    async def record(self, ref: ObjectRef, event_type: str, reason: str, message: str) -> bool:
        """Create the Event, or count a repeat of it. `event_type` is Normal or Warning. False when
        the API server refused it (logged); server errors and lost connections still raise."""
        name = self.event_name(ref, reason, message)
        try:
            await self._create_or_count(ref, name, event_type, reason, message)
        except KubeError as exc:
            if not _is_refusal(exc):
                raise
            log.warning("event refused by the API server", extra={
                "object": f"{ref.kind}/{ref.namespace}/{ref.name}"[:300], "reason": reason, "event": name,
                "status": exc.status, "error": exc.message[:300]})
            return False
        return True

    async def _create_or_count(self, ref: ObjectRef, name: str, event_type: str, reason: str, message: str) -> None:
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
