"""A real Prometheus for the tests: its own port, config and data directory, file service discovery.

The Debian package may also run a system Prometheus on :9090; this one never touches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from spillway.natsserver import free_port
from tests.fixtures.eventually import eventually
from tests.ops.rules import PROMETHEUS, rule_groups


def file_sd(targets: dict[str, int]) -> list[dict[str, Any]]:
    """One file_sd group per service: its metrics port on this machine, its name as job and label."""
    return [{"targets": [f"127.0.0.1:{port}"], "labels": {"job": name, "service": name}}
            for name, port in sorted(targets.items())]


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session = aiohttp.ClientSession()

    async def api(self, path: str, **params: str) -> Any:
        async with self.session.get(f"{self.url}/api/v1/{path}", params=params) as resp:
            body = await resp.json()
            assert body["status"] == "success", body
            return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        data = await self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    async def finite(self, expr: str) -> list[dict[str, Any]]:
        """The samples of `expr` whose value is a number (histogram_quantile of nothing is NaN)."""
        return [s for s in await self.query(expr) if math.isfinite(float(s["value"][1]))]


def write_config(workdir: Path, targets: dict[str, int], interval: str) -> Path:
    """prometheus.yml, the file_sd targets and the rules (evaluated every `interval`) in `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "targets.json").write_text(json.dumps(file_sd(targets)))
    groups = [dict(group, interval=interval) for group in rule_groups()]
    (workdir / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(workdir / "rules.yaml")],
        "scrape_configs": [{"job_name": "spillway", "honor_labels": True, "file_sd_configs": [
            {"files": [str(workdir / "targets.json")], "refresh_interval": "1s"}]}],
    }))
    return config


@contextlib.asynccontextmanager
async def running_prometheus(workdir: Path, targets: dict[str, int], *, interval: str = "1s"
                             ) -> AsyncIterator[Prometheus]:
    """Prometheus scraping `targets` (service → port) every `interval`, with the component's rules
    evaluated at the same pace."""
    assert PROMETHEUS is not None
    config = write_config(workdir, targets, interval)
    log_path = workdir / "prometheus.log"
    port = free_port()
    log = open(log_path, "wb")  # noqa: SIM115, ASYNC230 - tiny, closed below
    process = await asyncio.create_subprocess_exec(
        PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn", stdout=log, stderr=log)
    prometheus = Prometheus(f"http://127.0.0.1:{port}")
    try:
        async def ready() -> bool:
            assert process.returncode is None, f"prometheus exited; see {log_path}"
            with contextlib.suppress(aiohttp.ClientError):
                async with prometheus.session.get(f"{prometheus.url}/-/ready") as resp:
                    return resp.status == 200
            return False

        await eventually(ready, what="prometheus ready", seconds=30, interval=0.1)
        yield prometheus
    finally:
        await prometheus.session.close()
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()
