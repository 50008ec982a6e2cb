"""One API call: rate-limit, call the SDK's async TKE client, map errors — and retry if asked.

The SDK is configured as the reference prescribes: TC3-HMAC-SHA256, no region breaker, no SDK
retryer (we retry ourselves), `protocol` passed to HttpProfile's constructor.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tke.v20180525 import tke_client_async

from spillway.cloud.errors import CloudError, classify
from spillway.cloud.ratelimit import ActionRateLimiter
from spillway.cloud.retry import CloudRetry
from spillway.loops import SYSTEM_CLOCK, Clock, RetryPolicy, call_with_retry
from spillway.telemetry.metrics import (
    CLOUD_API_RATE_LIMIT_WAIT,
    CLOUD_API_REQUESTS,
    CLOUD_API_SECONDS,
    cloud_error_code,
)

log = logging.getLogger(__name__)
# The SDK logs whole request bodies at DEBUG (registry passwords, secret env values): keep it quiet
# unless someone configured that logger on purpose.
_sdk_log = logging.getLogger("tencentcloud_sdk_common")
if _sdk_log.level == logging.NOTSET:
    _sdk_log.setLevel(logging.INFO)
DEFAULT_ENDPOINT = "tke.tencentcloudapi.com"


@dataclass
class TkeSettings:
    """How to reach TKE. The secret key never appears in reprs, logs or errors."""

    secret_id: str
    secret_key: str = field(repr=False)
    region: str
    endpoint: str = DEFAULT_ENDPOINT  # host[:port]
    protocol: str = "https"  # "http" for the emulator
    timeout: float = 30.0
    rate_per_action: float = 15.0  # below the API's 20/s per action
    rate_overrides: dict[str, float] = field(default_factory=dict)
    should_retry: RetryPolicy = field(default_factory=CloudRetry, repr=False)
    max_elapsed: float = 60.0  # total retry time of one logical call
    subnet_zones: dict[str, str] = field(default_factory=dict)
    clock: Clock = field(default=SYSTEM_CLOCK, repr=False)


class TkeApi:
    """The TKE action transport. `call` returns the `Response` object (RequestId included)."""

    def __init__(self, settings: TkeSettings) -> None:
        self.settings = settings
        http = HttpProfile(protocol=settings.protocol, endpoint=settings.endpoint,
                           reqTimeout=int(max(1, settings.timeout)), keepAlive=True)
        profile = ClientProfile(signMethod="TC3-HMAC-SHA256", httpProfile=http, disable_region_breaker=True,
                                retryer=None)
        cred = credential.Credential(settings.secret_id, settings.secret_key)
        self._client = tke_client_async.TkeClient(cred, settings.region, profile)
        self._limiter = ActionRateLimiter(settings.rate_per_action, settings.rate_overrides, settings.clock)
        self.calls = 0

    def __repr__(self) -> str:
        s = self.settings
        return f"TkeApi(endpoint={s.protocol}://{s.endpoint}, region={s.region}, secret_id={s.secret_id})"

    async def close(self) -> None:
        await self._client.close()

    async def call_once(self, action: str, params: dict[str, Any], *, idempotent: bool = True) -> dict[str, Any]:
        waiting = time.perf_counter()
        await self._limiter.acquire(action)
        started = time.perf_counter()
        CLOUD_API_RATE_LIMIT_WAIT.labels(action).observe(started - waiting)
        self.calls += 1
        code = "ClientError"  # cancelled, or failed before any answer: unless told otherwise below
        try:
            raw = await self._client.call_and_deserialize(action, params, dict)
            code = "OK"
        except TencentCloudSDKException as exc:
            code = str(exc.code)
            message = exc.message.decode(errors="replace") if isinstance(exc.message, bytes) else str(exc.message)
            raise classify(code, message, exc.requestId, idempotent=idempotent) from None
        except httpx.HTTPError as exc:  # the async SDK lets transport errors through unwrapped
            code = "ClientNetworkError"
            raise classify(code, f"{type(exc).__name__}: {exc}", None) from None
        finally:
            CLOUD_API_SECONDS.labels(action).observe(time.perf_counter() - started)
            CLOUD_API_REQUESTS.labels(action, cloud_error_code(code)).inc()
        response: dict[str, Any] = raw["Response"]
        return response

    async def call(self, action: str, params: dict[str, Any], *, idempotent: bool = True) -> dict[str, Any]:
        async def once() -> dict[str, Any]:
            return await self.call_once(action, params, idempotent=idempotent)

        try:
            return await call_with_retry(once, self.settings.should_retry, retry_on=(CloudError,),
                                         clock=self.settings.clock, max_elapsed=self.settings.max_elapsed)
        except CloudError as err:
            log.debug("%s failed: %r", action, err)
            raise
