"""Instance sizing (docs/design.md §6): the smallest TKE Serverless spec that fits; quantity parsing by
Kubernetes' grammar, bounded (hostile values cost microseconds and raise only QuantityError)."""

import math
from decimal import Decimal
from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spillway.model.specs import QuantityError, is_valid_spec, memory_gib, parse_quantity, smallest_fitting_spec
from tests.model.pod_strategies import grammar_quantity, hostile_text


@pytest.mark.parametrize(
    ("cpu", "mem", "expected"),
    [
        pytest.param(0, 0, "1C/2G", id="nothing requested → 1C/2G"),
        pytest.param(4, 6, "4C/8G", id="memory raised to the range minimum"),
        pytest.param(0, 8, "1C/8G", id="memory moves cpu up"),
        pytest.param(3, 1, "4C/8G", id="cpu rounds up, memory raised"),
        pytest.param(F(1, 4), F(1, 2), "0.25C/0.5G", id="smallest spec"),
        pytest.param(F(1, 2), 5, "1C/5G", id="above the 0.5 range moves up"),
        pytest.param(64, 512, "64C/512G", id="largest spec"),
    ],
)
def test_smallest_fitting_spec(cpu: int | F, mem: int | F, expected: str) -> None:
    spec = smallest_fitting_spec(F(cpu), F(mem))
    assert spec is not None
    assert str(spec) == expected
    assert is_valid_spec(spec.cpu, spec.memory_gib)


@pytest.mark.parametrize(("cpu", "mem"), [(65, 1), (64, 513), (8, 33 * 16)])
def test_too_large_is_not_eligible(cpu: int, mem: int) -> None:
    assert smallest_fitting_spec(F(cpu), F(mem)) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("250m", F(1, 4)), ("1.5", F(3, 2)), ("2", F(2)), ("1e3", F(1000)), ("1k", F(1000)), ("512Mi", F(2**29))],
)
def test_parse_quantity(text: str, value: F) -> None:
    assert parse_quantity(text) == value


def test_memory_gib() -> None:
    assert memory_gib("1536Mi") == F(3, 2)


@pytest.mark.parametrize("bad", ["", "abc", "-1", "1Xi"])
def test_bad_quantity(bad: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(bad)


# ---- Kubernetes' quantity grammar, bounded ------------------------------------------------

MAX = F(2**63 - 1)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("0", F(0), id="zero"),
        pytest.param("-0", F(0), id="negative zero is zero"),
        pytest.param("+1", F(1), id="plus sign"),
        pytest.param(".5", F(1, 2), id="no integer part"),
        pytest.param("1.", F(1), id="no fraction digits"),
        pytest.param("1.G", F(10**9), id="point before a suffix"),
        pytest.param("100n", F(1, 10**7), id="nano"),
        pytest.param("3u", F(3, 10**6), id="micro"),
        pytest.param("1E", F(10**18), id="exa, not an exponent"),
        pytest.param("1Ei", F(2**60), id="exbi"),
        pytest.param("1.5Ki", F(1536), id="fractional binary"),
        pytest.param("1E3", F(1000), id="capital exponent"),
        pytest.param("5e-1", F(1, 2), id="negative exponent"),
        pytest.param("1.5e+2", F(150), id="signed exponent with a fraction"),
        pytest.param(" 2 ", F(2), id="blanks trimmed as kube's JSON decoding does"),
        pytest.param("0.1n", F(1, 10**9), id="below 1n rounds up to 1n"),
        pytest.param("1.0000000001", F(1000000001, 10**9), id="rounded up to the nano"),
        pytest.param("1e-30000000", F(1, 10**9), id="tiny exponent: 1n"),
        pytest.param("1e30000000", MAX, id="huge exponent: capped at 2^63-1"),
        pytest.param("1E2147483647", MAX, id="int32 exponent: capped"),
        pytest.param("10000000000000000000", MAX, id="20 digits: capped"),
        pytest.param("9223372036854775807", MAX, id="2^63-1 exactly"),
        pytest.param("8Ei", MAX, id="binary above the cap"),
        pytest.param("0e2147483647", F(0), id="zero with a huge exponent"),
        pytest.param("0" * 60 + "1k", F(1000), id="64 characters"),
    ],
)
def test_kubernetes_grammar(text: str, value: F) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "bad",
    [
        "Infinity", "-Infinity", "inf", "NaN", "nan", "+", "-", ".", "e3", "1e", "1e+", "1e1.5", "1K", "1ki", "1Mb",
        "1 k", "0x10", "1_000", "\u0661", "1Ki1", "--1", "1e2147483648", "1e-2147483649", "1e99999999999",
        "0" * 64 + "1", "9" * 5000, "-1", "-1e30000000", "-.5m",
    ],
)
def test_not_a_quantity(bad: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(bad)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), -1, -0.5, True, None, [1], {"a": 1}])
def test_non_string_values_that_are_not_quantities(value: object) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(value)  # type: ignore[arg-type]  # deliberately not a str


@pytest.mark.parametrize(("value", "expected"), [(2, F(2)), (0.5, F(1, 2)), (1e300, MAX), (2**4000, MAX)])
def test_numbers(value: int | float, expected: F) -> None:
    assert parse_quantity(value) == expected


def test_error_messages_quote_a_cut_value() -> None:
    with pytest.raises(QuantityError) as caught:
        parse_quantity("7" * 70000)
    assert len(str(caught.value)) < 200 and "70000 characters" in str(caught.value)


def _reference(sign: str, digits: str, frac: str, suffix: str) -> F:
    """The value by the book (exact decimal arithmetic), with kube's rounding and cap."""
    exact = F(Decimal(f"{digits or '0'}.{frac or '0'}"))
    binary = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
    decimal = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
    if suffix in binary:
        exact *= 2 ** binary[suffix]
    elif suffix in decimal:
        exact *= F(10) ** decimal[suffix]
    else:
        exact *= F(10) ** int(suffix[1:])
    if exact >= MAX:
        return MAX
    return F(math.ceil(exact * 10**9), 10**9)


digits = st.text(alphabet="0123456789", max_size=12)
suffixes = st.one_of(
    st.sampled_from(["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]),
    st.builds(lambda e, x: f"{e}{x:+d}" if x < 0 or e == "E" else f"{e}{x}", st.sampled_from("eE"),
              st.integers(-30, 30)),
)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["", "+"]), digits, st.one_of(st.none(), digits), suffixes)
def test_matches_exact_decimal_arithmetic(sign: str, whole: str, frac: str | None, suffix: str) -> None:
    """Within moderate exponents (where exact arithmetic is cheap) the bounded parser agrees
    with Decimal → Fraction, rounded and capped as kube does."""
    if not whole and not frac:
        return
    text = f"{sign}{whole}{'' if frac is None else '.' + frac}{suffix}"
    assert parse_quantity(text) == _reference(sign, whole, frac or "", suffix)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.text(alphabet="0123456789.+-eEKMGTPinumk ", max_size=80),
                 grammar_quantity, hostile_text))
def test_any_text_is_a_bounded_value_or_a_quantity_error(text: str) -> None:
    try:
        value = parse_quantity(text)
    except QuantityError as exc:
        assert len(str(exc)) < 200
        return
    assert 0 <= value <= MAX
    assert (value * 10**9).denominator == 1  # a whole number of nanos
