"""Injectable faults: what the emulator does wrong on purpose, set by flags or `POST /_admin/faults`.

Decisions draw from one seeded RNG, so a test with a fixed seed sees the same failures.
"""

from __future__ import annotations

import random
import re
from typing import Any

import msgspec


class ErrorRule(msgspec.Struct, forbid_unknown_fields=True):
    """Answer `code` for a fraction `rate` of the calls (of `action`, or of all actions).

    `after_effect=True` performs the action first and then answers the error — the case that
    makes naive retries create duplicates.
    """

    code: str
    rate: float
    action: str | None = None
    after_effect: bool = False
    message: str = "Injected fault."


class FailAfterStart(msgspec.Struct, forbid_unknown_fields=True):
    """Instances created while set go Running, then Failed `after_seconds` later with `exit_code`/`reason`."""

    fraction: float = 0.0
    name_pattern: str | None = None
    after_seconds: float = 0.0
    exit_code: int = 1
    reason: str = "Error"


class Faults(msgspec.Struct, forbid_unknown_fields=True):
    errors: list[ErrorRule] = msgspec.field(default_factory=list)
    latency_ms: float = 0.0
    sold_out_zones: list[str] = msgspec.field(default_factory=list)
    sold_out_code: str = "ResourceInsufficient.SpecifiedInstanceType"
    fail_after_start: FailAfterStart = msgspec.field(default_factory=FailAfterStart)

    def update(self, patch: dict[str, Any]) -> None:
        """Replace the fields present in `patch` (validated as a whole first)."""
        merged = msgspec.structs.asdict(self) | patch
        new = msgspec.convert(merged, Faults)
        for name in self.__struct_fields__:
            setattr(self, name, getattr(new, name))

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = msgspec.to_builtins(self)
        return result


class FaultDice:
    """Rolls the dice for a Faults configuration."""

    def __init__(self, faults: Faults, seed: int | None = None) -> None:
        self.faults = faults
        self.rng = random.Random(seed)

    def error_for(self, action: str) -> ErrorRule | None:
        for rule in self.faults.errors:
            if rule.action in (None, action) and self.rng.random() < rule.rate:
                return rule
        return None

    def fail_after(self, name: str) -> float | None:
        """Seconds after start at which a new instance named `name` fails, or None."""
        spec = self.faults.fail_after_start
        by_name = spec.name_pattern is not None and re.search(spec.name_pattern, name) is not None
        if by_name or (spec.fraction > 0 and self.rng.random() < spec.fraction):
            return spec.after_seconds
        return None
