"""Request-level fields: security groups, context checks, optional annotations, determinism."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.translate import InvalidContext, InvalidPod, translate_pod
from tests.translate.builders import APISERVER_ENV, container, ctx, pod

SG = "eks.tke.cloud.tencent.com/security-group-id"


@pytest.mark.parametrize(
    ("annotation", "default", "expected", "warned"),
    [
        pytest.param(None, ("sg-default",), ["sg-default"], False, id="configured default"),
        pytest.param("sg-b,sg-a", ("sg-default",), ["sg-a", "sg-b"], False, id="annotation wins, sorted"),
        pytest.param(" sg-a , ,sg-a ", ("sg-default",), ["sg-a"], False, id="spaces, blanks, duplicates"),
        pytest.param(" , ", ("sg-default",), ["sg-default"], True, id="empty annotation → default + warning"),
    ],
)
def test_security_groups(annotation: str | None, default: tuple[str, ...], expected: list[str], warned: bool) -> None:
    annotations = {} if annotation is None else {SG: annotation}
    result = translate_pod(pod(annotations=annotations), ctx(security_group_ids=default))
    assert result.request["SecurityGroupIds"] == expected
    assert any(SG in w for w in result.warnings) is warned


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"security_group_ids": ()}, "no security group", id="no security group"),
        pytest.param({"subnet_id": ""}, "subnet_id is empty", id="no subnet"),
        pytest.param({"instance_name": ""}, "instance_name is empty", id="no name"),
    ],
)
def test_context_errors(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidContext, match=message):
        translate_pod(pod(), ctx(**changes))


def test_whole_request() -> None:
    the_pod = pod(
        container("web", resources={"requests": {"cpu": "500m", "memory": "1Gi"}}),
        annotations={"eks.tke.cloud.tencent.com/cpu-type": "intel,amd", "eks.tke.cloud.tencent.com/role-name": "r"},
        restartPolicy="Never",
    )
    result = translate_pod(the_pod, ctx())
    assert result.request == {
        "EksCiName": "spw-abc",
        "SubnetId": "subnet-1",
        "VpcId": "vpc-1",
        "SecurityGroupIds": ["sg-default"],
        "Cpu": 0.5,
        "Memory": 1.0,
        "RestartPolicy": "Never",
        "Containers": [{"Name": "web", "Image": "registry.example/web:1", "EnvironmentVars": APISERVER_ENV}],
        "CpuType": "amd,intel",
        "CamRoleName": "r",
    }
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("spec", "warning"),
    [
        pytest.param({"hostNetwork": True}, "hostNetwork is not expressible", id="hostNetwork"),
        pytest.param({"securityContext": {"runAsUser": 1000, "fsGroup": 2000}},
                     "pod securityContext runAsUser, fsGroup not expressible; ignored", id="pod securityContext"),
        pytest.param({"hostAliases": [{"ip": "10.0.0.7", "hostnames": ["db.local", "cache.local"]}]},
                     "hostAliases are not expressible; /etc/hosts will not resolve cache.local, db.local",
                     id="hostAliases"),
        pytest.param({"hostAliases": [{"ip": "10.0.0.7", "hostnames": [f"h{i:02}" for i in range(8)]}]},
                     "hostAliases are not expressible; /etc/hosts will not resolve h00, h01, h02, h03, h04 and 3 more",
                     id="many hostAliases"),
        pytest.param({"shareProcessNamespace": True},
                     "shareProcessNamespace is not expressible; each container sees only its own processes",
                     id="shareProcessNamespace"),
    ],
)
def test_pod_level_warnings(spec: dict[str, Any], warning: str) -> None:
    assert any(w.startswith(warning) for w in translate_pod(pod(**spec), ctx()).warnings)


def test_nothing_is_dropped_silently_on_an_ordinary_pod() -> None:
    result = translate_pod(pod(shareProcessNamespace=False, hostAliases=[]), ctx())
    assert result.warnings == ()


def test_missing_apiserver_is_reported() -> None:
    result = translate_pod(pod(), ctx(pod_used_apiserver=None))
    assert "EnvironmentVars" not in result.request["Containers"][0]
    assert result.warnings == ("podUsedApiserver is not configured: in-cluster clients cannot reach the API server",)


def test_no_containers_is_invalid() -> None:
    from spillway.model.kube import Pod

    with pytest.raises(InvalidPod, match="no containers"):
        translate_pod(Pod(), ctx())
