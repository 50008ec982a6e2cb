"""Helpers for emulator tests: the plain SDK client, as a new user would build it, and request bodies."""

from __future__ import annotations

import json
from typing import Any

from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tke.v20180525 import tke_client_async

from spillway.emulator.server import Emulator
from tests.fixtures.cloud import CLOUD_REGION, CLOUD_SECRET_ID, CLOUD_SECRET_KEY


def sdk(emu: Emulator, secret_id: str = CLOUD_SECRET_ID, secret_key: str = CLOUD_SECRET_KEY,
        region: str = CLOUD_REGION) -> tke_client_async.TkeClient:
    http = HttpProfile(protocol="http", endpoint=emu.endpoint)
    profile = ClientProfile(signMethod="TC3-HMAC-SHA256", httpProfile=http, disable_region_breaker=True)
    return tke_client_async.TkeClient(credential.Credential(secret_id, secret_key), region, profile)


def create_params(name: str = "web-1", **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "EksCiName": name, "Containers": [{"Name": "app", "Image": "nginx:1.27"}], "SecurityGroupIds": ["sg-1"],
        "SubnetId": "subnet-aaa", "VpcId": "vpc-1", "Cpu": 1.0, "Memory": 2.0,
    }
    params.update(overrides)
    return params


async def call(client: tke_client_async.TkeClient, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """Call an action through the SDK and return its `Response` (raises TencentCloudSDKException)."""
    raw = await client.call_and_deserialize(action, params, dict)
    response: dict[str, Any] = raw["Response"]
    return response


def model(cls: type, params: dict[str, Any]) -> Any:
    req = cls()
    req.from_json_string(json.dumps(params))
    return req
