"""Signature checks and the response envelope, with the real SDK and with hand-signed requests."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from spillway.emulator.server import Emulator
from spillway.emulator.signing import sign
from tests.emulator.helpers import call, sdk
from tests.fixtures.cloud import CLOUD_SECRET_ID, CLOUD_SECRET_KEY

DESCRIBE = "DescribeEKSContainerInstances"


@pytest.mark.parametrize(("secret_id", "secret_key", "code"), [
    pytest.param(CLOUD_SECRET_ID, "wrong-key", "AuthFailure.SignatureFailure", id="wrong-key"),
    pytest.param("AKIDunknown", CLOUD_SECRET_KEY, "AuthFailure.SecretIdNotFound", id="unknown-secret-id"),
])
async def test_sdk_with_bad_credentials_is_refused(emulator: Emulator, secret_id: str, secret_key: str,
                                                   code: str) -> None:
    async with sdk(emulator, secret_id, secret_key) as client:
        with pytest.raises(TencentCloudSDKException) as err:
            await call(client, DESCRIBE, {})
    assert err.value.code == code and err.value.requestId
    assert CLOUD_SECRET_KEY not in str(err.value)


async def _raw(emu: Emulator, body: bytes, *, skew: int = 0, action: str = DESCRIBE,
               version: str = "2018-05-25", key: str = CLOUD_SECRET_KEY, unsigned: bool = False,
               tamper: bytes | None = None) -> tuple[aiohttp.ClientResponse, dict[str, Any]]:
    ts = int(time.time()) + skew  # taken when the request is made: the suite may run long after collection
    headers = {"Content-Type": "application/json", "Host": emu.endpoint, "X-TC-Action": action,
               "X-TC-Version": version, "X-TC-Region": "ap-guangzhou", "X-TC-Timestamp": str(ts)}
    signed_body = body
    if unsigned:
        headers["X-TC-Content-SHA256"] = "UNSIGNED-PAYLOAD"
        signed_body = b"ignored"
    auth = sign(CLOUD_SECRET_ID, key, service="tke", host=emu.endpoint, body=signed_body, timestamp=ts)
    if unsigned:  # the UNSIGNED-PAYLOAD literal is hashed instead of the body
        from spillway.emulator.signing import canonical_request, signature, utc_date

        creq = canonical_request("POST", "/", "", {"content-type": "application/json", "host": emu.endpoint},
                                 ["content-type", "host"], None)
        sig = signature(key, service="tke", timestamp=ts, date=utc_date(ts), canonical_request=creq)
        auth = auth.rsplit("Signature=", 1)[0] + "Signature=" + sig
    headers["Authorization"] = auth
    async with aiohttp.ClientSession() as session, \
            session.post(emu.url, data=tamper if tamper is not None else body, headers=headers) as resp:
        return resp, json.loads(await resp.read())


@pytest.mark.parametrize(("kwargs", "code"), [
    pytest.param({}, None, id="valid"),
    pytest.param({"skew": -600}, "AuthFailure.SignatureExpire", id="ten-minutes-old"),
    pytest.param({"skew": 600}, "AuthFailure.SignatureExpire", id="ten-minutes-ahead"),
    pytest.param({"unsigned": True}, None, id="unsigned-payload"),
    pytest.param({"tamper": b'{"Limit": 5}'}, "AuthFailure.SignatureFailure", id="body-changed-after-signing"),
    pytest.param({"version": "2022-05-01"}, "NoSuchVersion", id="wrong-version"),
    pytest.param({"action": "DescribeClusters"}, "InvalidAction", id="unknown-action"),
])
async def test_hand_signed_requests(emulator: Emulator, kwargs: dict[str, Any], code: str | None) -> None:
    resp, data = await _raw(emulator, b'{"Limit": 1}', **kwargs)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert "RequestId" in data["Response"]
    assert data["Response"].get("Error", {}).get("Code") == code


@pytest.mark.parametrize(("header", "value", "code"), [
    pytest.param("Authorization", "garbage", "AuthFailure.InvalidAuthorization", id="malformed-authorization"),
    pytest.param("X-TC-Region", "mars-north-1", "UnsupportedRegion", id="unknown-region"),
])
async def test_bad_headers(emulator: Emulator, header: str, value: str, code: str) -> None:
    ts = int(time.time())
    body = b"{}"
    headers = {"Content-Type": "application/json", "X-TC-Action": DESCRIBE, "X-TC-Version": "2018-05-25",
               "X-TC-Region": "ap-guangzhou", "X-TC-Timestamp": str(ts),
               "Authorization": sign(CLOUD_SECRET_ID, CLOUD_SECRET_KEY, service="tke", host=emulator.endpoint,
                                     body=body, timestamp=ts)}
    headers[header] = value
    async with aiohttp.ClientSession() as session, session.post(emulator.url, data=body, headers=headers) as resp:
        data = await resp.json(content_type=None)
    assert data["Response"]["Error"]["Code"] == code
