"""placement.returnToLocal: defaults, camelCase keys, and every invalid value refused naming its key."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spillway.config import ConfigError, parse_config, return_settings
from spillway.policy.returns import ReturnSettings


def test_defaults_are_the_documented_ones() -> None:
    assert return_settings(parse_config({}, env={})) == ReturnSettings(
        stable_seconds=60, min_cloud_seconds=300, max_per_minute=10, cooldown_seconds=600, settle_seconds=120,
        check_seconds=10)


def test_keys_are_camel_case_and_reach_the_settings() -> None:
    keys = {"stableSeconds": 1, "minCloudSeconds": 2, "maxPerMinute": 3, "cooldownSeconds": 4, "settleSeconds": 5,
            "checkSeconds": 0.5}
    settings = return_settings(parse_config({"placement": {"returnToLocal": keys}}, env={}))
    assert settings == ReturnSettings(1, 2, 3, 4, 5, 0.5)


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("stableSeconds", -1, "must be a number >= 0"),
    ("minCloudSeconds", math.nan, "must be a number >= 0"),
    ("cooldownSeconds", math.inf, "must be a number >= 0"),
    ("settleSeconds", 0, "must be a number > 0"),
    ("checkSeconds", 0, "must be a number > 0"),
    ("checkSeconds", -math.inf, "must be a number > 0"),
    ("maxPerMinute", 0, "must be >= 1"),
    ("maxPerMinute", 1.5, "expected int, got float"),
    ("stableSecs", 1, "unknown key"),
])
def test_invalid_values_name_their_key(key: str, value: float, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"placement": {"returnToLocal": {key: value}}}, "config.yaml", env={})
    assert info.value.key == f"placement.returnToLocal.{key}"
    assert problem in info.value.problem


def test_spillway_run_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("placement:\n  returnToLocal:\n    checkSeconds: 0\n")
    result = subprocess.run([sys.executable, "-m", "spillway.cli", "run", "placement", "--config", str(path)],
                            capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"spillway run: {path}: placement.returnToLocal.checkSeconds: must be a number > 0"]
