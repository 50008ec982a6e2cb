"""The emulator's own request checks, as pure tables: the instance specs the API takes, the
request schemas (which error code for which mistake, and where) and the per-action request limit."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.emulator.errors import ApiError
from spillway.emulator.server import RequestLimit
from spillway.emulator.validation import check_instance_spec, validate
from tests.emulator.helpers import create_params

CREATE = "CreateEKSContainerInstances"

ACCEPTED_SPECS = [
    (0.25, 0.5), (0.25, 1), (0.25, 2.0), (0.5, 1), (0.5, 4), (1, 1), (1, 8), (1.0, 2.0), (2, 4), (2, 16), (4, 8),
    (4, 32), (8, 16), (8, 32), (12, 24), (12, 48), (16, 32), (16, 64), (32, 64), (32, 256), (64, 128), (64, 192),
    (64, 512),
]
REFUSED_SPECS = [
    (0.25, 4), (0.25, 0.25), (0.5, 0.5), (0.5, 8), (1, 0.5), (1, 9), (1, 1.5),  # whole GiB inside a range
    (2, 3), (2, 17), (4, 6), (4, 33), (8, 8), (8, 64), (12, 12), (16, 128), (32, 32), (32, 192), (64, 64),
    (64, 1024), (3, 6), (6, 12), (24, 48), (128, 256), (0, 0), (0, 1), (-1, 2), (1, -2), (0.75, 2),
    # no rounding to the nearest spec (a client that sends 0.2501 cores has a bug to find)
    (0.2501, 0.5), (1.0000001, 2), (1, 2.0000001), (0.25, 0.5000001),
    (float("nan"), 2), (1, float("nan")), (float("inf"), 2),
]


@pytest.mark.parametrize(("cpu", "memory"), ACCEPTED_SPECS)
def test_accepted_specs(cpu: float, memory: float) -> None:
    check_instance_spec(cpu, memory)


@pytest.mark.parametrize(("cpu", "memory"), REFUSED_SPECS)
def test_refused_specs(cpu: float, memory: float) -> None:
    with pytest.raises(ApiError) as err:
        check_instance_spec(cpu, memory)
    assert err.value.code == "InvalidParameterValue"
    assert "not a supported spec" in err.value.message


def _without(params: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != key}


CONTAINER = {"Name": "app", "Image": "nginx"}
SCHEMA = [
    ("complete create", CREATE, create_params(), None, None),
    ("null optional fields", CREATE, create_params(RestartPolicy=None, InitContainers=None), None, None),
    ("output-only container fields are ignored", CREATE,
     create_params(Containers=[CONTAINER | {"CurrentState": {"State": "running"}, "RestartCount": 2}]), None, None),
    ("not an object", CREATE, [], "InvalidParameter", "JSON object"),
    ("missing top-level field", CREATE, _without(create_params(), "SubnetId"), "MissingParameter", "`SubnetId`"),
    ("null required field", CREATE, create_params(VpcId=None), "MissingParameter", "`VpcId`"),
    ("unknown top-level field", CREATE, create_params(Ports=[80]), "UnknownParameter", "`Ports`"),
    ("unknown nested field", CREATE, create_params(Containers=[CONTAINER | {"Ports": [80]}]), "UnknownParameter",
     "`Containers.0.Ports`"),
    ("missing nested field", CREATE, create_params(Containers=[{"Name": "app"}]), "MissingParameter",
     "`Containers.0.Image`"),
    ("missing deep field", CREATE, create_params(EksCiVolume={"NfsVolumes": [{"Name": "v", "Server": "s"}]}),
     "MissingParameter", "`EksCiVolume.NfsVolumes.0.Path`"),
    ("required list empty", CREATE, create_params(SecurityGroupIds=[]), "InvalidParameterValue",
     "`SecurityGroupIds` must not be empty"),
    ("optional list may be empty", CREATE, create_params(InitContainers=[]), None, None),
    ("string for a float", CREATE, create_params(Cpu="1"), "InvalidParameterValue", "`Cpu` must be of type float"),
    ("bool is no float", CREATE, create_params(Memory=True), "InvalidParameterValue", "`Memory`"),
    ("int is a float", CREATE, create_params(Cpu=1, Memory=2), None, None),
    ("float is no int", CREATE, create_params(Replicas=1.0), "InvalidParameterValue", "`Replicas` must be of type int"),
    ("bool is no int", CREATE, create_params(Replicas=True), "InvalidParameterValue", "`Replicas`"),
    ("int is no bool", CREATE, create_params(AutoCreateEip=1), "InvalidParameterValue", "`AutoCreateEip`"),
    ("object for a list", CREATE, create_params(Containers=CONTAINER), "InvalidParameterValue", "`Containers`"),
    ("list item of the wrong type", CREATE, create_params(SecurityGroupIds=["sg-1", 2]), "InvalidParameterValue",
     "`SecurityGroupIds.1`"),
    ("probe needs its Probe", CREATE, create_params(Containers=[CONTAINER | {"LivenessProbe": {
        "TcpSocket": {"Port": 80}}}]), "MissingParameter", "`Containers.0.LivenessProbe.Probe`"),
    ("describe without params", "DescribeEKSContainerInstances", {}, None, None),
    ("filter without values", "DescribeEKSContainerInstances", {"Filters": [{"Name": "status"}]},
     "MissingParameter", "`Filters.0.Values`"),
    ("delete needs ids", "DeleteEKSContainerInstances", {}, "MissingParameter", "`EksCiIds`"),
    ("regions take nothing", "DescribeEKSContainerInstanceRegions", {"Limit": 1}, "UnknownParameter", "`Limit`"),
    ("log action is spelled Eks", "DescribeEksContainerInstanceLog", {"EksCiId": "eksci-1", "Tail": 10}, None,
     None),
]


@pytest.mark.parametrize(("action", "params", "code", "fragment"), [c[1:] for c in SCHEMA],
                         ids=[c[0] for c in SCHEMA])
def test_validate(action: str, params: Any, code: str | None, fragment: str | None) -> None:
    if code is None:
        validate(action, params)
        return
    with pytest.raises(ApiError) as err:
        validate(action, params)
    assert err.value.code == code
    assert fragment is not None and fragment in err.value.message


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("rate", "steps", "allowed"), [
    # (seconds to wait before a request, ...) → which requests pass
    pytest.param(5, [0] * 7, [True] * 5 + [False] * 2, id="a burst of rate, then refused"),
    pytest.param(4, [0] * 4 + [0.125, 0.125], [True] * 4 + [False, True], id="one more every 1/rate s"),
    pytest.param(5, [0] * 5 + [60] + [0] * 5, [True] * 5 + [True] * 5 + [False], id="idle time saves up rate only"),
    pytest.param(0.5, [0, 0, 1, 1], [True, False, False, True], id="slow rate: one saved, one per 2 s"),
    pytest.param(2, [0, 0, 0, 0.25, 0.25], [True, True, False, False, True], id="a refused request costs nothing"),
])
def test_request_limit(rate: float, steps: list[float], allowed: list[bool]) -> None:
    clock = Ticks()
    limit = RequestLimit(rate, clock)
    seen = []
    for wait in steps:
        clock.now += wait
        seen.append(limit.allow())
    assert seen == allowed
