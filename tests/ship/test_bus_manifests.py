"""The k8s manifests lock the bus down: every service on its own NATS user over TLS, the servers
running the rendered authorisation with every password from the Secret, an admin-only set-up Job.

The last test runs a real nats-server on the sandbox overlay's rendered files (its nats.conf, the
component's authorization.conf, its Secret's passwords, a certificate like the script's) laid out
as the pod mounts them, and connects as each service the way its Deployment configures it.
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest

from spillway.bus import Bus
from spillway.bus.client import connect_options
from spillway.bus.permissions import ADMIN, USERS, password_variable, render_authorization
from spillway.config import Secret
from spillway.model import messages as m
from spillway.natsserver import find_binary, free_port
from spillway.runtime.tls import self_signed
from tests.ship.render import KUBECTL, SERVICES, of_kind, render, service_deployments

pytestmark = [pytest.mark.kubectl, pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")]

CREDENTIALS = "spillway-nats-credentials"
NATS_TLS = "spillway-nats-tls"


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def mounted_secret(pod: dict[str, Any], container: dict[str, Any], path: str) -> str:
    """The Secret mounted where `path` lies in `container`."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        if path.startswith(mount["mountPath"].rstrip("/") + "/"):
            return str(volumes[mount["name"]]["secret"]["secretName"])
    raise AssertionError(f"nothing mounted at {path}")


def config_map(objs: tuple[dict[str, Any], ...], prefix: str) -> dict[str, str]:
    (cm,) = [o for o in of_kind(objs, "ConfigMap") if o["metadata"]["name"].startswith(prefix)]
    return dict(cm["data"])


@pytest.mark.parametrize("target", ["overlays/sandbox", "overlays/production"])
def test_every_service_and_the_setup_job_connect_as_their_own_user_over_tls(target: str) -> None:
    objs = render(target)
    workloads = {name: dep["spec"]["template"]["spec"] for name, dep in service_deployments(objs).items()}
    (job,) = of_kind(objs, "Job")
    workloads[ADMIN] = job["spec"]["template"]["spec"]
    assert sorted(workloads) == sorted([*SERVICES, ADMIN])
    for user, pod in workloads.items():
        (container,) = pod["containers"]
        env = env_of(container)
        assert env["SPILLWAY_NATS_USER"] == user
        assert env["SPILLWAY_NATS_PASSWORD"] == {"secretKeyRef": {"name": CREDENTIALS, "key": user}}
        assert mounted_secret(pod, container, env["SPILLWAY_NATS_CA_FILE"]) == NATS_TLS
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["spillway", "bus", "setup"]
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert config_map(objs, "spillway-env-")["NATS_URL"].startswith("tls://")


def test_the_servers_run_the_rendered_authorization_with_every_password_from_the_secret() -> None:
    objs = render("component/nats")
    conf = config_map(objs, "spillway-nats-authorization")["authorization.conf"]
    assert conf == render_authorization({u.name: "$" + password_variable(u.name) for u in USERS})
    (sts,) = of_kind(objs, "StatefulSet")
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    env = env_of(container)
    for user in USERS:
        assert env[password_variable(user.name)] == {"secretKeyRef": {"name": CREDENTIALS, "key": user.name}}
    main = config_map(objs, "spillway-nats-config")["nats.conf"]
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    include = next(line.split('"')[1] for line in main.splitlines() if line.startswith("include "))
    assert os.path.normpath(os.path.join(mounts["config"], include)) == f"{mounts['authorization']}/authorization.conf"
    assert main.count(f"{mounts['tls']}/tls.crt") == 2  # clients and routes
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == NATS_TLS


def test_the_committed_authorization_is_what_the_table_renders() -> None:
    committed = (Path(__file__).resolve().parents[2] / "k8s/components/nats/authorization.conf").read_text()
    assert committed == render_authorization({u.name: "$" + password_variable(u.name) for u in USERS})


@pytest.fixture
def deployed_server(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """A nats-server on the sandbox overlay's rendered files, laid out as the pod mounts them."""
    objs = render("overlays/sandbox")
    (secret,) = [s for s in of_kind(objs, "Secret") if s["metadata"]["name"] == CREDENTIALS]
    passwords = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    main = config_map(objs, "spillway-nats-single-config")["nats.conf"]
    auth = config_map(objs, "spillway-nats-authorization")["authorization.conf"]
    root = tmp_path / "etc"
    for folder in ("nats", "nats-auth", "nats-tls"):
        (root / folder).mkdir(parents=True)
    cert, key = self_signed("spillway-nats", ["127.0.0.1", "spillway-nats.spillway.svc"])
    (root / "nats-tls" / "tls.crt").write_bytes(cert)
    (root / "nats-tls" / "tls.key").write_bytes(key)
    (root / "nats-auth" / "authorization.conf").write_text(auth)
    main = main.replace("/etc/nats-tls/", f"{root}/nats-tls/").replace("/data/", f"{tmp_path}/data/")
    main = main.replace("pid_file: /tmp/", f"pid_file: {tmp_path}/")
    (root / "nats" / "nats.conf").write_text(main)
    port, monitor = free_port(), free_port()
    env = {**os.environ, "SERVER_NAME": "spillway-nats-0",
           **{password_variable(user): password for user, password in passwords.items()}}
    proc = subprocess.Popen([find_binary(), "-c", str(root / "nats" / "nats.conf"), "-a", "127.0.0.1",
                             "-p", str(port), "-m", str(monitor), "-l", str(tmp_path / "nats.log")],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, (tmp_path / "nats.log").read_text(errors="replace")[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the deployed nats.conf never became healthy"
                time.sleep(0.05)
        yield f"tls://127.0.0.1:{port}", root / "nats-tls" / "tls.crt", passwords
    finally:
        proc.terminate()
        proc.wait(10)


async def test_the_deployed_server_admits_each_service_on_its_own_password_and_nobody_else(
    deployed_server: tuple[str, Path, dict[str, str]],
) -> None:
    url, ca, passwords = deployed_server
    admin = await Bus.connect(url, service="setup", user=ADMIN, password=Secret(passwords[ADMIN]), ca_file=str(ca),
                              max_reconnect_attempts=1)
    try:
        await admin.ensure()  # what the set-up Job does
    finally:
        await admin.close(drain=False)
    for service in SERVICES:
        bus = await Bus.connect(url, service=service, user=service, password=Secret(passwords[service]),
                                ca_file=str(ca), max_reconnect_attempts=1)
        try:
            await bus.wait_for_setup()
        finally:
            await bus.close(drain=False)
    watcher = await Bus.connect(url, service="watcher", user="watcher", password=Secret(passwords["watcher"]),
                                ca_file=str(ca), max_reconnect_attempts=1)
    try:
        assert await watcher.kv_put(m.KV_PODS, "default/web-0", b"{}") >= 1  # its own bucket
    finally:
        await watcher.close(drain=False)
    for user, password in ((None, None), ("watcher", passwords["placement"]), ("placement", "guess")):
        options = connect_options(user or "", Secret(password) if password else None, str(ca))
        with pytest.raises((nats.errors.Error, OSError)):
            nc = await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2, **options)
            await nc.close()
