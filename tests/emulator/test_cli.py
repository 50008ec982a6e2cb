"""`spillway cloud-emulator` starts, prints one ready line without the secret, and serves the SDK."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import pytest
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tke.v20180525 import tke_client_async

from tests.emulator.helpers import call, create_params

SECRET = "cli-secret-key-never-printed"


@pytest.mark.parametrize("via_env", [pytest.param(False, id="flag"), pytest.param(True, id="env")])
async def test_cli_ready_line_and_serving(via_env: bool) -> None:
    args = [sys.executable, "-m", "spillway.cli", "cloud-emulator", "--port", "0", "--secret-id", "AKIDcli",
            "--subnet", "subnet-x=ap-guangzhou-6", "--start-delay", "0"]
    env = dict(os.environ)
    if via_env:
        env["SPILLWAY_EMULATOR_SECRET_KEY"] = SECRET
    else:
        args += ["--secret-key", SECRET]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        match = re.search(r"http://(127\.0\.0\.1:\d+)/", line)
        assert match and "ready" in line and SECRET not in line
        profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=match[1]),
                                disable_region_breaker=True)
        async with tke_client_async.TkeClient(credential.Credential("AKIDcli", SECRET), "ap-guangzhou",
                                              profile) as client:
            created = await call(client, "CreateEKSContainerInstances", create_params(SubnetId="subnet-x"))
        assert len(created["EksCiIds"]) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert SECRET.encode() not in out + err


async def test_cli_requires_a_secret_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SPILLWAY_EMULATOR_SECRET_KEY"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "spillway.cli", "cloud-emulator", "--secret-id", "x", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and b"SPILLWAY_EMULATOR_SECRET_KEY" in err
