"""Environment: literal values, Secret/ConfigMap refs, downward API, resources, envFrom, apiserver."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.translate import InvalidContext, MissingReference, translate_pod
from tests.translate.builders import APISERVER_ENV, container, ctx, pod, user_env

SECRETS = {"db": {"password": b"hunter2", "user": b"app"}}
CONFIG_MAPS = {"settings": {"LEVEL": "debug", "bad=key": "x", "COLOR": "blue"}}


def secret(name: str, key: str, optional: bool | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": name, "key": key}
    if optional is not None:
        ref["optional"] = optional
    return {"valueFrom": {"secretKeyRef": ref}}


def config(name: str, key: str, optional: bool | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": name, "key": key}
    if optional is not None:
        ref["optional"] = optional
    return {"valueFrom": {"configMapKeyRef": ref}}


def field(path: str) -> dict[str, Any]:
    return {"valueFrom": {"fieldRef": {"fieldPath": path}}}


def resource(name: str, divisor: str | None = None, container_name: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"resource": name}
    if divisor:
        ref["divisor"] = divisor
    if container_name:
        ref["containerName"] = container_name
    return {"valueFrom": {"resourceFieldRef": ref}}


def translate_env(
    env: list[dict[str, Any]] | None = None, env_from: list[dict[str, Any]] | None = None, **extra: Any
) -> tuple[list[dict[str, str]], list[str]]:
    the_pod = pod(
        container(env=env or [], envFrom=env_from or [], resources={"limits": {"memory": "1Gi"}}),
        labels={"app": "web"}, annotations={"team": "blue"}, serviceAccountName="runner",
    )
    result = translate_pod(the_pod, ctx(secrets=SECRETS, config_maps=CONFIG_MAPS, **extra))
    return user_env(result.request["Containers"][0]), list(result.warnings)


def named(**values: str) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in values.items()]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param([{"name": "A", "value": "1"}], named(A="1"), id="literal"),
        pytest.param([{"name": "A"}], named(A=""), id="no value is empty"),
        pytest.param([{"name": "P", **secret("db", "password")}], named(P="hunter2"), id="secretKeyRef"),
        pytest.param([{"name": "L", **config("settings", "LEVEL")}], named(L="debug"), id="configMapKeyRef"),
        pytest.param([{"name": "X", **secret("nope", "k", optional=True)}], [], id="optional missing secret unset"),
        pytest.param([{"name": "X", **config("settings", "nope", optional=True)}], [], id="optional missing key unset"),
        pytest.param([{"name": "N", **field("metadata.name")}], named(N="web-1"), id="metadata.name"),
        pytest.param([{"name": "N", **field("metadata.namespace")}], named(N="shop"), id="metadata.namespace"),
        pytest.param([{"name": "N", **field("metadata.uid")}], named(N="uid-1"), id="metadata.uid"),
        pytest.param([{"name": "N", **field("metadata.labels['app']")}], named(N="web"), id="label"),
        pytest.param([{"name": "N", **field("metadata.annotations['team']")}], named(N="blue"), id="annotation"),
        pytest.param([{"name": "N", **field("spec.nodeName")}], named(N="eklet-subnet-1"), id="spec.nodeName"),
        pytest.param([{"name": "N", **field("spec.serviceAccountName")}], named(N="runner"), id="serviceAccountName"),
        pytest.param([{"name": "M", **resource("limits.memory", "1Mi")}], named(M="1024"), id="limits.memory"),
        pytest.param([{"name": "C", **resource("limits.cpu")}], named(C="1"),
                     id="unset cpu limit → instance, rounded up"),
        pytest.param([{"name": "C", **resource("limits.cpu", "1m")}], named(C="250"),
                     id="instance 0.25C in millicores"),
        pytest.param([{"name": "C", **resource("requests.cpu")}], named(C="0"), id="unset request → 0"),
        pytest.param(
            [{"name": "A", "value": "x"}, {"name": "B", "value": "$(A)-$(C)"}, {"name": "C", "value": "z"}],
            named(A="x", B="x-$(C)", C="z"), id="expansion from earlier vars only",
        ),
        pytest.param(
            [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "A", "value": "3"}],
            named(B="2", A="3"), id="later definition wins",
        ),
        pytest.param([{"name": "H", "value": "$(KUBERNETES_SERVICE_HOST)"}], named(H="10.0.0.1"),
                     id="apiserver vars expand"),
    ],
)
def test_env(env: list[dict[str, Any]], expected: list[dict[str, str]]) -> None:
    assert translate_env(env) == (expected, [])


@pytest.mark.parametrize(
    ("env_from", "expected", "warned"),
    [
        pytest.param([{"configMapRef": {"name": "settings"}}], named(COLOR="blue", LEVEL="debug"), True,
                     id="configMap, invalid key skipped"),
        pytest.param([{"secretRef": {"name": "db"}, "prefix": "DB_"}], named(DB_password="hunter2", DB_user="app"),
                     False, id="secret with prefix"),
        pytest.param([{"secretRef": {"name": "gone", "optional": True}}], [], False, id="optional missing"),
    ],
)
def test_env_from(env_from: list[dict[str, Any]], expected: list[dict[str, str]], warned: bool) -> None:
    env, warnings = translate_env(env_from=env_from)
    assert env == expected
    assert (warnings == ["container app: envFrom key 'bad=key' is not a valid variable name; skipped"]) is warned


def test_env_overrides_env_from() -> None:
    env, _ = translate_env([{"name": "LEVEL", "value": "info"}], [{"configMapRef": {"name": "settings"}}])
    assert env == named(COLOR="blue", LEVEL="info")


@pytest.mark.parametrize(
    ("env", "env_from", "message"),
    [
        pytest.param([{"name": "P", **secret("gone", "k")}], [], "env P: secret 'gone' not found", id="secret"),
        pytest.param([{"name": "P", **secret("db", "nokey")}], [], "env P: key 'nokey' in secret 'db' not found",
                     id="secret key"),
        pytest.param([{"name": "P", **config("gone", "k")}], [], "env P: configMap 'gone' not found", id="configMap"),
        pytest.param([], [{"configMapRef": {"name": "gone"}}], "envFrom configMap 'gone' not found", id="envFrom"),
    ],
)
def test_missing_references(env: list[dict[str, Any]], env_from: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(MissingReference, match=message):
        translate_env(env, env_from)


@pytest.mark.parametrize(
    ("path", "extra", "value", "warned"),
    [
        pytest.param("status.podIP", {}, "", True, id="podIP unknown before start"),
        pytest.param("status.hostIP", {}, "", True, id="hostIP unknown"),
        pytest.param("status.hostIP", {"host_ip": "10.1.2.3"}, "10.1.2.3", False, id="hostIP from context"),
    ],
)
def test_status_field_refs(path: str, extra: dict[str, Any], value: str, warned: bool) -> None:
    env, warnings = translate_env([{"name": "IP", **field(path)}], **extra)
    assert env == named(IP=value)
    assert bool(warnings) is warned


@pytest.mark.parametrize(
    ("address", "host", "port"),
    [
        pytest.param("10.0.0.1:6443", "10.0.0.1", "6443", id="host:port"),
        pytest.param("https://api.idc.example:8443/", "api.idc.example", "8443", id="URL form"),
        pytest.param("api.idc.example", "api.idc.example", "443", id="default port"),
        pytest.param("[fd00::1]:6443", "fd00::1", "6443", id="IPv6"),
    ],
)
def test_apiserver_env_in_every_container(address: str, host: str, port: str) -> None:
    the_pod = pod(container("a"), container("b"), initContainers=[container("init")])
    result = translate_pod(the_pod, ctx(pod_used_apiserver=address))
    for body in (*result.request["Containers"], *result.request["InitContainers"]):
        env = {v["Name"]: v["Value"] for v in body["EnvironmentVars"]}
        assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == (host, port)
        assert env[f"KUBERNETES_PORT_{port}_TCP_ADDR"] == host


def test_apiserver_env_exact_and_user_override_wins() -> None:
    the_pod = pod(container(env=[{"name": "KUBERNETES_SERVICE_HOST", "value": "mine"}]))
    env = translate_pod(the_pod, ctx()).request["Containers"][0]["EnvironmentVars"]
    assert env == [*APISERVER_ENV[1:], {"Name": "KUBERNETES_SERVICE_HOST", "Value": "mine"}]


@pytest.mark.parametrize("address", ["host:port", "host:0", ":6443"])
def test_bad_apiserver_address(address: str) -> None:
    with pytest.raises(InvalidContext, match="podUsedApiserver"):
        translate_pod(pod(), ctx(pod_used_apiserver=address))
