"""Request schemas of the EKS container-instance actions, checked the way the API checks them.

Required fields (★ in the reference, from tccli's api.json) → `MissingParameter`; fields the
action does not have → `UnknownParameter`; wrong types → `InvalidParameterValue`. Nested
models are checked too (Container.Image/Name, VolumeMount Name/MountPath, NfsVolume ...).

The instance specs are the cloud's published list, kept here rather than borrowed from the
product's translation table: the emulator stands for the API, so a wrong table in the product
must meet a refusal here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spillway.emulator.errors import ApiError


@dataclass(frozen=True)
class Field:
    kind: str  # str | float | int | bool | list | obj | any
    required: bool = False
    item: Field | None = None
    schema: Mapping[str, Field] | None = None


def S(req: bool = False) -> Field:
    return Field("str", req)


def F(req: bool = False) -> Field:
    return Field("float", req)


def I(req: bool = False) -> Field:  # noqa: E743
    return Field("int", req)


def B() -> Field:
    return Field("bool")


def L(item: Field, req: bool = False) -> Field:
    return Field("list", req, item=item)


def O(schema: Mapping[str, Field], req: bool = False) -> Field:  # noqa: E743
    return Field("obj", req, schema=schema)


ANY = Field("any")

_PROBE = {
    "Probe": O({k: I() for k in ("InitialDelaySeconds", "TimeoutSeconds", "PeriodSeconds", "SuccessThreshold",
                                "FailureThreshold")}, req=True),
    "Exec": O({"Commands": L(S())}),
    "HttpGet": O({"Path": S(True), "Port": I(True), "Scheme": S(True)}),
    "TcpSocket": O({"Port": I()}),
}
CONTAINER = {
    "Image": S(True), "Name": S(True), "Commands": L(S()), "Args": L(S()),
    "EnvironmentVars": L(O({"Name": S(), "Value": S()})), "Cpu": F(), "Memory": F(),
    "VolumeMounts": L(O({"Name": S(True), "MountPath": S(True), "ReadOnly": B(), "SubPath": S(),
                         "SubPathExpr": S(), "MountPropagation": S()})),
    "WorkingDir": S(), "LivenessProbe": O(_PROBE), "ReadinessProbe": O(_PROBE),
    "SecurityContext": O({"Capabilities": O({"Add": L(S()), "Drop": L(S())})}), "GpuLimit": I(),
    # Output-only fields a client may echo back from a Describe; accepted and ignored.
    "CurrentState": ANY, "RestartCount": ANY,
}
VOLUME = {
    "CbsVolumes": L(O({"Name": S(True), "CbsDiskId": S(True)})),
    "NfsVolumes": L(O({"Name": S(True), "Server": S(True), "Path": S(True), "ReadOnly": B()})),
}
REGISTRY = L(O({"Server": S(), "Username": S(), "Password": S(), "Name": S()}))
DNS = {"Nameservers": L(S()), "Searches": L(S()), "Options": L(O({"Name": S(True), "Value": S(True)}))}

SCHEMAS: dict[str, Mapping[str, Field]] = {
    "CreateEKSContainerInstances": {
        "Containers": L(O(CONTAINER), req=True), "EksCiName": S(True), "SecurityGroupIds": L(S(), req=True),
        "SubnetId": S(True), "VpcId": S(True), "Memory": F(True), "Cpu": F(True), "RestartPolicy": S(),
        "ImageRegistryCredentials": REGISTRY, "EksCiVolume": O(VOLUME), "Replicas": I(),
        "InitContainers": L(O(CONTAINER)), "DnsConfig": O(DNS), "ExistedEipIds": L(S()),
        "AutoCreateEipAttribute": ANY, "AutoCreateEip": B(), "CpuType": S(), "GpuType": S(), "GpuCount": I(),
        "CamRoleName": S(),
    },
    "DescribeEKSContainerInstances": {
        "Limit": I(), "Offset": I(), "Filters": L(O({"Name": S(True), "Values": L(S(), req=True)})),
        "EksCiIds": L(S()),
    },
    "DeleteEKSContainerInstances": {"EksCiIds": L(S(), req=True), "ReleaseAutoCreatedEip": B()},
    "UpdateEKSContainerInstance": {
        "EksCiId": S(True), "RestartPolicy": S(), "EksCiVolume": O(VOLUME), "Containers": L(O(CONTAINER)),
        "InitContainers": L(O(CONTAINER)), "Name": S(), "ImageRegistryCredentials": REGISTRY,
    },
    "RestartEKSContainerInstances": {"EksCiIds": L(S(), req=True)},
    "DescribeEKSContainerInstanceEvent": {"EksCiId": S(True), "Limit": I()},
    "DescribeEksContainerInstanceLog": {
        "EksCiId": S(True), "ContainerName": S(), "Tail": I(), "StartTime": S(), "Previous": B(),
        "SinceSeconds": I(), "LimitBytes": I(),
    },
    "DescribeEKSContainerInstanceRegions": {},
}


# Cpu (cores) → the Memory (GiB) values the API takes with it; inside a range, whole GiB only.
INSTANCE_SPECS: dict[float, frozenset[float]] = {
    0.25: frozenset({0.5, 1, 2}),
    0.5: frozenset({1, 2, 3, 4}),
    1: frozenset(range(1, 9)),
    2: frozenset(range(4, 17)),
    4: frozenset(range(8, 33)),
    8: frozenset(range(16, 33)),
    12: frozenset(range(24, 49)),
    16: frozenset(range(32, 65)),
    32: frozenset({64, 128, 256}),
    64: frozenset({128, 192, 256, 512}),
}


def check_instance_spec(cpu: float, memory: float) -> None:
    """Refuse a Cpu/Memory pair that is not a spec, as is: no rounding to a near one."""
    if memory not in INSTANCE_SPECS.get(cpu, frozenset()):
        raise ApiError("InvalidParameterValue", f"Cpu {cpu} / Memory {memory} is not a supported spec.")


def validate(action: str, params: Any) -> None:
    if not isinstance(params, dict):
        raise ApiError("InvalidParameter", "The request body must be a JSON object.")
    _check_obj(SCHEMAS[action], params, "")


def _check_obj(schema: Mapping[str, Field], value: Mapping[str, Any], prefix: str) -> None:
    for name in value:
        if name not in schema:
            raise ApiError("UnknownParameter", f"The parameter `{prefix}{name}` is not recognized.")
    for name, field in schema.items():
        if value.get(name) is None:
            if field.required:
                raise ApiError("MissingParameter", f"The request is missing a required parameter `{prefix}{name}`.")
            continue
        _check(field, value[name], f"{prefix}{name}")


def _check(field: Field, value: Any, path: str) -> None:
    ok = {
        "str": isinstance(value, str),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "list": isinstance(value, list),
        "obj": isinstance(value, dict),
        "any": True,
    }[field.kind]
    if not ok:
        raise ApiError("InvalidParameterValue", f"The value of parameter `{path}` must be of type {field.kind}.")
    if field.kind == "list" and field.item is not None:
        if field.required and not value:
            raise ApiError("InvalidParameterValue", f"The parameter `{path}` must not be empty.")
        for i, item in enumerate(value):
            _check(field.item, item, f"{path}.{i}")
    elif field.kind == "obj" and field.schema is not None:
        _check_obj(field.schema, value, f"{path}.")
