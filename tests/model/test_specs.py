"""Instance sizing (DESIGN §6): the smallest TKE Serverless spec that fits."""

from fractions import Fraction as F

import pytest

from spillway.model.specs import QuantityError, is_valid_spec, memory_gib, parse_quantity, smallest_fitting_spec


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
