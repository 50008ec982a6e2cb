"""TKE Serverless instance specs (DESIGN §6) and Kubernetes quantity parsing.

One table serves the translation (pod → smallest spec that fits), the policy's size rule
(above the largest spec → never eligible) and the emulator (reject what the cloud rejects).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

# CPU cores → the memory sizes (GiB) allowed with it. Ranges are integer steps.
SPEC_TABLE: dict[Fraction, tuple[int | Fraction, ...]] = {
    Fraction(1, 4): (Fraction(1, 2), 1, 2),
    Fraction(1, 2): (1, 2, 3, 4),
    Fraction(1): tuple(range(1, 9)),
    Fraction(2): tuple(range(4, 17)),
    Fraction(4): tuple(range(8, 33)),
    Fraction(8): tuple(range(16, 33)),
    Fraction(12): tuple(range(24, 49)),
    Fraction(16): tuple(range(32, 65)),
    Fraction(32): (64, 128, 256),
    Fraction(64): (128, 192, 256, 512),
}
LARGEST_CPU = max(SPEC_TABLE)
LARGEST_MEMORY_GIB = max(max(m) for m in SPEC_TABLE.values())
DEFAULT_CPU = Fraction(1)
DEFAULT_MEMORY_GIB = Fraction(2)


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """A valid (cpu cores, memory GiB) pair of the API."""

    cpu: Fraction
    memory_gib: Fraction

    @property
    def cpu_float(self) -> float:
        return float(self.cpu)

    @property
    def memory_float(self) -> float:
        return float(self.memory_gib)

    def __str__(self) -> str:
        return f"{_fmt(self.cpu)}C/{_fmt(self.memory_gib)}G"


def _fmt(x: Fraction) -> str:
    return str(int(x)) if x.denominator == 1 else str(float(x))


def is_valid_spec(cpu: float | Fraction, memory_gib: float | Fraction) -> bool:
    """True when the API accepts this exact Cpu/Memory pair."""
    cpu_f = Fraction(cpu).limit_denominator(1000)
    mem_f = Fraction(memory_gib).limit_denominator(1000)
    return cpu_f in SPEC_TABLE and mem_f in {Fraction(m) for m in SPEC_TABLE[cpu_f]}


def smallest_fitting_spec(cpu: Fraction, memory_gib: Fraction) -> InstanceSpec | None:
    """The smallest spec with cpu ≥ `cpu` whose memory range holds `memory_gib`, raising memory
    to the range minimum; None when even the largest spec is too small (not eligible)."""
    if cpu == 0 and memory_gib == 0:
        cpu, memory_gib = DEFAULT_CPU, DEFAULT_MEMORY_GIB
    for spec_cpu in sorted(SPEC_TABLE):
        if spec_cpu < cpu:
            continue
        for mem in sorted(Fraction(m) for m in SPEC_TABLE[spec_cpu]):
            if mem >= memory_gib:
                return InstanceSpec(spec_cpu, mem)
    return None


# ---- quantities ---------------------------------------------------------------------------

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
            "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
            "P": Fraction(10**15), "E": Fraction(10**18)}


class QuantityError(ValueError):
    """A string that is not a Kubernetes resource quantity."""


def parse_quantity(text: str | int | float) -> Fraction:
    """Parse a Kubernetes quantity ("250m", "1.5", "512Mi", "1e3") exactly."""
    if isinstance(text, int | float):
        return Fraction(text)
    s = text.strip()
    if not s:
        raise QuantityError("empty quantity")
    for suffix, mult in _BINARY.items():
        if s.endswith(suffix):
            return _number(s[: -len(suffix)], text) * mult
    if s[-1] in _DECIMAL and s[-1] != "" and not s[-1].isdigit():
        return _number(s[:-1], text) * _DECIMAL[s[-1]]
    return _number(s, text)


def _number(s: str, original: str) -> Fraction:
    try:
        value = Fraction(Decimal(s))
    except (InvalidOperation, ValueError):
        raise QuantityError(f"invalid quantity {original!r}") from None
    if value < 0:
        raise QuantityError(f"negative quantity {original!r}")
    return value


def cpu_cores(text: str | int | float) -> Fraction:
    return parse_quantity(text)


def memory_gib(text: str | int | float) -> Fraction:
    return parse_quantity(text) / 2**30
