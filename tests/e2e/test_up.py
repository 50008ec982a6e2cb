"""`spillway up`: the local stack until SIGTERM, announced the way docs/design.md §8 says, usable
through the files it writes, supervising its children (a service or NATS that dies comes back,
and one line says so), and gone without a trace when stopped."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import nats
import pytest
import yaml

from spillway.cli.stack import LocalStack, StackOptions
from spillway.model import messages

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
    with (tmp_path / "up.stderr").open("w") as progress, subprocess.Popen(
            [sys.executable, "-m", "spillway.cli", "up", "--state-dir", str(state)],
            stdout=subprocess.PIPE, stderr=progress, text=True) as proc:
        stack = announced_then_stopped(proc, state, tmp_path / "up.stderr")
    time.sleep(0.5)
    assert [pid for pid in stack if alive(pid)] == []


def announced_then_stopped(proc: subprocess.Popen[str], state: Path, progress: Path | None = None) -> list[int]:
    """Read the announcement, check it, SIGTERM; returns the pids the stack ran. When it never
    says ready, the assertion shows the end of `progress` (its stderr) and of the services' logs."""
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
        assert lines and lines[-1] == "ready", (lines, _tails(progress, *sorted((state / "logs").glob("*.log"))))
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


def _tails(*paths: Path | None, lines: int = 15) -> dict[str, list[str]]:
    return {path.name: path.read_text(errors="replace").splitlines()[-lines:]
            for path in paths if path is not None and path.exists()}


def cmdline(pid: int) -> list[str]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def service_pid(parent: int, service: str) -> int | None:
    """The pid of `spillway run SERVICE` among the children of `parent`, if one runs."""
    for pid in children_of(parent):
        argv = cmdline(pid)
        if "run" in argv and service in argv and alive(pid):
            return pid
    return None


def read_until(proc: subprocess.Popen[str], wanted: str, seconds: float, seen: list[str]) -> bool:
    """Read the merged output line by line until a line contains `wanted` (or `seconds` pass)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip())
        if wanted in line:
            return True
    return False


def test_up_restarts_a_service_that_dies_and_says_so(tmp_path: Path) -> None:
    """kill -9 placement under `spillway up`: it comes back as a new process, one line says why."""
    state = tmp_path / "state"
    seen: list[str] = []
    with subprocess.Popen([sys.executable, "-m", "spillway.cli", "up", "--state-dir", str(state)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        try:
            assert read_until(proc, "ready", 90, seen), seen
            first = service_pid(proc.pid, "placement")
            assert first is not None, [cmdline(pid) for pid in children_of(proc.pid)]
            os.kill(first, signal.SIGKILL)
            line = "placement exited with signal SIGKILL; restarting (attempt 2)"
            assert read_until(proc, line, 30, seen), seen[-10:]
            deadline = time.monotonic() + 60
            again = None
            while time.monotonic() < deadline and again is None:
                again = service_pid(proc.pid, "placement")
                time.sleep(0.2)
            assert again is not None and again != first, "placement was not started again"
            stack = children_of(proc.pid)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "restarting" in (state / "logs" / "placement.log").read_text()
    time.sleep(0.5)
    assert [pid for pid in stack if alive(pid)] == []


async def test_stack_restarts_a_dead_nats_but_never_a_child_killed_on_purpose(tmp_path: Path) -> None:
    """NATS dies → the same port and store again; `kill()` stays killed until `restart()`; `stop()`
    leaves no process; `restarts()` tells supervised restarts from restarts by hand."""
    lines: list[str] = []
    stack = LocalStack(StackOptions(state_dir=tmp_path, services=("watcher",)), progress=lines.append)
    async with stack:
        url, nats_pid = stack.nats_url, stack.nats.pid if stack.nats else None
        assert nats_pid is not None
        await stack.kill("watcher")
        os.kill(nats_pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if stack.nats and stack.nats.running and stack.nats.pid != nats_pid:
                break
            await asyncio.sleep(0.2)
        assert stack.nats is not None and stack.nats.running and stack.nats.pid != nats_pid, lines
        assert stack.nats_url == url
        nc = await nats.connect(url, max_reconnect_attempts=1)
        try:
            names = [info.config.name for info in await nc.jetstream().streams_info()]
        finally:
            await nc.close()
        assert messages.STREAM in names, f"the restarted NATS lost its store: {names}"
        await asyncio.sleep(2.0)  # past the first back-off: a killed child would be back by now
        watcher = stack.children["watcher"].process
        assert watcher is not None and watcher.returncode is not None, "a child killed on purpose was restarted"
        assert stack.restarts() == {"sandbox": 0, "emulator": 0, "watcher": 0, "nats": 1}, lines
        assert any(line.startswith("nats exited; restarting on " + stack.nats.url) for line in lines), lines
        await stack.restart("watcher")
        assert stack.restarts()["watcher"] == 0
        pids = list(stack.pids().values())
    await asyncio.sleep(0.5)
    assert [pid for pid in pids if alive(pid)] == []


async def test_a_port_taken_before_a_service_binds_it_gives_fresh_ports_and_leaks_nothing(tmp_path: Path) -> None:
    """Ports are picked before the services bind them; another program may take one. The stack
    then discards the first attempt entirely (processes, supervisors, log files: a leaked file
    is a ResourceWarning, an error here) and starts again on fresh ports."""
    import socket

    lines: list[str] = []
    stack = LocalStack(StackOptions(state_dir=tmp_path, services=("watcher",)), progress=lines.append)
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", stack.health_ports["watcher"]))
    squatter.listen()
    taken = stack.health_ports["watcher"]
    try:
        async with stack:
            assert "a port was taken meanwhile; picking fresh ports" in lines
            assert stack.health_ports["watcher"] != taken
            assert stack.restarts()["watcher"] == 0
            pids = list(stack.pids().values())
    finally:
        squatter.close()
    await asyncio.sleep(0.5)
    assert [pid for pid in pids if alive(pid)] == []
