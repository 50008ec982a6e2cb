"""resource.Quantity as kube-apiserver reads and writes it: every quantity is decoded on the way
in (a JSON number or a string) and serialised as its canonical string on the way out, so a pod
sent with `cpu: 1` and `cpu: 0.5` is stored as "1" and "500m" (apimachinery
pkg/api/resource/quantity.go `ParseQuantity`, `CanonicalizeBytes`).

Rules kept from the Go code: the suffix format (decimal SI, binary SI, decimal exponent) is
remembered and reused; the mantissa has no fractional digits and the largest possible suffix;
values with at most 18 digits and a scale of at least nano keep their exact value (no cap, any
exponent: "1e30" stays "1e30"); others are rounded up to nano and capped at 2^63-1 (the cap of
released versions; the newest apimachinery drops it for decimal values); a binary value below
1024 in magnitude, or with a fraction, is written in decimal SI ("0.5Gi" → "512Mi",
"0.1Ki" → "102400m"). A decimal-SI value past the largest suffix is written with an exponent
("1000E" → "1e21"), as the newest release does.

Bounded: a quantity longer than MAX_LENGTH characters is refused (real servers accept longer
ones; none is plausible), and exponents are never materialised as powers: huge magnitudes
saturate to the cap and tiny ones round to 1n by comparing digit counts. Every parse costs
microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LENGTH = 128
MAX_INT64 = (1 << 63) - 1
REGEX = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT = f"quantities must match the regular expression '{REGEX}'"
ERR_SUFFIX = "unable to parse quantity's suffix"
ERR_NUMERIC = "unable to parse numeric part of quantity"

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {v: k for k, v in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT = {0: "", **{v // 10: k for k, v in _BINARY_SUFFIXES.items()}}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")
_NANO = -9
_MAX_DIGITS_FAST = 18  # maxInt64Factors: more digits take the slow (rounded, capped) path
_CAP_NANOS = MAX_INT64 * 10**9

DECIMAL_SI, BINARY_SI, DECIMAL_EXPONENT = "DecimalSI", "BinarySI", "DecimalExponent"


class QuantityError(ValueError):
    """The value is not a quantity; the message is the Go error's text."""


@dataclass(frozen=True)
class Quantity:
    """mantissa * 10^exponent, in the format its suffix asked for."""

    mantissa: int
    exponent: int
    format: str

    def canonical(self) -> str:
        return _canonical(self)


def _split(text: str) -> tuple[bool, str, str, str]:
    """parseQuantityString: sign, numerator (no leading zeros), denominator, suffix."""
    positive, pos, end = True, 0, len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos += 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos] or "0"
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(ERR_FORMAT)
    return positive, num, denom, text[suffix_start:end]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) of a suffix; a decimal exponent is truncated to int32 like Go."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:].lstrip("+-")
        if len(suffix) - len(digits) > 2 or not digits or len(digits) > 19:
            raise QuantityError(ERR_SUFFIX)
        parsed = int(suffix[1:])
        if not -(1 << 63) <= parsed < (1 << 63):
            raise QuantityError(ERR_SUFFIX)
        wrapped = (parsed + (1 << 31)) % (1 << 32) - (1 << 31)
        return 10, wrapped, DECIMAL_EXPONENT
    raise QuantityError(ERR_SUFFIX)


def parse(text: str) -> Quantity:
    """ParseQuantity, bounded. Raises QuantityError with the Go message."""
    if not text:
        raise QuantityError(ERR_FORMAT)
    if len(text) > MAX_LENGTH:
        raise QuantityError(ERR_NUMERIC)
    if text == "0":
        return Quantity(0, 0, DECIMAL_SI)
    positive, num, denom, suffix = _split(text)
    base, exponent, fmt = _interpret(suffix)
    sign = 1 if positive else -1
    if base == 10:
        if len(num) + len(denom) <= _MAX_DIGITS_FAST and exponent - len(denom) >= _NANO:
            return Quantity(sign * int(num + denom), exponent - len(denom), fmt)
        return _slow(sign, num + denom, exponent - len(denom), 0, fmt)
    if not denom:
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
        if precision >= 0:
            return Quantity(sign * (int(num) << exponent), 0, fmt)
    return _slow(sign, num + denom, -len(denom), exponent, fmt)


def _slow(sign: int, digits: str, scale: int, binary_exponent: int, fmt: str) -> Quantity:
    """The inf.Dec path: value = digits * 10^scale * 2^binary_exponent, rounded up (away from
    zero) to nano and capped at 2^63-1, without ever building 10^|scale| for a huge scale."""
    digits = digits.lstrip("0")
    if not digits:
        return Quantity(0, 0, fmt)
    stripped = digits.rstrip("0")
    scale += len(digits) - len(stripped)
    digits = stripped
    magnitude = len(digits) + scale  # value < 10^magnitude * 2^binary_exponent
    if magnitude - 1 > 19 + binary_exponent:  # ≥ 10^(magnitude-1) > cap
        nanos = _CAP_NANOS
    elif magnitude + 1 + binary_exponent * 0.302 < _NANO:  # < 1n: rounds up to 1n
        nanos = 1
    else:
        value = int(digits) << binary_exponent
        shift = scale - _NANO
        # a negative shift divides with ceil: round up, away from zero (the sign comes later)
        nanos = min(value * 10**shift if shift >= 0 else -(-value // 10**-shift), _CAP_NANOS)
    if fmt == BINARY_SI and 0 < nanos < 10**9:
        fmt = DECIMAL_SI
    return Quantity(sign * nanos, _NANO, fmt)


def _strip_tens(mantissa: int, exponent: int) -> tuple[int, int]:
    if mantissa == 0:
        return 0, 0
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    return mantissa, exponent


def _canonical(q: Quantity) -> str:
    if q.mantissa == 0:
        return "0"
    fmt = q.format
    if fmt == BINARY_SI:
        whole = _as_integer(q)
        if whole is None or abs(whole) < 1024:
            fmt = DECIMAL_SI
        else:
            power = 0
            while whole % 1024 == 0 and power < 6:
                whole //= 1024
                power += 1
            return f"{whole}{_BINARY_BY_EXPONENT[power]}"
    mantissa, exponent = _strip_tens(q.mantissa, q.exponent)
    while exponent % 3 != 0:
        mantissa *= 10
        exponent -= 1
    if fmt == DECIMAL_SI and exponent in _DECIMAL_BY_EXPONENT:
        return f"{mantissa}{_DECIMAL_BY_EXPONENT[exponent]}"
    return f"{mantissa}e{exponent}" if exponent else str(mantissa)


def _as_integer(q: Quantity) -> int | None:
    """The value when it is a whole number (binary quantities have exponent 0 or -9)."""
    if q.exponent >= 0:
        return int(q.mantissa * 10**q.exponent) if q.exponent < 40 else None
    divisor: int = 10 ** (-q.exponent)
    whole, rest = divmod(abs(q.mantissa), divisor)
    if rest:
        return None
    return whole if q.mantissa > 0 else -whole


def canonicalize(value: object) -> str:
    """What kube-apiserver stores for a JSON value in a Quantity field."""
    return decode(value).canonical()


def decode(value: object) -> Quantity:
    """A JSON value of a Quantity field as kube-apiserver's decoder reads it.

    Strings are trimmed and parsed; JSON numbers are parsed from their text (a float's shortest
    repr, which is what JSON carried for every value a float can hold exactly); null is zero.
    Anything else fails like the Go decoder does (with the regex message)."""
    if value is None:
        return Quantity(0, 0, DECIMAL_SI)
    if isinstance(value, bool):
        raise QuantityError(ERR_FORMAT)
    if isinstance(value, int):
        text = str(value) if value.bit_length() <= 256 else ("-" if value < 0 else "") + "9" * 80
    elif isinstance(value, float):
        text = repr(value)
        if "inf" in text or "nan" in text:
            raise QuantityError(ERR_FORMAT)
        text = text.replace("e+", "e")
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise QuantityError(ERR_FORMAT)
    return parse(text)


def ceil_scaled(q: Quantity, exponent: int) -> int:
    """`ScaledValue`: q in units of 10^exponent, rounded away from zero (so MilliValue is
    exponent -3, Value 0), saturated at the int64 bounds without building a huge power."""
    if q.mantissa == 0:
        return 0
    sign, magnitude, shift = (1 if q.mantissa > 0 else -1), abs(q.mantissa), q.exponent - exponent
    if shift >= 0:
        value = MAX_INT64 if len(str(magnitude)) + shift > 19 else magnitude * 10**shift
    elif -shift > len(str(magnitude)):  # below one unit: rounds to one
        value = 1
    else:
        value = -(-magnitude // 10**-shift)
    return sign * min(value, MAX_INT64)
