"""The two Event APIs over one bucket: core/v1 is stored, events.k8s.io/v1 is a converted view
(pkg/apis/events/v1 conversion), as in the real server where both read the same objects.
"""

from __future__ import annotations

from typing import Any

from spillway.sandbox.errors import invalid

_RENAMES = (  # core/v1 field → events.k8s.io/v1 field
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("count", "deprecatedCount"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("source", "deprecatedSource"),
)
_SHARED = ("metadata", "reason", "type", "action", "eventTime", "series", "related", "reportingInstance")


def validate_core_event(event: dict[str, Any]) -> None:
    if not isinstance(event.get("involvedObject"), dict):
        name = (event.get("metadata") or {}).get("name", "")
        raise invalid("Event", "", name, [("involvedObject", "FieldValueRequired", "Required value")])


def to_events_v1(core: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "Event", "apiVersion": "events.k8s.io/v1"}
    for key in _SHARED:
        if key in core:
            out[key] = core[key]
    for old, new in _RENAMES:
        if old in core:
            out[new] = core[old]
    return out


def core_fields(event: dict[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 object read back with core/v1 field names (no validation)."""
    out = {key: event[key] for key in _SHARED if key in event}
    for old, new in _RENAMES:
        if new in event:
            out[old] = event[new]
    return out


def to_core(event: dict[str, Any]) -> dict[str, Any]:
    """Convert an events.k8s.io/v1 body (which must carry eventTime) to the stored core form."""
    name = (event.get("metadata") or {}).get("name", "")
    if not event.get("eventTime"):
        raise invalid("Event", "events.k8s.io", name, [("eventTime", "FieldValueRequired", "Required value")])
    out: dict[str, Any] = {"kind": "Event", "apiVersion": "v1"}
    for key in _SHARED:
        if key in event:
            out[key] = event[key]
    for old, new in _RENAMES:
        if new in event:
            out[old] = event[new]
    out.setdefault("involvedObject", {})
    return out
