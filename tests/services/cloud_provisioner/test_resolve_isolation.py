"""A Secret or ConfigMap that does not decode fails that pod's create alone, with a reason that names
the object and the field, never its value (served by a tiny API server: the sandbox refuses such objects)."""

from __future__ import annotations

import pytest

from services.cloud_provisioner.failures import classify_failure
from services.cloud_provisioner.resolve import Placement, Resolver
from spillway.config import Config
from spillway.kube import KubeClient
from spillway.model.kube import Pod, from_builtins
from spillway.translate import InvalidReference
from tests.services.cloud_provisioner.conftest import PodListApi
from tests.services.cloud_provisioner.harness import NODE_A, pod_body

PLACEMENT = Placement(node=NODE_A, subnet_id="subnet-aaa", zone="ap-guangzhou-3", resolv_conf=None, host_ip=None)


def pod_using(secret: str, config_map: str) -> Pod:
    body = pod_body("app", env=[
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": config_map, "key": "mode"}}},
    ])
    body["metadata"]["uid"] = "uid-app"
    return from_builtins(body, Pod)


async def test_an_undecodable_secret_is_an_invalid_reference_naming_it(
    raw_api: tuple[PodListApi, KubeClient],
) -> None:
    api, client = raw_api
    api.objects[("secrets", "creds")] = {"kind": "Secret", "metadata": {"name": "creds"},
                                         "data": {"token": 123456789}}
    api.objects[("configmaps", "settings")] = {"kind": "ConfigMap", "metadata": {"name": "settings"},
                                               "data": {"mode": "fast"}}
    resolver = Resolver(client, Config(), {})
    with pytest.raises(InvalidReference) as refused:
        await resolver.context(pod_using("creds", "settings"), "instance", PLACEMENT)
    text = str(refused.value)
    assert "secrets/creds cannot be read" in text and "$.data" in text and "123456789" not in text
    failure = classify_failure(refused.value)
    assert failure is not None and not failure.retry and failure.pod_reason == "InvalidPodSpec"

    api.objects[("secrets", "creds")]["data"] = {"token": "c2VjcmV0"}  # the same pod, once the object is fixed
    ctx = await resolver.context(pod_using("creds", "settings"), "instance", PLACEMENT)
    assert ctx.secrets == {"creds": {"token": b"secret"}} and ctx.config_maps == {"settings": {"mode": "fast"}}
