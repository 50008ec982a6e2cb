"""TKE Serverless instance specs (docs/design.md §6) and Kubernetes quantity parsing.

One table serves the translation (pod → smallest spec that fits) and the policy's size rule
(above the largest spec → never eligible).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
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


_SPECS_ASCENDING: tuple[tuple[Fraction, tuple[Fraction, ...]], ...] = tuple(
    (cpu, tuple(sorted(Fraction(m) for m in memories))) for cpu, memories in sorted(SPEC_TABLE.items()))
"""SPEC_TABLE in the order `smallest_fitting_spec` walks it: by cpu, each cpu's memories ascending."""


def is_valid_spec(cpu: float | Fraction, memory_gib: float | Fraction) -> bool:
    """True when the API accepts this exact Cpu/Memory pair."""
    cpu_f = Fraction(cpu).limit_denominator(1000)
    mem_f = Fraction(memory_gib).limit_denominator(1000)
    return cpu_f in SPEC_TABLE and mem_f in {Fraction(m) for m in SPEC_TABLE[cpu_f]}


@functools.lru_cache(maxsize=1024)
def smallest_fitting_spec(cpu: Fraction, memory_gib: Fraction) -> InstanceSpec | None:
    """The smallest spec with cpu ≥ `cpu` whose memory range holds `memory_gib`, raising memory
    to the range minimum; None when even the largest spec is too small (not eligible). Remembered:
    a cluster's pods come in a few sizes, and every decision and every cloud pod's cost asks."""
    if cpu == 0 and memory_gib == 0:
        cpu, memory_gib = DEFAULT_CPU, DEFAULT_MEMORY_GIB
    for spec_cpu, memories in _SPECS_ASCENDING:
        if spec_cpu < cpu:
            continue
        for mem in memories:
            if mem >= memory_gib:
                return InstanceSpec(spec_cpu, mem)
    return None


# ---- quantities ---------------------------------------------------------------------------
#
# Kubernetes' grammar (k8s.io/apimachinery resource.Quantity):
#   <quantity>     ::= <signedNumber><suffix>
#   <signedNumber> ::= <number> | <sign><number>          <sign> ::= "+" | "-"
#   <number>       ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
#   <suffix>       ::= <binarySI> | <decimalExponent> | <decimalSI>
#   <binarySI>     ::= Ki | Mi | Gi | Ti | Pi | Ei
#   <decimalSI>    ::= n | u | m | "" | k | M | G | T | P | E
#   <decimalExponent> ::= "e" <signedInteger> | "E" <signedInteger>   (an int32, as kube parses it)
# Kubernetes rounds any non-zero value up to a multiple of 1n and caps it at 2^63-1; so do we.
# The text is at most QUANTITY_MAX_LENGTH characters and the value is bounded before any big
# number is built, so a hostile value ("1e30000000") costs microseconds, not a 10^30000000 integer.

QUANTITY_MAX_LENGTH = 64
"""Longer texts are refused. Canonical quantities (what kube-apiserver stores) are ≤ 30 characters."""
PARSED_QUANTITIES = 4096
"""Quantity texts remembered once parsed (the most recent win): a bounded table of ≤ 64-character keys."""
QUANTITY_MAX = Fraction(2**63 - 1)
"""kube's cap: larger values parse as this."""
QUANTITY_RESOLUTION = Fraction(1, 10**9)
"""kube's finest step (1n): non-zero values are rounded up to a multiple of it."""
_INT32 = (-(2**31), 2**31 - 1)

_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?"
    r"(?:(?P<binary>[KMGTPE]i)|[eE](?P<exponent>[+-]?[0-9]+)|(?P<decimal>[numkMGTPE]))?"
)
_BINARY_EXPONENT = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_EXPONENT = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_MAX_DIGITS = len(str(2**63 - 1))  # 19: a value with more integer digits is above the cap


class QuantityError(ValueError):
    """A value that is not a non-negative Kubernetes resource quantity."""


def show_value(raw: object, limit: int = 40) -> str:
    """repr() of a user's value, cut to `limit` characters so a hostile value cannot flood a
    warning, an event or a log line."""
    text = raw if isinstance(raw, str) else str(type(raw).__name__)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} characters)"


def parse_quantity(text: str | int | float) -> Fraction:
    """Parse a non-negative Kubernetes quantity ("250m", "1.5", "512Mi", "1e3") exactly, with
    kube's rounding (up to 1n) and cap (2^63-1). Raises QuantityError for anything else:
    negative values, Infinity/NaN, texts longer than QUANTITY_MAX_LENGTH, exponents beyond int32."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise QuantityError(f"invalid quantity: a {type(text).__name__}, not a string")
    if isinstance(text, int):
        if text < 0:
            raise QuantityError("negative quantity")
        return QUANTITY_MAX if text > QUANTITY_MAX else Fraction(text)
    if isinstance(text, float):
        if not math.isfinite(text):
            raise QuantityError(f"invalid quantity {text!r}")
        text = repr(text)  # "1e+300", "0.5": both in the grammar
    if len(text) > QUANTITY_MAX_LENGTH:
        raise QuantityError(f"invalid quantity {show_value(text)}: longer than {QUANTITY_MAX_LENGTH} characters")
    return _parse_text(text)


@functools.lru_cache(maxsize=PARSED_QUANTITIES)
def _parse_text(text: str) -> Fraction:
    """A quantity text at most QUANTITY_MAX_LENGTH long; remembered, since a cluster's pods repeat a
    few texts ("100m", "128Mi") and every decision and size reads them (a refusal is not remembered)."""
    s = text.strip()  # kube's JSON decoding trims blanks too
    match = _QUANTITY.fullmatch(s)
    if match is None or not (match["int"] or match["frac"]):
        raise QuantityError(f"invalid quantity {show_value(text)}")
    return _bounded_value(match, text)


def _bounded_value(match: re.Match[str], text: str) -> Fraction:
    frac = match["frac"] or ""
    mantissa = int((match["int"] or "") + frac or "0")  # ≤ QUANTITY_MAX_LENGTH digits
    if match["exponent"] is not None:
        exponent = int(match["exponent"])
        if not _INT32[0] <= exponent <= _INT32[1]:
            raise QuantityError(f"invalid quantity {show_value(text)}: exponent beyond int32")
    else:
        exponent = _DECIMAL_EXPONENT[match["decimal"] or ""]
    if mantissa == 0:
        return Fraction(0)
    if match["sign"] == "-":
        raise QuantityError(f"negative quantity {show_value(text)}")
    if match["binary"]:
        value = Fraction(mantissa * 2 ** _BINARY_EXPONENT[match["binary"]], 10 ** len(frac))
        return _kube_rounding(value)
    scale = exponent - len(frac)  # value = mantissa * 10^scale
    magnitude = len(str(mantissa)) + scale  # 10^(magnitude-1) ≤ value < 10^magnitude
    if magnitude > _MAX_DIGITS:
        return QUANTITY_MAX
    if magnitude <= -9:
        return QUANTITY_RESOLUTION  # below 1n: kube rounds it up to 1n
    value = Fraction(mantissa * 10**scale) if scale >= 0 else Fraction(mantissa, 10**-scale)
    return _kube_rounding(value)


def _kube_rounding(value: Fraction) -> Fraction:
    """Round up to a multiple of 1n and cap at 2^63-1, as kube does."""
    if value >= QUANTITY_MAX:
        return QUANTITY_MAX
    nanos = math.ceil(value / QUANTITY_RESOLUTION)
    return nanos * QUANTITY_RESOLUTION


def cpu_cores(text: str | int | float) -> Fraction:
    return parse_quantity(text)


def memory_gib(text: str | int | float) -> Fraction:
    return parse_quantity(text) / 2**30
