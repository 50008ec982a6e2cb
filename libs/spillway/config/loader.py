"""Read, validate and complete the configuration; every problem is one `ConfigError` line.

The message names the file and the key path (`config.yaml: cloud.subnets[0].zone: required`) and
never a value, so a secret cannot leak through an error. Secrets may come from the environment:
SPILLWAY_SECRET_ID / SPILLWAY_SECRET_KEY, else TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY,
else the file; the bus credentials and CA from SPILLWAY_NATS_USER / SPILLWAY_NATS_PASSWORD /
SPILLWAY_NATS_CA_FILE, else the file.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml

from spillway.config.schema import Config
from spillway.config.secret import Secret


class ConfigError(Exception):
    """Invalid or unreadable configuration; str() is one line: `<file>: <key path>: <problem>`."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        key, problem = _one_line(key), _one_line(problem)
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


KEY_TEXT_LIMIT = 200
PLACEHOLDER = "REPLACE_ME"
"""How the shipped manifests mark a value the installer must set."""


def _one_line(text: str) -> str:
    """A key or problem as it may appear in one line of output: control characters escaped
    (a YAML key may hold a newline), bounded in length."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= KEY_TEXT_LIMIT else text[:KEY_TEXT_LIMIT] + "…"


def _dec_hook(type_: type[Any], obj: Any) -> Any:
    if type_ is Secret:
        if not isinstance(obj, str):
            raise ValueError("expected a string")  # never echo the value
        return Secret(obj)
    raise NotImplementedError(type_)


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_FIELD = re.compile(r"field `(?P<field>[^`]+)`")


def _translate(err: msgspec.ValidationError) -> tuple[str, str]:
    """msgspec's message → (key path without `$.`, problem)."""
    found = _AT.match(str(err))
    assert found is not None
    msg, path = found["msg"], (found["path"] or "").lstrip(".")
    field = _FIELD.search(msg)
    if msg.startswith("Object missing required field") and field:
        return _join(path, field["field"]), "required"
    if msg.startswith("Object contains unknown field") and field:
        return _join(path, field["field"]), "unknown key"
    expected = re.match(r"Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`", msg)
    if expected:
        return path, f"expected {expected['want']}, got {expected['got']}"
    return path, msg[:1].lower() + msg[1:]


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


def _check(config: Config) -> tuple[str, str] | None:
    """Rules the types cannot say. Returns (key, problem) of the first violation."""
    for i, subnet in enumerate(config.cloud.subnets):
        if not subnet.id:
            return f"cloud.subnets[{i}].id", "must not be empty"
        if not subnet.zone:
            return f"cloud.subnets[{i}].zone", "must not be empty"
    ids = [s.id for s in config.cloud.subnets]
    if len(ids) != len(set(ids)):
        return "cloud.subnets", "subnet ids must be unique"
    if config.cloud.cluster_id.startswith(PLACEHOLDER):
        return "cloud.clusterID", f"still the shipped placeholder ({PLACEHOLDER}…): set a name for this cluster"
    endpoint = config.cloud.api_endpoint
    if endpoint and not re.fullmatch(r"(https?://)?[-a-zA-Z0-9.]+(:\d{1,5})?/?", endpoint):
        return "cloud.apiEndpoint", "expected host[:port] or http(s)://host[:port]"
    if config.cloud.instance_quota < 0:
        return "cloud.instanceQuota", "must be >= 0"
    for key, price in (("cloud.prices.vcpuHour", config.cloud.prices.vcpu_hour),
                       ("cloud.prices.memoryGiBHour", config.cloud.prices.memory_gib_hour)):
        if not math.isfinite(price) or price < 0:
            return key, "must be a finite number >= 0"
    for key, port in (("telemetry.healthPort", config.telemetry.health_port),
                      ("telemetry.metricsPort", config.telemetry.metrics_port),
                      ("admission.port", config.admission.port)):
        if not 0 <= port <= 65535:
            return key, "must be a port number (0-65535)"
    if config.placement.sold_out_cooldown_seconds < 0:
        return "placement.soldOutCooldownSeconds", "must be >= 0"
    returns = _check_returns(config)
    if returns is not None:
        return returns
    if not config.nats.url:
        return "nats.url", "must not be empty"
    if config.nats.password and not config.nats.user:
        return "nats.user", "required when a NATS password is set"
    if config.nats.ca_file and not Path(config.nats.ca_file).is_file():
        return "nats.caFile", "no such file"
    return None


def _check_returns(config: Config) -> tuple[str, str] | None:
    """placement.returnToLocal: finite numbers; the loop's period and the wait for a replacement
    above 0, at least one return a minute."""
    r = config.placement.return_to_local
    at_least_zero = (("stableSeconds", r.stable_seconds), ("minCloudSeconds", r.min_cloud_seconds),
                     ("cooldownSeconds", r.cooldown_seconds))
    above_zero = (("settleSeconds", r.settle_seconds), ("checkSeconds", r.check_seconds))
    for key, value in at_least_zero:
        if not (math.isfinite(value) and value >= 0):
            return f"placement.returnToLocal.{key}", "must be a number >= 0"
    for key, value in above_zero:
        if not (math.isfinite(value) and value > 0):
            return f"placement.returnToLocal.{key}", "must be a number > 0"
    if r.max_per_minute < 1:
        return "placement.returnToLocal.maxPerMinute", "must be >= 1"
    return None


def _read(path: Path, source: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", f"cannot read ({type(exc).__name__})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        # only the parser's problem text: the default str() quotes the offending line, maybe a secret
        raise ConfigError(source, "", f"{where}invalid YAML ({problem})") from None


def parse_config(data: Any, source: str = "<config>", env: Mapping[str, str] | None = None) -> Config:
    """Validate already-parsed YAML data (None = empty file) and apply environment secrets."""
    env = os.environ if env is None else env
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, "", "expected a mapping at the top level")
    try:
        config = msgspec.convert(data, Config, dec_hook=_dec_hook)
    except msgspec.ValidationError as err:
        key, problem = _translate(err)
        raise ConfigError(source, key, problem) from None
    cloud = config.cloud
    secret_id = env.get("SPILLWAY_SECRET_ID") or env.get("TENCENTCLOUD_SECRET_ID") or cloud.secret_id
    secret_key = env.get("SPILLWAY_SECRET_KEY") or env.get("TENCENTCLOUD_SECRET_KEY")
    cloud = msgspec.structs.replace(cloud, secret_id=secret_id,
                                    secret_key=Secret(secret_key) if secret_key else cloud.secret_key)
    nats_password = env.get("SPILLWAY_NATS_PASSWORD")
    bus = msgspec.structs.replace(config.nats, user=env.get("SPILLWAY_NATS_USER") or config.nats.user,
                                  password=Secret(nats_password) if nats_password else config.nats.password,
                                  ca_file=env.get("SPILLWAY_NATS_CA_FILE") or config.nats.ca_file)
    config = msgspec.structs.replace(config, cloud=cloud, nats=bus, source=source)
    violation = _check(config)
    if violation is not None:
        raise ConfigError(source, *violation)
    return config


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a YAML config file. Raises ConfigError (one line, no values)."""
    source = str(path)
    return parse_config(_read(Path(path), source), source, env)


def require(config: Config, *keys: str) -> None:
    """Fail with ConfigError unless every dotted key (as in the file) has a non-empty value.

    Services call this in setup for what they need (cloud-provisioner: `cloud.secretKey`, …).
    """
    for key in keys:
        if not _lookup(config, key):
            raise ConfigError(config.source or "<config>", key, "required")


def _lookup(config: Config, key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, msgspec.Struct):
            raise KeyError(f"unknown config key {key!r}")
        fields = {f.encode_name: f.name for f in msgspec.structs.fields(node)}
        if part not in fields:
            raise KeyError(f"unknown config key {key!r}")
        node = getattr(node, fields[part])
    return node
