"""Fuzzing: random config files and malformed bus payloads are answered with a
reason, never with a crash. (The policy, the translation and admission have their own
hypothesis properties in tests/policy and tests/translate.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spillway.config import ConfigError, parse_config
from spillway.config.loader import load_config
from spillway.model import messages

SECRET = "s3cr3t-VALUE-never-shown"

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False),
                    st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)
known_keys = st.sampled_from(["cloud", "eklet", "nats", "kubernetes", "placement", "telemetry", "admission"])
cloud_keys = st.sampled_from(["appID", "ownerUIN", "secretID", "secretKey", "vpcID", "regionShort", "regionLong",
                              "subnets", "apiEndpoint", "clusterID", "securityGroupIds", "instanceQuota"])
configs = st.one_of(
    json_values,
    st.dictionaries(known_keys, json_values, max_size=4),
    st.builds(lambda cloud: {"cloud": cloud | {"secretKey": SECRET}},
              st.dictionaries(cloud_keys, json_values, max_size=6)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_config_answers_every_document_with_a_config_or_one_line(data: Any) -> None:
    try:
        parse_config(data, "fuzz.yaml", env={})
    except ConfigError as exc:
        text = str(exc)
        assert "\n" not in text and text.startswith("fuzz.yaml")
        assert SECRET not in text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_config_file_bytes_never_crash_the_loader(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(raw)
    try:
        load_config(str(path), env={})
    except ConfigError as exc:
        assert "\n" not in str(exc)


def test_config_yaml_error_does_not_quote_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"cloud:\n  secretKey: {SECRET}\n  subnets: [unclosed\n")
    try:
        load_config(str(path), env={})
    except ConfigError as exc:
        assert SECRET not in str(exc)
    else:
        raise AssertionError("a broken YAML file must be a ConfigError")


payloads = st.one_of(
    st.binary(max_size=120),
    json_values.map(lambda v: msgspec.json.encode(v)),
    st.builds(lambda extra: msgspec.json.encode({"v": 1, **extra}),
              st.dictionaries(st.sampled_from(["pod", "node", "change", "uid", "zone", "until", "data"]),
                              json_values, max_size=4)),
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(spec.subject for spec in messages.CATALOGUE)), payloads)
def test_malformed_bus_payloads_raise_a_decode_error_only(subject: str, data: bytes) -> None:
    """What the consumer loop relies on to dead-letter instead of crashing: decoding either
    yields the subject's message type or raises msgspec's DecodeError/ValidationError."""
    concrete = subject.replace("*", "x").replace(">", "x")
    try:
        msg = messages.decode(concrete, data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return
    assert isinstance(msg, messages.type_for_subject(concrete))


def test_yaml_round_trip_of_a_valid_config() -> None:
    doc = {"cloud": {"secretID": "AKID", "secretKey": SECRET, "subnets": [{"id": "subnet-a", "zone": "z-1"}]}}
    config = parse_config(yaml.safe_load(yaml.safe_dump(doc)), "ok.yaml", env={})
    assert config.cloud.subnets[0].zone == "z-1"
    assert SECRET not in repr(config)
