"""Metric labels from loop and task names, bounded: names come from code, but a bug that made them
from data must not grow the metrics without end."""

from __future__ import annotations

MAX_NAMES = 64
OVERFLOW = "other"
_seen: set[str] = set()


def bounded(name: str) -> str:
    """`name` itself for the first MAX_NAMES names of the process, then `other`."""
    if name in _seen:
        return name
    if len(_seen) >= MAX_NAMES:
        return OVERFLOW
    _seen.add(name)
    return name
