"""`spillway run` as a user meets it: config errors exit 2 with one line; a real run serves health, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from spillway.natsserver import free_port

SECRET = "sk-ABSOLUTELY-PRIVATE-42"


def spillway(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spillway.cli", *args], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})})


def test_missing_config_exits_2_naming_the_file(tmp_path: Path) -> None:
    result = spillway("run", "watcher", "--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"spillway run: {tmp_path / 'missing.yaml'}: no such file"]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param(f"cloud:\n  secretKey: {SECRET}\n  subnets: [{{id: s-1}}]\n", "cloud.subnets[0].zone: required",
                     id="missing-zone"),
        pytest.param(f"cloud:\n  secretKey: {SECRET}\n  instanceQuota: lots\n", "cloud.instanceQuota: expected int",
                     id="wrong-type"),
        pytest.param(f"cloud:\n  secretKey: [{SECRET}, 1]\n", "cloud.secretKey: expected a string", id="bad-secret"),
    ],
)
def test_invalid_config_exits_2_with_key_and_never_the_secret(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    result = spillway("run", "watcher", "--config", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{path}: {key}" in lines[0]
    assert SECRET not in result.stdout + result.stderr


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for_status(url: str, status: int, proc: subprocess.Popen[str], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if get(url) == status:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered {status}")


@pytest.mark.parametrize("service", ["watcher", "placement", "cloud-provisioner", "node-status"])
def test_no_kubeconfig_outside_a_cluster_exits_2_with_one_line(tmp_path: Path, nats_server: str, service: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"cloud:\n  secretKey: {SECRET}\n  subnets: [{{id: subnet-a, zone: z-1}}]\n"
                    f"nats:\n  url: {nats_server}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE")}
    result = subprocess.run([sys.executable, "-m", "spillway.cli", "run", service, "--config", str(path),
                             "--health-port", str(free_port())], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("spillway run: in-cluster service account: kubernetes.kubeconfig: cannot use it")
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("service", ["admission"])
def test_valid_config_serves_health_and_exits_0_on_sigterm(tmp_path: Path, nats_server: str, service: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"cloud:\n  secretKey: {SECRET}\nnats:\n  url: {nats_server}\n"
                    f"admission:\n  port: {free_port()}\n")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spillway.cli", "run", service, "--config", str(path), "--health-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
    )
    try:
        wait_for_status(f"http://127.0.0.1:{port}/readyz", 200, proc)
        assert get(f"http://127.0.0.1:{port}/healthz") == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            assert b"spillway_service_ready" in resp.read()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert SECRET not in out + err
    assert f'"service": "spillway-{service}"' in err  # JSON logs name the service
