"""The bus over TLS: a service given the server's CA connects, verifies the server and works; a
client without the CA, or trusting another CA, is turned away before any password is sent."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import pytest

from spillway.bus import Bus
from spillway.bus.client import connect_options
from spillway.bus.permissions import render_authorization
from spillway.config import ConfigError, Secret, parse_config
from spillway.model import messages as m
from spillway.natsserver import NatsServer
from spillway.runtime.tls import self_signed


def write_pair(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = self_signed(name, ["127.0.0.1", "localhost"])
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(cert)
    key_file.write_bytes(key)
    return cert_file, key_file


@pytest.fixture
def tls_server(tmp_path: Path, nats_passwords: dict[str, str]) -> Iterator[tuple[NatsServer, Path]]:
    cert_file, key_file = write_pair(tmp_path, "spillway-nats")
    server = NatsServer(store_dir=tmp_path / "nats", authorization=render_authorization(nats_passwords),
                        tls=(cert_file, key_file))
    server.start()
    try:
        yield server, cert_file
    finally:
        server.stop()


async def test_a_service_with_the_ca_connects_over_tls_and_works(
    tls_server: tuple[NatsServer, Path], nats_passwords: dict[str, str],
) -> None:
    server, ca = tls_server
    admin = await Bus.connect(server.url, service="setup", user="admin", password=Secret(nats_passwords["admin"]),
                              ca_file=str(ca), max_reconnect_attempts=1)
    try:
        await admin.ensure()
        watcher = await Bus.connect(server.url, service="watcher", user="watcher",
                                    password=Secret(nats_passwords["watcher"]), ca_file=str(ca),
                                    max_reconnect_attempts=1)
        try:
            revision = await watcher.kv_put(m.KV_PODS, "default/web-0", b"{}")
            assert revision >= 1
        finally:
            await watcher.close(drain=False)
    finally:
        await admin.close(drain=False)


@pytest.mark.parametrize("trust", ["nothing", "another-ca"])
async def test_a_client_that_cannot_verify_the_server_is_turned_away(
    tls_server: tuple[NatsServer, Path], nats_passwords: dict[str, str], tmp_path: Path, trust: str,
) -> None:
    server, _ = tls_server
    ca_file = "" if trust == "nothing" else str(write_pair(tmp_path, "impostor-ca")[0])
    options = connect_options("watcher", Secret(nats_passwords["watcher"]), ca_file)
    with pytest.raises((nats.errors.Error, ssl.SSLError, OSError)):
        nc = await nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2,
                                **options)
        await nc.close()


def test_a_ca_file_that_does_not_exist_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nats\.caFile"):
        parse_config({"nats": {"caFile": str(tmp_path / "missing.crt")}}, env={})
    with pytest.raises(ConfigError, match=r"nats\.caFile"):
        parse_config({}, env={"SPILLWAY_NATS_CA_FILE": str(tmp_path / "missing.crt")})
    ca = write_pair(tmp_path, "ca")[0]
    assert parse_config({}, env={"SPILLWAY_NATS_CA_FILE": str(ca)}).nats.ca_file == str(ca)
