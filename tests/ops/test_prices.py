"""`cloud.prices`: documented example defaults, your own values, and a bad value refused at
start-up with the key named (exit status 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spillway.cli.run import main as run_main
from spillway.config import ConfigError, Prices, parse_config


def test_the_defaults_are_the_documented_examples() -> None:
    assert parse_config({}).cloud.prices == Prices(vcpu_hour=0.1, memory_gib_hour=0.05, currency="CNY")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    assert "vcpuHour: 0.1 " in doc and "memoryGiBHour: 0.05 " in doc and "not Tencent's prices" in doc


def test_your_prices_are_read() -> None:
    prices = parse_config({"cloud": {"prices": {"vcpuHour": 0.3, "memoryGiBHour": 1, "currency": "USD"}}}).cloud.prices
    assert prices == Prices(vcpu_hour=0.3, memory_gib_hour=1.0, currency="USD")


@pytest.mark.parametrize(("prices", "message"), [
    ({"vcpuHour": -0.1}, "cloud.prices.vcpuHour: must be a finite number >= 0"),
    ({"memoryGiBHour": float("inf")}, "cloud.prices.memoryGiBHour: must be a finite number >= 0"),
    ({"memoryGiBHour": float("nan")}, "cloud.prices.memoryGiBHour: must be a finite number >= 0"),
    ({"vcpuHour": "cheap"}, "cloud.prices.vcpuHour: expected float, got str"),
    ({"gpuHour": 1}, "cloud.prices.gpuHour: unknown key"),
])
def test_a_bad_price_is_refused_naming_its_key(prices: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"cloud": {"prices": prices}}, "config.yaml")
    assert str(caught.value) == f"config.yaml: {message}"


def test_a_service_refuses_to_start_on_a_bad_price(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("cloud:\n  prices:\n    memoryGiBHour: -2\n")
    assert run_main(["placement", "--config", str(config)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"spillway run: {config}: cloud.prices.memoryGiBHour: must be a finite number >= 0")
