"""What the cloud-provisioner tells users quotes hostile values cut short: a resolv.conf
annotation line of 100 000 characters, a cloud error that echoes a huge value. The advice that
follows the quote always survives."""

from __future__ import annotations

from typing import Any

from spillway.bus import Bus
from spillway.cloud import InstanceNaming
from spillway.emulator.faults import ErrorRule
from spillway.emulator.server import Emulator
from spillway.kube import KubeClient
from spillway.model.kube import ANNOTATION_RESOLV_CONF
from spillway.sandbox import Sandbox
from tests.fixtures.eventually import eventually
from tests.services.cloud_provisioner.conftest import RunProvisioner
from tests.services.cloud_provisioner.harness import announce, create_and_bind, get_pod, pod_body
from tests.services.cloud_provisioner.test_failures import failed


async def warnings_on(kube: KubeClient, name: str, reason: str) -> list[str]:
    events = await kube.get_as("/api/v1/namespaces/default/events", dict[str, Any])
    return [e["message"] for e in events["items"]
            if e["involvedObject"]["name"] == name and e["reason"] == reason]


async def test_a_huge_resolv_conf_line_is_quoted_cut(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, run_provisioner: RunProvisioner,
    naming: InstanceNaming,
) -> None:
    line = "bogus" + "x" * 100_000
    body = pod_body("dns")
    body["metadata"]["annotations"] = {ANNOTATION_RESOLV_CONF: line}
    async with run_provisioner():
        pod = await create_and_bind(sandbox, kube, body)
        await announce(bus, pod)
        [message] = await eventually(lambda: warnings_on(kube, "dns", "TranslationWarning"),
                                     what="a TranslationWarning")
        await eventually(lambda: emulator.state.count_by_name(naming.name(pod.metadata.uid)),
                         what="the pod's instance created all the same")
    assert f"({len(line)} characters)" in message and "unknown keyword" in message
    assert len(message) < 400


async def test_a_cloud_error_echoing_a_huge_value_keeps_the_advice(
    sandbox: Sandbox, kube: KubeClient, bus: Bus, emulator: Emulator, run_provisioner: RunProvisioner,
) -> None:
    echoed = "The SecurityGroupId `" + "sg-" * 3000 + "` is malformed."
    emulator.faults.errors = [ErrorRule(code="InvalidParameterValue", rate=1.0, action="CreateEKSContainerInstances",
                                        message=echoed)]
    async with run_provisioner():
        pod = await create_and_bind(sandbox, kube, pod_body("echo"))
        await announce(bus, pod)
        done = await eventually(lambda: failed(kube, "echo"), what="the pod Failed")
        [event] = await eventually(lambda: warnings_on(kube, "echo", "ProvisioningFailed"),
                                   what="a ProvisioningFailed event")
    for text in (done.status.message or "", event):
        assert "InvalidParameterValue: The SecurityGroupId `sg-sg-" in text
        assert "fix the pod spec" in text and len(text) <= 400
    assert (await get_pod(kube, "echo")).status.reason == "InstanceCreateFailed"
