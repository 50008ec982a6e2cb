"""Translated random pods are accepted by the cloud emulator, sent through the real SDK (signed)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from tencentcloud.common.credential import Credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tke.v20180525 import models, tke_client

from spillway.emulator.server import Emulator
from spillway.model.kube import Pod, from_builtins
from spillway.translate import TranslationError, translate_pod
from tests.fixtures.cloud import CLOUD_REGION, CLOUD_SECRET_ID, CLOUD_SECRET_KEY, CLOUD_SUBNETS
from tests.translate.builders import container, pod
from tests.translate.test_properties import CONTEXT, pods

WANTED = 12


def translated_requests() -> list[dict[str, Any]]:
    """A dozen requests from hypothesis-generated pods (fixed seed: the same dozen every run), the
    richest ones, so volumes, probes, init containers and credentials reach the emulator."""
    context = dataclasses.replace(CONTEXT, subnet_id=next(iter(CLOUD_SUBNETS)))
    found: dict[str, dict[str, Any]] = {}

    @seed(20240605)
    @settings(max_examples=200, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(pods)
    def collect(body: dict[str, Any]) -> None:
        try:
            request = translate_pod(from_builtins(body, Pod), context).request
        except TranslationError:
            return
        found[json.dumps(request, sort_keys=True)] = request

    collect()
    richest = sorted(found, key=lambda text: (-len(text), text))[:WANTED]
    return [{**found[text], "EksCiName": f"spw-prop-{i}"} for i, text in enumerate(richest)]


def create(endpoint: str, request: dict[str, Any]) -> list[str]:
    profile = ClientProfile(signMethod="TC3-HMAC-SHA256", disable_region_breaker=True,
                            httpProfile=HttpProfile(protocol="http", endpoint=endpoint, reqTimeout=10))
    client = tke_client.TkeClient(Credential(CLOUD_SECRET_ID, CLOUD_SECRET_KEY), CLOUD_REGION, profile)
    model = models.CreateEKSContainerInstancesRequest()
    model.from_json_string(json.dumps(request))
    ids: list[str] = client.CreateEKSContainerInstances(model).EksCiIds
    return ids


def kitchen_sink() -> dict[str, Any]:
    """One pod using every mapped feature: CBS + nfs volumes, probes, capabilities, credentials, DNS."""
    app = container(
        "app", command=["serve", "$(MODE)"], args=["--db", "$(DB_PW)"], workingDir="/srv",
        env=[{"name": "MODE", "value": "fast"},
             {"name": "DB_PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
        envFrom=[{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
        ports=[{"name": "http", "containerPort": 8080}],
        volumeMounts=[{"name": "data", "mountPath": "/data"},
                      {"name": "share", "mountPath": "/share", "readOnly": True},
                      {"name": "tmp", "mountPath": "/tmp"}],
        livenessProbe={"httpGet": {"port": "http", "path": "/healthz"}},
        readinessProbe={"tcpSocket": {"port": 8080}},
        securityContext={"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}},
        resources={"requests": {"cpu": "1500m", "memory": "3Gi"}},
    )
    the_pod = pod(
        app, initContainers=[container("init", command=["true"])], restartPolicy="OnFailure",
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "cbs"}},
                 {"name": "share", "nfs": {"server": "10.0.0.9", "path": "/export"}}, {"name": "tmp", "emptyDir": {}}],
        imagePullSecrets=[{"name": "pull"}],
        annotations={"eks.tke.cloud.tencent.com/resolv-conf": "nameserver 10.0.0.10\nsearch a.example\noptions rotate"},
    )
    context = dataclasses.replace(CONTEXT, subnet_id=next(iter(CLOUD_SUBNETS)), instance_name="spw-sink")
    request = translate_pod(the_pod, context).request
    assert {"EksCiVolume", "ImageRegistryCredentials", "InitContainers", "DnsConfig"} <= set(request)
    return request


async def test_emulator_accepts_translated_requests(emulator: Emulator) -> None:
    requests = [kitchen_sink(), *translated_requests()]
    assert len(requests) == WANTED + 1
    for request in requests:
        ids = await asyncio.to_thread(create, emulator.endpoint, request)
        assert len(ids) == 1 and ids[0].startswith("eksci-"), request["EksCiName"]
