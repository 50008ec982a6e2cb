"""`spillway status`: what it shows from the API and the bus, as the read-only bus user; how it says
a part could not be read; its exit statuses."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from spillway.bus import Bus
from spillway.bus.permissions import READER
from spillway.cli import status
from spillway.config import Prices
from spillway.kube import KubeClient
from spillway.kube.client import collection_path
from spillway.model import messages as m
from spillway.model.kube import LABEL_INSTANCE_TYPE, LABEL_TOPOLOGY_ZONE, PLACEMENT_GATE, SUPER_NODE_INSTANCE_TYPE
from spillway.natsserver import NatsServer, free_port
from spillway.sandbox import Sandbox
from spillway.telemetry.fleet import GIB

PRICES = Prices(vcpu_hour=0.2, memory_gib_hour=0.05, currency="EUR")
POD_COST = 0.25 * 0.2 + 0.5 * 0.05


def node(name: str, *, zone: str = "", super_node: bool = False) -> dict[str, Any]:
    labels = {LABEL_TOPOLOGY_ZONE: zone} if zone else {}
    if super_node:
        labels[LABEL_INSTANCE_TYPE] = SUPER_NODE_INSTANCE_TYPE
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "status": {"capacity": {"pods": "500", "cpu": "64", "memory": "256Gi"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def web_pod(index: int, node_name: str = "", gated: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx", "resources": {
        "requests": {"cpu": "250m", "memory": "256Mi"}}}]}
    if node_name:
        spec["nodeName"] = node_name
    if gated:
        spec["schedulingGates"] = [{"name": PLACEMENT_GATE}]
    return {"apiVersion": "v1", "kind": "Pod", "spec": spec, "metadata": {
        "name": f"web-7d9c-{index}", "labels": {"app": "web", "pod-template-hash": "7d9c"},
        "annotations": {"LOCAL_REPLICAS": "1", "AUTO_SCALE_EKS": "true"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9c", "uid": "rs-uid",
                             "controller": True}]}}


async def populate(sandbox: Sandbox, bus: Bus) -> None:
    kube = await KubeClient.connect(str(sandbox.kubeconfig_path))
    try:
        for body in (node("idc-1"), node("eklet-subnet-a", zone="zone-a", super_node=True),
                     node("eklet-subnet-b", zone="zone-b", super_node=True)):
            await kube.request("POST", collection_path("v1", "nodes"), body=body)
        await kube.request("POST", collection_path("apps/v1", "replicasets", "default"), body={
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
                "name": "web-7d9c", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                                         "uid": "dep-uid", "controller": True}]},
            "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}})
        for body in (web_pod(1, "idc-1"), web_pod(2, "eklet-subnet-a"), web_pod(3, "eklet-subnet-a"),
                     web_pod(4, gated=True)):
            await kube.request("POST", collection_path("v1", "pods", "default"), body=body)
    finally:
        await kube.close()
    zones = await bus.typed_kv(m.KV_ZONES, m.ZoneCooldown)
    now = time.time()
    await zones.put("zone-b", m.ZoneCooldown(zone="zone-b", until=now + 300, reason="ResourceInsufficient.SoldOut"))
    await zones.put("zone-a", m.ZoneCooldown(zone="zone-a", until=now - 10, reason="ResourceInsufficient.SoldOut"))
    await bus.publish(m.InstanceEvent(namespace="default", name="web-7d9c-9", uid="u9", status="failed",
                                      node="eklet-subnet-b", reason="ZoneSoldOut", request_id="req-1",
                                      observed_at=now))
    await bus.publish(m.ZoneCooldown(zone="zone-b", until=now + 300, reason="ResourceInsufficient.SoldOut"))
    await bus.publish(m.DeadLetter(service="cloud-provisioner", subject=m.POD_BOUND, error="undecodable: bad",
                                   payload="{", consumer="cloud-provisioner-on_bound"))
    await bus.publish(m.PlacementDecision(namespace="default", name="web-7d9c-2", uid="u2", workload="w",
                                          outcome="cloud"))  # not a failure


async def test_the_snapshot_counts_the_cluster_and_reads_the_bus_as_the_reader(
        sandbox: Sandbox, bus: Bus, nats_process: NatsServer, nats_passwords: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    await populate(sandbox, bus)
    monkeypatch.setenv("SPILLWAY_NATS_PASSWORD", nats_passwords[READER])
    sources = status.Sources(str(sandbox.kubeconfig_path), nats_process.url, READER, "")
    try:
        snap = await status.snapshot(sources, PRICES, "test prices", 3600.0)
    finally:
        await sources.close()
    assert snap.problems == []
    out = status.as_json(snap)
    (web,) = out["workloads"]
    assert (web["kind"], web["namespace"], web["name"]) == ("Deployment", "default", "web")  # through the ReplicaSet
    assert (web["local"], web["cloud"], web["pending"], web["localReplicas"]) == (1, 2, 1, 1)
    assert web["cpuCores"] == 0.5 and web["memoryBytes"] == GIB
    assert out["costPerHour"] == pytest.approx(2 * POD_COST)
    assert [(n["name"], n["pods"], n["zone"], n["ready"]) for n in out["superNodes"]] == [
        ("eklet-subnet-a", 2, "zone-a", True), ("eklet-subnet-b", 0, "zone-b", True)]
    assert out["awaitingDecision"]["pods"] == 1
    assert [z["zone"] for z in out["zonesInCooldown"]] == ["zone-b"]  # zone-a's cool-down is over
    assert [(f["kind"], f["what"], f["reason"]) for f in out["failures"]] == [
        ("instance", "default/web-7d9c-9", "ZoneSoldOut"), ("zone", "zone-b", "ResourceInsufficient.SoldOut"),
        ("dead-letter", "cloud-provisioner-on_bound", "undecodable")]
    assert out["failures"][2]["detail"] == f"{m.POD_BOUND}: bad"
    text = status.render(snap)
    for expected in ("default/Deployment/web", "eklet-subnet-a", "zone-b", "ZoneSoldOut", "EUR/hour",
                     f"{m.POD_BOUND}: bad", "1 pod(s) waiting"):
        assert expected in text, expected


async def test_a_busy_window_is_narrowed_until_its_failures_fit(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    for i in range(5):
        await bus.publish(m.InstanceEvent(namespace="default", name=f"p{i}", uid=f"u{i}", status="failed",
                                          reason=f"R{i}", observed_at=now))
    failures, window = await status.read_failures(bus, 3600.0, now + 100.0)  # as if they were 100 s old
    assert window == 3600.0 and [f.reason for f in failures] == ["R0", "R1", "R2", "R3", "R4"]
    monkeypatch.setattr(status, "FAILURES_READ_MAX", 3)
    failures, window = await status.read_failures(bus, 3600.0, now + 100.0)
    assert (failures, window) == ([], 36.0)  # 5 in the last hour and in the last 6 minutes: too many to read


async def test_parts_that_cannot_be_read_are_shown_as_unknown(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}],
        "users": [{"name": "dead", "user": {"token": "t"}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "dead"}}]}))
    nats_url = f"nats://127.0.0.1:{free_port()}"
    sources = status.Sources(str(kubeconfig), nats_url, "", "")
    try:
        snap = await status.snapshot(sources, PRICES, "test prices", 60.0)
    finally:
        await sources.close()
    assert snap.fleet is None and snap.cooldowns is None and snap.failures is None
    assert sorted(p.split(": ")[0] for p in snap.problems) == ["Kubernetes API", f"bus {nats_url}"]
    text = status.render(snap)
    assert text.count("unknown (") == 4 and "PROBLEMS" in text


def test_an_invalid_price_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("cloud:\n  prices:\n    vcpuHour: -1\n")
    assert status.main(["--config", str(config)]) == 2
    assert "cloud.prices.vcpuHour: must be a finite number >= 0" in capsys.readouterr().err


async def test_the_command_prints_json_and_exits_0_reading_the_cluster_and_the_bus(
        sandbox: Sandbox, bus: Bus, nats_process: NatsServer, nats_passwords: dict[str, str], tmp_path: Path) -> None:
    await populate(sandbox, bus)
    config = tmp_path / "config.yaml"
    config.write_text("cloud:\n  prices: {vcpuHour: 0.2, memoryGiBHour: 0.05, currency: EUR}\n")
    env = os.environ | {"KUBECONFIG": str(sandbox.kubeconfig_path), "NATS_URL": nats_process.url,
                        "SPILLWAY_NATS_USER": READER, "SPILLWAY_NATS_PASSWORD": nats_passwords[READER],
                        "SPILLWAY_CONFIG": str(config)}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "spillway.cli", "status", "--json", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    found = msgspec.json.decode(out)
    assert found["prices"]["source"] == f"prices from {config}"
    assert found["costPerHour"] == pytest.approx(2 * POD_COST) and found["problems"] == []
