"""`spillway up` (issue #7): the local stack until SIGTERM, announced the way DESIGN §8 says,
usable through the files it writes, and gone without a trace when stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_up_announces_the_stack_and_stops_every_process_on_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with subprocess.Popen([sys.executable, "-m", "spillway.cli", "up", "--state-dir", str(state)],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        stack = announced_then_stopped(proc, state)
    time.sleep(0.5)
    assert [pid for pid in stack if alive(pid)] == []


def announced_then_stopped(proc: subprocess.Popen[str], state: Path) -> list[int]:
    """Read the announcement, check it, SIGTERM; returns the pids the stack ran."""
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if line.strip() == "ready":
                break
        assert lines and lines[-1] == "ready", lines
        announced = dict(line.split(": ", 1) for line in lines[:-1] if ": " in line)
        assert Path(announced["kubeconfig"]) == state.resolve() / "kubeconfig"
        assert announced["nats"].startswith("nats://127.0.0.1:")
        assert "otlp" in announced
        env = (state / "env").read_text()
        assert f"export KUBECONFIG={state.resolve() / 'kubeconfig'}" in env and "export NATS_URL=nats://" in env
        server = yaml.safe_load(Path(announced["kubeconfig"]).read_text())["clusters"][0]["cluster"]["server"]
        assert server.startswith("http://127.0.0.1:")
        stack = children_of(proc.pid)
        assert len(stack) >= 7  # NATS, sandbox, emulator and five services
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return stack
