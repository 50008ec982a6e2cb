"""The bus credentials: a user from the file or SPILLWAY_NATS_USER, the password a Secret from
SPILLWAY_NATS_PASSWORD (or the file) that never shows in a repr, an error or a log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from spillway.config import ConfigError, Secret, load_config, parse_config
from spillway.telemetry import JsonFormatter, register_secret

PASSWORD = "nats-pw-NEVER-PRINTED-7"


def test_password_from_env_wins_and_is_a_secret() -> None:
    config = parse_config({"nats": {"user": "watcher", "password": "from-file"}},
                          env={"SPILLWAY_NATS_PASSWORD": PASSWORD})
    assert config.nats.user == "watcher"
    assert config.nats.password == Secret(PASSWORD)
    assert PASSWORD not in repr(config) and PASSWORD not in f"{config.nats}" and "'***'" in repr(config.nats)


def test_user_from_env_wins_over_the_shared_file() -> None:
    config = parse_config({"nats": {"user": "watcher"}}, env={"SPILLWAY_NATS_USER": "placement"})
    assert config.nats.user == "placement"
    assert parse_config({}, env={}).nats.user == "" and parse_config({}, env={}).nats.password is None


def test_a_password_without_a_user_is_named_not_shown() -> None:
    with pytest.raises(ConfigError, match=r"^<config>: nats\.user: required when a NATS password is set$") as err:
        parse_config({}, env={"SPILLWAY_NATS_PASSWORD": PASSWORD})
    assert PASSWORD not in str(err.value)


@pytest.mark.parametrize("text", [
    f"nats:\n  password: {PASSWORD}\n  url: [1]\n",
    f"nats:\n  password: [{PASSWORD}]\n",
    f"nats:\n  password: {PASSWORD}\n  : : :\n",
])
def test_password_never_in_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert PASSWORD not in str(err.value)


def test_a_registered_password_is_masked_in_log_lines() -> None:
    register_secret(PASSWORD)  # what run_service does with nats.password
    record = logging.LogRecord("spillway", logging.WARNING, __file__, 1, "connect failed: %s",
                               (f"nats://watcher:{PASSWORD}@nats:4222",), None)
    line = JsonFormatter("spillway-test").format(record)
    assert PASSWORD not in line and "***" in line
