"""Event names kube-apiserver accepts for any object name, and an Event the server refuses that
is logged instead of raised into the caller. Against the sandbox over HTTP (and a least-privilege
client of an RBAC sandbox for a refusal)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from spillway.kube import KubeClient, pod_path
from spillway.kube.client import collection_path
from spillway.kube.events import MAX_NAME_LENGTH, EventRecorder, ObjectRef
from spillway.model.kube import decode_pod
from tests.fixtures.sandbox import SandboxFactory

SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def valid(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and SUBDOMAIN.fullmatch(name) is not None


def test_an_ordinary_name_keeps_its_client_go_shape() -> None:
    name = EventRecorder.event_name(ObjectRef("Pod", "default", "web-1", "uid-1"), "BurstToCloud", "m")
    assert re.fullmatch(r"web-1\.[0-9a-f]{10}", name)


@pytest.mark.parametrize(
    "object_name",
    [
        pytest.param("a" * 253, id="253 characters"),
        pytest.param("a" * 242, id="242 characters, one over with the suffix"),
        pytest.param(("x" * 62 + ".") * 4, id="long dotted, cut lands on a dot"),
        pytest.param("w" * 235 + "-" * 18, id="cut lands on dashes"),
        pytest.param("vttablet-{{uid}}", id="not a DNS subdomain"),
        pytest.param("Web_1", id="upper case and underscore"),
        pytest.param("{{}}", id="nothing usable"),
        pytest.param("é" * 100_000, id="huge and non-ASCII"),
    ],
)
def test_every_object_name_gives_a_valid_event_name(object_name: str) -> None:
    name = EventRecorder.event_name(ObjectRef("Pod", "default", object_name, "uid-1"), "Reason", "message")
    assert valid(name), name


def test_long_names_stay_unique_and_readable() -> None:
    common = "job-" + "a" * 260
    first = EventRecorder.event_name(ObjectRef("Pod", "ns", common + "-1"), "R", "m")
    second = EventRecorder.event_name(ObjectRef("Pod", "ns", common + "-2"), "R", "m")
    assert first != second and first.startswith("job-aaaa") and valid(first) and valid(second)
    again = EventRecorder.event_name(ObjectRef("Pod", "ns", common + "-1"), "R", "m")
    assert again == first  # deterministic: a redelivery counts the same Event
    assert EventRecorder.event_name(ObjectRef("Pod", "ns", common + "-1"), "R", "other") != first


async def test_a_pod_with_the_longest_name_gets_its_events(kube: KubeClient) -> None:
    name = "p" * 253
    await kube.request("POST", collection_path("v1", "pods", "default"), body={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    pod = decode_pod(await kube.request("GET", pod_path("default", name)))
    recorder = EventRecorder(kube, "spillway-test")
    ref = ObjectRef("Pod", "default", name, pod.metadata.uid)
    assert await recorder.record(ref, "Warning", "TranslationWarning", "dropped") is True
    assert await recorder.record(ref, "Warning", "TranslationWarning", "dropped") is True
    events = await kube.get_as(collection_path("v1", "events", "default"), dict[str, Any])
    mine = [e for e in events["items"] if e["involvedObject"]["name"] == name]
    assert [(e["count"], valid(e["metadata"]["name"])) for e in mine] == [(2, True)]


async def test_a_refused_event_is_logged_not_raised(
    make_sandbox: SandboxFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sb = await make_sandbox(rbac=True)
    config = sb.write_kubeconfig(tmp_path / "sa.kc", sb.token_for("default", "nobody"), "nobody")
    client = await KubeClient.connect(str(config))
    try:
        recorder = EventRecorder(client, "spillway-test")
        with caplog.at_level(logging.WARNING, logger="spillway.kube.events"):
            recorded = await recorder.record(ObjectRef("Pod", "default", "web-1", "uid-1"), "Normal", "R", "m")
    finally:
        await client.close()
    assert recorded is False
    refused = [r for r in caplog.records if r.getMessage() == "event refused by the API server"]
    assert [(getattr(r, "status", None), getattr(r, "object", None)) for r in refused] == [(403, "Pod/default/web-1")]
