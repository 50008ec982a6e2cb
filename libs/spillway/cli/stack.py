"""The whole local stack on one machine: embedded NATS, the Kubernetes sandbox, the TKE
Serverless emulator and every service, each service its own OS process (docs/design.md §4).

`spillway demo`, `spillway up`, `spillway bench` and the end-to-end tests all boot it through
`LocalStack`. Children are started with `python -m spillway.cli ...`, so nothing depends on
PATH; each one dies with its parent (PR_SET_PDEATHSIG) and `stop()` terminates every child, so
no process is ever left behind. Their output goes to `<state-dir>/logs/<name>.log`.

The stack supervises its children as a kubelet does its containers: a child that exits on its
own is started again after a back-off (1 s, doubling to 30 s, reset once it ran for a minute)
and one line says so (`placement exited with status 1; restarting (attempt 2)`); a NATS server
that dies is started again on the same port and store. A crash loop stays visible instead of
leaving a stack that looks up but decides nothing. `kill()`/`stop()` are deliberate and never
undone by the supervisor; `restarts()` counts the supervised restarts per child.

With `StackOptions(rbac=True)` the sandbox authorises every call (`--rbac`, HTTPS) and each
service runs on its own ServiceAccount token, bound to the roles in `k8s/base` (`stack_rbac`):
its own kubeconfig and config file under `<state-dir>/services/<name>/`. `stack.kubeconfig`
stays the admin one, for tests and tools; `await stack.audit()` returns the sandbox's audit.

The bus runs the deployed authorisation (`spillway.bus.permissions`) with passwords generated per
stack: each service connects as its own NATS user (SPILLWAY_NATS_USER / SPILLWAY_NATS_PASSWORD in
its environment), the stack sets the streams up as the admin before any service starts, the env
file carries the read-only user's credentials for `spillway events` / `spillway explain`, and
`stack.nats_url` is the admin's URL (credentials inside) for tests and tools, never printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import yaml

from spillway.bus import Bus
from spillway.bus.permissions import ADMIN, READER, USERS, render_authorization
from spillway.cli import stack_rbac
from spillway.config import Secret
from spillway.natsserver import NatsServer, NatsServerError, free_port

BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
BACKOFF_RESET_AFTER_SECONDS = 60.0
"""A child that ran this long before exiting starts again after the first back-off."""
NATS_POLL_SECONDS = 0.5

SERVICES = ("watcher", "placement", "cloud-provisioner", "node-status", "admission")
DEMO_SUBNETS = (("subnet-0a1b2c3d", "ap-guangzhou-3"), ("subnet-4e5f6a7b", "ap-guangzhou-4"))
DEMO_SECRET_ID = "AKIDspillwaylocalstack"
CLUSTER_ID = "spillway-local"

Progress = Callable[[str], None]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    """One OS process of the stack and how to tell it is ready."""

    name: str
    argv: list[str]
    ready_url: str
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    log: IO[bytes] | None = None
    supervised: bool = False
    """Started again when it exits; False while it is stopped or killed on purpose."""
    restarts: int = 0
    """How many times the supervisor started it again after it exited on its own."""
    started_at: float = 0.0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


def backoff_seconds(failures: int) -> float:
    """The wait before restart number `failures` + 1 of a crash loop (kubelet's shape, shorter)."""
    return min(BACKOFF_FIRST_SECONDS * float(1 << min(failures, 16)), BACKOFF_CAP_SECONDS)


def describe_exit(returncode: int) -> str:
    """`exited with status 1`, or `exited with signal SIGKILL` for a child a signal ended."""
    if returncode < 0:
        try:
            return f"exited with signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"exited with signal {-returncode}"
    return f"exited with status {returncode}"


@dataclass
class StackOptions:
    state_dir: Path
    nodes: int = 1
    node_cpu: str = "2"
    node_memory: str = "4Gi"
    start_delay: float = 1.0
    emulator_rate_limit: float = 20.0
    instance_quota: int = 500
    cloud_rate_limit: float = 15.0  # the services' client-side limit per action (0: off, for benchmarks)
    services: tuple[str, ...] = SERVICES
    extra_env: dict[str, str] = field(default_factory=dict)
    sandbox_args: tuple[str, ...] = ()
    emulator_args: tuple[str, ...] = ()
    ready_timeout: float = 60.0
    rbac: bool = False
    """Sandbox with --rbac; every service on its own token, bound to the roles of `rbac_manifests`."""
    rbac_manifests: Path | None = None
    """The kustomization whose ServiceAccounts, roles and bindings are applied (default: k8s/base)."""
    config_overrides: dict[str, Any] = field(default_factory=dict)
    """Merged into every service's config file, section by section (e.g. {"provisioner": {...}})."""


class LocalStack:
    """Boot, watch and stop the local stack. Use `async with LocalStack(options) as stack:`."""

    def __init__(self, options: StackOptions, progress: Progress | None = None) -> None:
        self.options = options
        self.progress: Progress = progress or (lambda _msg: None)
        self.state_dir = options.state_dir.resolve()
        self.logs_dir = self.state_dir / "logs"
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.config_path = self.state_dir / "config.yaml"
        self.env_path = self.state_dir / "env"
        self.tokens_dir = self.state_dir / "tokens"
        self.nats: NatsServer | None = None
        self.children: dict[str, Child] = {}
        self.sandbox_port = free_port()
        self.emulator_port = free_port()
        self.health_ports = {name: free_port() for name in SERVICES}
        self.admission_port = free_port()
        self.kubelet_port = free_port()
        self._secret_key = secrets.token_urlsafe(24)
        self._nats_passwords = {user.name: secrets.token_urlsafe(24) for user in USERS}
        self.otlp_endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
        self.nats_restarts = 0
        self._nats_started_at = 0.0
        self._stopping = False
        self._supervisors: dict[str, asyncio.Task[None]] = {}

    # ---- addresses -------------------------------------------------------------------------

    @property
    def nats_address(self) -> str:
        """The server's URL without credentials (what the services and tools are told)."""
        assert self.nats is not None
        return self.nats.url

    @property
    def nats_url(self) -> str:
        """The admin's URL, credentials inside: for tests and tools of this stack, never printed."""
        address = self.nats_address
        return address.replace("://", f"://{ADMIN}:{self._nats_passwords[ADMIN]}@", 1)

    def nats_password(self, user: str) -> Secret:
        """The generated password of bus user `user` (its table row in `spillway.bus.permissions`)."""
        return Secret(self._nats_passwords[user])

    @property
    def sandbox_url(self) -> str:
        scheme = "https" if self.options.rbac else "http"
        return f"{scheme}://127.0.0.1:{self.sandbox_port}"

    @property
    def emulator_endpoint(self) -> str:
        return f"127.0.0.1:{self.emulator_port}"

    @property
    def emulator_url(self) -> str:
        return f"http://{self.emulator_endpoint}"

    # ---- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> LocalStack:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.progress("starting NATS (JetStream)")
        self.nats = NatsServer(store_dir=str(self.state_dir / "nats"), log_file=str(self.logs_dir / "nats.log"),
                               authorization=render_authorization(self._nats_passwords))
        await self.nats.astart()
        await self.set_up_bus()
        self._nats_started_at = time.monotonic()
        self._supervisors["nats"] = asyncio.create_task(self._supervise_nats(), name="supervise nats")
        if self.options.rbac:
            stack_rbac.write_tokens(self.tokens_dir, self.options.services)
        self.progress("starting the Kubernetes sandbox and the TKE Serverless emulator")
        await asyncio.gather(self._start(self._sandbox_child()), self._start(self._emulator_child()))
        await self.prepare_cluster()
        self.write_config()
        if self.options.rbac:
            await self.apply_rbac()
        self.write_env()
        if "admission" in self.options.services:
            from services.admission.tls import ensure_certificate

            ensure_certificate(*self.admission_cert)
        self.progress(f"starting services: {', '.join(self.options.services)}")
        await self._start_services()
        if "admission" in self.options.services:
            await self.register_admission_webhook()
        self.progress("every service reports ready")

    async def set_up_bus(self) -> None:
        """What `spillway bus setup` does on a deployed bus: the admin creates the streams and
        buckets, which no service may."""
        bus = await Bus.connect(self.nats_address, service="setup", user=ADMIN,
                                password=self.nats_password(ADMIN), max_reconnect_attempts=3)
        try:
            await bus.ensure()
        finally:
            await bus.close(drain=False)

    async def _start_services(self, attempts: int = 3) -> None:
        """Start every service; ports are picked before the processes bind them, so another
        program may take one meanwhile: then stop them, pick fresh ports and try again."""
        for attempt in range(attempts):
            started = asyncio.gather(*(self._start(self._service_child(name)) for name in self.options.services))
            try:
                await started
                return
            except StackError as exc:
                await asyncio.gather(started, return_exceptions=True)
                if "address already in use" not in str(exc) or attempt == attempts - 1:
                    raise
                self.progress("a port was taken meanwhile; picking fresh ports")
                await asyncio.gather(*(self._discard(self.children[name], 5.0)
                                       for name in self.options.services if name in self.children))
                self.health_ports = {name: free_port() for name in SERVICES}
                self.admission_port, self.kubelet_port = free_port(), free_port()
                self.write_config()

    async def prepare_cluster(self) -> None:
        """What `kubectl apply -k k8s/` creates on a real cluster: the `spillway` namespace
        (leader-election Leases live there) and the `kube-system/eks-config` switch."""
        from spillway.kube import Conflict, KubeClient
        from spillway.kube.client import collection_path

        client = await KubeClient.connect(str(self.kubeconfig))
        try:
            with contextlib.suppress(Conflict):
                await client.request("POST", collection_path("v1", "namespaces"), body={
                    "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "spillway"}})
            with contextlib.suppress(Conflict):
                await client.request("POST", collection_path("v1", "configmaps", "kube-system"), body={
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "eks-config", "namespace": "kube-system"},
                    "data": {"AUTO_SCALE_EKS": "true"}})
        finally:
            await client.close()

    async def apply_rbac(self) -> None:
        """What `kubectl apply -k k8s/base` grants, then one kubeconfig and config file per service."""
        from spillway.kube import KubeClient

        manifests = self.options.rbac_manifests or stack_rbac.default_manifests()
        if not (manifests / "kustomization.yaml").is_file():
            raise StackError(f"rbac mode needs the RBAC manifests; no kustomization.yaml in {manifests}")
        self.progress(f"applying ServiceAccounts, roles and bindings from {manifests}")
        client = await KubeClient.connect(str(self.kubeconfig))
        try:
            await stack_rbac.apply_objects(client, stack_rbac.load_rbac_objects(manifests))
        finally:
            await client.close()
        tokens = stack_rbac.write_tokens(self.tokens_dir, self.options.services)
        for name in self.options.services:
            stack_rbac.write_service_kubeconfig(
                self.kubeconfig, name, tokens[name], self.service_dir(name) / "kubeconfig")
        self.write_config()

    def service_dir(self, name: str) -> Path:
        return self.state_dir / "services" / name

    def config_for(self, name: str) -> Path:
        """The config file service `name` runs with: its own in rbac mode, else the shared one."""
        return self.service_dir(name) / "config.yaml" if self.options.rbac else self.config_path

    async def audit(self) -> list[dict[str, Any]]:
        """Every API call the sandbox saw (user, verb, group, resource, subresource, namespace,
        name, allowed), read with the admin token."""
        from spillway.kube import KubeClient

        client = await KubeClient.connect(str(self.kubeconfig))
        try:
            return await client.get_as("/debug/spillway/audit", list[dict[str, Any]])
        finally:
            await client.close()

    @property
    def admission_cert(self) -> tuple[Path, Path]:
        return self.state_dir / "admission" / "tls.crt", self.state_dir / "admission" / "tls.key"

    async def register_admission_webhook(self) -> None:
        """Point the sandbox's MutatingWebhookConfiguration at our admission service, as
        `kubectl apply -k k8s/` does on a real cluster (with cert-manager's caBundle)."""
        from services.admission.registration import register_webhook
        from services.admission.tls import ensure_certificate
        from spillway.kube import KubeClient

        cert = ensure_certificate(*self.admission_cert)
        client = await KubeClient.connect(str(self.kubeconfig))
        try:
            await register_webhook(client, f"https://127.0.0.1:{self.admission_port}/mutate", cert.ca_bundle)
        finally:
            await client.close()

    async def stop(self, grace: float = 10.0) -> None:
        """Services first (they drain against a live API, cloud and bus), then the sandbox and
        the emulator, then NATS; whatever ignores SIGTERM for `grace` seconds is killed."""
        self._stopping = True
        for child in self.children.values():
            child.supervised = False
        supervisors = list(self._supervisors.values())
        self._supervisors.clear()
        for task in supervisors:
            task.cancel()
        await asyncio.gather(*supervisors, return_exceptions=True)
        services = [c for name, c in self.children.items() if name in SERVICES]
        tools = [c for name, c in self.children.items() if name not in SERVICES]
        for group in (services, tools):
            await asyncio.gather(*(self._terminate(child, grace) for child in group))
        for child in self.children.values():
            if child.log:
                child.log.close()
        if self.nats is not None:
            await self.nats.astop()

    async def _terminate(self, child: Child, grace: float) -> None:
        child.supervised = False
        process = child.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            self.progress(f"{child.name} ignored SIGTERM for {grace:.0f} s; killing it")
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    async def kill(self, name: str) -> None:
        """kill -9 one child (chaos tests), leaving it dead until `restart(name)`: the
        supervisor does not start a child killed on purpose."""
        child = self.children[name]
        child.supervised = False
        if child.process is not None and child.process.returncode is None:
            child.process.kill()
            await child.process.wait()

    async def restart(self, name: str) -> None:
        """Start a child again with the same arguments and wait until it is ready (a restart
        by hand: not counted in `restarts()`)."""
        child = self.children[name]
        await self._discard(child, 10.0)
        again = Child(child.name, child.argv, child.ready_url, child.env, restarts=child.restarts)
        await self._start(again)

    async def _discard(self, child: Child, grace: float) -> None:
        """End a child for good before it is replaced: its supervisor, its process, its log."""
        child.supervised = False
        supervisor = self._supervisors.pop(child.name, None)
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        await self._terminate(child, grace)
        if child.log:
            child.log.close()

    def restarts(self) -> dict[str, int]:
        """Supervised restarts per child (and `nats`) since the stack started; restarts by hand
        (`restart()`) are not counted."""
        counts = {name: child.restarts for name, child in self.children.items()}
        counts["nats"] = self.nats_restarts
        return counts

    async def _start(self, child: Child) -> None:
        self.children[child.name] = child
        child.log = open(self.logs_dir / f"{child.name}.log", "ab")  # noqa: SIM115, ASYNC230 - tiny, closed in stop()
        await self._spawn(child)
        await self._wait_ready(child)
        if not self._stopping:
            child.supervised = True
            self._supervisors[child.name] = asyncio.create_task(self._supervise(child), name=f"supervise {child.name}")

    async def _spawn(self, child: Child) -> None:
        env = os.environ | {"PYTHONUNBUFFERED": "1"} | self.options.extra_env | child.env
        if self.otlp_endpoint:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.otlp_endpoint
        child.started_at = time.monotonic()
        child.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "spillway.cli", *child.argv,
            stdout=child.log, stderr=child.log, stdin=asyncio.subprocess.DEVNULL, env=env,
            preexec_fn=_die_with_parent,
        )

    async def _supervise(self, child: Child) -> None:
        """Wait for the child to exit; unless that was on purpose, start it again after the
        back-off and say so, for as long as the stack runs."""
        failures = 0
        while True:
            process = child.process
            assert process is not None
            returncode = await process.wait()
            if not child.supervised or self._stopping or child.process is not process:
                return
            if time.monotonic() - child.started_at >= BACKOFF_RESET_AFTER_SECONDS:
                failures = 0
            delay = backoff_seconds(failures)
            failures += 1
            child.restarts += 1
            line = f"{child.name} {describe_exit(returncode)}; restarting (attempt {child.restarts + 1})"
            self.progress(line)
            self._note_in_log(child, f"{line} in {delay:.0f} s")
            await asyncio.sleep(delay)
            if not child.supervised or self._stopping:
                return
            spawning = asyncio.ensure_future(self._spawn(child))
            try:
                await asyncio.shield(spawning)
            except asyncio.CancelledError:
                await spawning  # the new process is recorded on the child, so stop() ends it too
                raise
            try:
                await self._wait_ready(child)
            except StackError as exc:  # it will exit again (restarted) or stays up unready: both visible
                self.progress(f"{child.name} is not ready after restarting: {exc}")

    def _note_in_log(self, child: Child, line: str) -> None:
        if child.log is not None and not child.log.closed:
            with contextlib.suppress(OSError):
                child.log.write(f"spillway up: {line}\n".encode())
                child.log.flush()

    async def _supervise_nats(self) -> None:
        """Start a NATS server that died again, on the same port and store (its streams and
        buckets survive). A server stopped on purpose (`nats.stop()`) is left alone."""
        failures = 0
        while not self._stopping:
            await asyncio.sleep(NATS_POLL_SECONDS)
            server = self.nats
            if server is None:
                return
            before, running, after = server.pid, server.running, server.pid
            if before is None or after != before or running:
                continue  # stopped on purpose (pid cleared), or alive
            if time.monotonic() - self._nats_started_at >= BACKOFF_RESET_AFTER_SECONDS:
                failures = 0
            await server.astop()  # reaps the dead process; the store stays
            while not self._stopping:
                delay = backoff_seconds(failures)
                failures += 1
                self.nats_restarts += 1
                self.progress(f"nats exited; restarting on {server.url} with its store "
                              f"(attempt {self.nats_restarts + 1})")
                await asyncio.sleep(delay)
                if self._stopping:
                    return
                self._nats_started_at = time.monotonic()
                try:
                    await server.astart()
                    break
                except NatsServerError as exc:
                    self.progress(f"nats did not come back: {exc}")

    async def _wait_ready(self, child: Child) -> None:
        deadline = time.monotonic() + self.options.ready_timeout
        async with aiohttp.ClientSession() as session:
            while True:
                assert child.process is not None
                if child.process.returncode is not None:
                    raise StackError(f"{child.name} exited with status {child.process.returncode}; "
                                     f"see {self.logs_dir / (child.name + '.log')}: {self.log_tail(child.name)}")
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    # ssl=False: a readiness probe only; the sandbox's CA exists once it runs (rbac mode)
                    async with session.get(child.ready_url, ssl=False,
                                           timeout=aiohttp.ClientTimeout(total=1)) as resp:
                        if resp.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise StackError(f"{child.name} not ready after {self.options.ready_timeout:.0f} s; "
                                     f"see {self.logs_dir / (child.name + '.log')}: {self.log_tail(child.name)}")
                await asyncio.sleep(0.1)

    def log_tail(self, name: str, lines: int = 5) -> str:
        path = self.logs_dir / f"{name}.log"
        if not path.exists():
            return ""
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])

    # ---- children ----------------------------------------------------------------------------

    def _sandbox_child(self) -> Child:
        argv = ["sandbox", "--port", str(self.sandbox_port), "--kubeconfig", str(self.kubeconfig),
                "--data-dir", str(self.state_dir / "sandbox"), *self._sandbox_topology_args(),
                *self.options.sandbox_args]
        if self.options.rbac:
            argv += ["--rbac", "--tokens-dir", str(self.tokens_dir)]
        return Child("sandbox", argv, f"{self.sandbox_url}/readyz")

    def _sandbox_topology_args(self) -> list[str]:
        return ["--nodes", str(self.options.nodes), "--node-cpu", self.options.node_cpu,
                "--node-memory", self.options.node_memory]

    def _emulator_child(self) -> Child:
        argv = ["cloud-emulator", "--port", str(self.emulator_port), "--secret-id", DEMO_SECRET_ID,
                "--start-delay", str(self.options.start_delay), "--data-dir", str(self.state_dir / "emulator"),
                "--rate-limit", str(self.options.emulator_rate_limit), "--quota", str(self.options.instance_quota),
                *[arg for subnet, zone in DEMO_SUBNETS for arg in ("--subnet", f"{subnet}={zone}")],
                *self.options.emulator_args]
        return Child("emulator", argv, f"{self.emulator_url}/_admin/state",
                     env={"SPILLWAY_EMULATOR_SECRET_KEY": self._secret_key})

    def _service_child(self, name: str) -> Child:
        argv = ["run", name, "--config", str(self.config_for(name)), "--nats", self.nats_address,
                "--health-port", str(self.health_ports[name])]
        env = {"SPILLWAY_SECRET_ID": DEMO_SECRET_ID, "SPILLWAY_SECRET_KEY": self._secret_key,
               "SPILLWAY_NATS_USER": name, "SPILLWAY_NATS_PASSWORD": self._nats_passwords[name],
               "OTEL_SERVICE_NAME": f"spillway-{name}"}
        return Child(name, argv, f"http://127.0.0.1:{self.health_ports[name]}/readyz", env=env)

    def config_dict(self) -> dict[str, Any]:
        """The services' config file: the original chart's keys, pointed at the local stack.
        Secrets are not in it; children get them from the environment."""
        config: dict[str, Any] = {
            "cloud": {
                "appID": "1250000000",
                "ownerUIN": "100000000001",
                "vpcID": "vpc-spillway",
                "regionShort": "gz",
                "regionLong": "ap-guangzhou",
                "subnets": [{"id": subnet, "zone": zone} for subnet, zone in DEMO_SUBNETS],
                "apiEndpoint": f"http://{self.emulator_endpoint}",
                "clusterID": CLUSTER_ID,
                "securityGroupIds": ["sg-spillway"],
                "instanceQuota": self.options.instance_quota,
                "rateLimit": self.options.cloud_rate_limit,
            },
            "eklet": {"podUsedApiserver": f"127.0.0.1:{self.sandbox_port}"},
            "nats": {"url": self.nats_address},
            "kubernetes": {"kubeconfig": str(self.kubeconfig)},
            "nodeStatus": {"address": "127.0.0.1", "kubeletPort": self.kubelet_port,
                           "clientCaFile": str(self.state_dir / "sandbox" / "pki" / "ca.crt")},
            "admission": {"port": self.admission_port, "tls": {
                "certFile": str(self.admission_cert[0]), "keyFile": str(self.admission_cert[1])}},
        }
        for section, values in self.options.config_overrides.items():
            config[section] = {**config.get(section, {}), **values}
        return config

    def write_config(self) -> None:
        """The shared config file; in rbac mode also one per service, on its own kubeconfig."""
        self.config_path.write_text(yaml.safe_dump(self.config_dict(), sort_keys=False))
        if self.options.rbac:
            for name in self.options.services:
                config = self.config_dict()
                config["kubernetes"]["kubeconfig"] = str(self.service_dir(name) / "kubeconfig")
                self.config_for(name).parent.mkdir(parents=True, exist_ok=True)
                self.config_for(name).write_text(yaml.safe_dump(config, sort_keys=False))

    def write_env(self) -> None:
        """`source` it to point kubectl and the bus tools at the stack, as the read-only bus user."""
        self.env_path.touch(mode=0o600)
        self.env_path.chmod(0o600)  # it holds a password
        self.env_path.write_text(
            f"export KUBECONFIG={self.kubeconfig}\nexport NATS_URL={self.nats_address}\n"
            f"export SPILLWAY_CONFIG={self.config_path}\n"
            f"export SPILLWAY_NATS_USER={READER}\nexport SPILLWAY_NATS_PASSWORD={self._nats_passwords[READER]}\n")

    def pids(self) -> dict[str, int]:
        found = {name: child.pid for name, child in self.children.items() if child.pid is not None}
        if self.nats is not None and self.nats.pid is not None:
            found["nats"] = self.nats.pid
        return {name: pid for name, pid in found.items() if pid is not None}


class StackError(RuntimeError):
    """A part of the local stack failed to start; the message names it and its log."""
