"""A service on its own bus user: it connects with its credentials, never creates the streams
(it waits for the admin's set-up, then starts), and its password never reaches its output."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from spillway.bus import Bus
from spillway.bus.permissions import ADMIN
from spillway.config import parse_config
from spillway.natsserver import NatsServer, free_port
from spillway.runtime import Runtime, Service
from tests.fixtures.eventually import eventually
from tests.fixtures.nats import service_nats_config, url_as


async def test_a_service_waits_for_the_admins_setup_then_starts(
    nats_process: NatsServer, nats_passwords: dict[str, str],
) -> None:
    config = parse_config({"nats": service_nats_config(nats_process, "admission", nats_passwords)}, env={})
    runtime = Runtime(Service("admission"), config, health_port=free_port(), health_host="127.0.0.1")
    serving = asyncio.create_task(runtime.serve())
    try:
        await eventually(lambda: runtime.bus is not None and runtime.bus.connected, what="admission connected")
        assert not runtime.is_ready()  # connected, but the streams are not there: it waits
        admin = await Bus.connect(url_as(nats_process, ADMIN, nats_passwords), service="setup")
        try:
            await admin.ensure()
        finally:
            await admin.close()
        await eventually(runtime.is_ready, what="admission ready after the set-up", seconds=15)
    finally:
        runtime.stop()
        assert await asyncio.wait_for(serving, 15) == 0
    log = nats_process.log_file.read_text(errors="replace")
    assert "Violation" not in log  # it never tried to create a stream itself


def test_spillway_run_never_prints_the_bus_password(
    tmp_path: Path, nats_process: NatsServer, nats_passwords: dict[str, str], nats_server: str,
) -> None:
    asyncio.run(_set_up(nats_server))
    path = tmp_path / "config.yaml"
    path.write_text(f"nats:\n  url: {nats_process.url}\nadmission:\n  port: {free_port()}\n")
    password = nats_passwords["admission"]
    port = free_port()
    env = {**os.environ, "SPILLWAY_NATS_USER": "admission", "SPILLWAY_NATS_PASSWORD": password,
           "OTEL_TRACES_EXPORTER": "none"}
    proc = subprocess.Popen([sys.executable, "-m", "spillway.cli", "run", "admission", "--config", str(path),
                             "--health-port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if '"msg": "service started"' in line:
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    output = "".join(lines) + out + err
    assert proc.returncode == 0, output
    assert '"nats_user": "admission"' in output
    assert password not in output


async def _set_up(url: str) -> None:
    admin = await Bus.connect(url, service="setup")
    try:
        await admin.ensure()
    finally:
        await admin.close()
