"""Container fields: command/args/workdir, probes (named ports), capabilities, sidecars."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.translate import InvalidPod, translate_pod
from tests.translate.builders import container, ctx, pod

PORTS = [{"name": "http", "containerPort": 8080}, {"name": "admin", "containerPort": 9090}]
TIMING = {"InitialDelaySeconds": 0, "TimeoutSeconds": 1, "PeriodSeconds": 10, "SuccessThreshold": 1,
          "FailureThreshold": 3}


def app_body(**fields: Any) -> tuple[dict[str, Any], list[str]]:
    result = translate_pod(pod(container(**fields)), ctx(pod_used_apiserver=None))
    body = dict(result.request["Containers"][0])
    return body, [w for w in result.warnings if "podUsedApiserver" not in w]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, {}, id="image and name only"),
        pytest.param(
            {"command": ["/bin/server"], "args": ["--port", "80"], "workingDir": "/srv"},
            {"Commands": ["/bin/server"], "Args": ["--port", "80"], "WorkingDir": "/srv"},
            id="command, args, workingDir",
        ),
        pytest.param(
            {"env": [{"name": "MODE", "value": "fast"}], "command": ["run", "$(MODE)", "$$(MODE)", "$(NOPE)"]},
            {"Commands": ["run", "fast", "$(MODE)", "$(NOPE)"], "EnvironmentVars": [{"Name": "MODE", "Value": "fast"}]},
            id="command expansion and escape",
        ),
        pytest.param(
            {"securityContext": {"capabilities": {"add": ["SYS_TIME", "NET_ADMIN", "NET_ADMIN"], "drop": ["ALL"]}}},
            {"SecurityContext": {"Capabilities": {"Add": ["NET_ADMIN", "SYS_TIME"], "Drop": ["ALL"]}}},
            id="capabilities sorted and unique",
        ),
        pytest.param(
            {"ports": PORTS, "livenessProbe": {"httpGet": {"port": "http"}, "periodSeconds": 5}},
            {"LivenessProbe": {"Probe": {**TIMING, "PeriodSeconds": 5},
                               "HttpGet": {"Path": "/", "Port": 8080, "Scheme": "HTTP"}}},
            id="httpGet named port, defaults",
        ),
        pytest.param(
            {"ports": PORTS, "readinessProbe": {"httpGet": {"port": 81, "path": "/ready", "scheme": "HTTPS"}}},
            {"ReadinessProbe": {"Probe": TIMING, "HttpGet": {"Path": "/ready", "Port": 81, "Scheme": "HTTPS"}}},
            id="httpGet numeric port",
        ),
        pytest.param(
            {"ports": PORTS, "readinessProbe": {"tcpSocket": {"port": "admin"}, "failureThreshold": 7}},
            {"ReadinessProbe": {"Probe": {**TIMING, "FailureThreshold": 7}, "TcpSocket": {"Port": 9090}}},
            id="tcpSocket named port",
        ),
        pytest.param(
            {"livenessProbe": {"exec": {"command": ["cat", "/tmp/ok"]}, "initialDelaySeconds": 3}},
            {"LivenessProbe": {"Probe": {**TIMING, "InitialDelaySeconds": 3},
                               "Exec": {"Commands": ["cat", "/tmp/ok"]}}},
            id="exec probe",
        ),
    ],
)
def test_container_fields(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    body, warnings = app_body(**fields)
    assert body == {"Name": "app", "Image": "registry.example/app:1", **expected}
    assert warnings == []


@pytest.mark.parametrize(
    ("fields", "warning"),
    [
        pytest.param({"livenessProbe": {"grpc": {"port": 9000}}}, "container app: liveness probe: grpc probes are not "
                     "expressible by the API; probe dropped", id="grpc probe"),
        pytest.param({"startupProbe": {"exec": {"command": ["true"]}}}, "container app: startup probes are not "
                     "expressible by the API; dropped", id="startup probe"),
        pytest.param({"securityContext": {"privileged": True, "runAsUser": 0}}, "container app: securityContext "
                     "privileged, runAsUser not expressible; ignored", id="security context"),
        pytest.param({"lifecycle": {"postStart": {"exec": {"command": ["warm-up"]}},
                                    "preStop": {"httpGet": {"path": "/drain", "port": 8080}}}},
                     "container app: lifecycle postStart and preStop hooks are not expressible by the API; dropped",
                     id="lifecycle hooks"),
        pytest.param({"lifecycle": {"preStop": {"sleep": {"seconds": 5}}}},
                     "container app: lifecycle preStop hooks are not expressible by the API; dropped",
                     id="preStop sleep"),
    ],
)
def test_inexpressible_container_fields_warn(fields: dict[str, Any], warning: str) -> None:
    body, warnings = app_body(**fields)
    assert body == {"Name": "app", "Image": "registry.example/app:1"}
    assert warnings == [warning]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"livenessProbe": {"httpGet": {"port": "web"}}}, "named port 'web' is not declared",
                     id="unknown named port"),
        pytest.param({"image": ""}, "container app: no image", id="no image"),
        pytest.param({"volumeMounts": [{"name": "ghost", "mountPath": "/x"}]}, "undeclared volume 'ghost'",
                     id="mount of undeclared volume"),
    ],
)
def test_invalid_containers(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPod, match=message):
        translate_pod(pod(container(**fields)), ctx())


def test_init_containers_and_sidecars() -> None:
    the_pod = pod(
        container("app"),
        initContainers=[container("migrate", command=["migrate"]), container("proxy", restartPolicy="Always")],
    )
    result = translate_pod(the_pod, ctx(pod_used_apiserver=None))
    assert [c["Name"] for c in result.request["InitContainers"]] == ["migrate"]
    assert [c["Name"] for c in result.request["Containers"]] == ["proxy", "app"]
    assert any(w.startswith("init container proxy is a sidecar") for w in result.warnings)


def test_duplicate_container_names_are_invalid() -> None:
    with pytest.raises(InvalidPod, match="not unique"):
        translate_pod(pod(container("a"), initContainers=[container("a")]), ctx())


@pytest.mark.parametrize(
    ("policy", "expected", "warned"),
    [
        pytest.param(None, "Always", False, id="default"),
        pytest.param("Always", "Always", False, id="Always"),
        pytest.param("OnFailure", "OnFailure", False, id="OnFailure"),
        pytest.param("Never", "Never", False, id="Never"),
        pytest.param("Sometimes", "Always", True, id="invalid → Always + warning"),
    ],
)
def test_restart_policy(policy: str | None, expected: str, warned: bool) -> None:
    spec: dict[str, Any] = {} if policy is None else {"restartPolicy": policy}
    result = translate_pod(pod(**spec), ctx())
    assert result.request["RestartPolicy"] == expected
    assert any("restartPolicy" in w for w in result.warnings) is warned
